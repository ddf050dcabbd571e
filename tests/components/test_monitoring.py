"""Monitoring: an encrypted topic that alarms can reach, alarms that all page,
container logs over IRSA, a bounded StatsD pipeline, a dashboard."""

from __future__ import annotations

import json

import pytest

from components.monitoring import (
    AIRFLOW_METRICS,
    CEILING_METRIC,
    CLOUDWATCH_AGENT_IMAGE,
    METRICS_ALLOW_LIST,
    Monitoring,
    MonitoringArgs,
    cloudwatch_metric,
)
from plan.engine import Secret
from tests.conftest import policy_of, statements

P = "airflow-eks:"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/k"
AIRFLOW_NAMES = {cloudwatch_metric(n)[0] for n in AIRFLOW_METRICS}
EXPECTED_ALARMS = {"scheduler-heartbeat-missing", "dag-processor-not-parsing", "dag-import-errors",
                   "task-failures", "tasks-queued-too-long", "node-group-at-ceiling"}
RDS_ALARMS = {"rds-cpu", "rds-free-storage", "rds-connections"}


def topic_arn(rec):
    return rec.one("aws:sns/topic:Topic").outputs["arn"]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_alarm_pages_and_says_what_to_do_first(engine, stack):
    rec = engine.program(stack)
    alarms = rec.of_type(ALARM)
    # prod's UI is behind an internal ALB (ui.exposure internal), dev's is port-forwarded
    # prod's metadata DB is RDS; dev's is in the cluster and has no RDS metrics
    expected = EXPECTED_ALARMS | ({"alb-5xx"} | RDS_ALARMS if stack == "prod" else set())
    assert {a.plain_inputs["name"].removeprefix(f"airflow-eks-{stack}-") for a in alarms} == expected
    for alarm in alarms:
        i = alarm.plain_inputs
        assert i["alarmActions"] == [topic_arn(rec)] and i["okActions"] == [topic_arn(rec)], i["name"]
        assert "First:" in i["alarmDescription"], i["name"]
        assert i["datapointsToAlarm"] == i["evaluationPeriods"]


def test_heartbeat_alarms_treat_silence_as_failure(engine):
    alarms = {a.plain_inputs["name"]: a.plain_inputs for a in engine.program("dev").of_type(ALARM)}
    for name in ("scheduler-heartbeat-missing", "dag-processor-not-parsing"):
        assert alarms[f"airflow-eks-dev-{name}"]["treatMissingData"] == "breaching"
    assert alarms["airflow-eks-dev-task-failures"]["treatMissingData"] == "notBreaching"


def test_airflow_alarms_and_dashboard_use_only_allow_listed_metrics(engine):
    rec = engine.program("dev", {"airflow-eks:monitoring.dashboard": True})
    ns = "airflow-eks/dev"
    used = set()
    for alarm in rec.of_type(ALARM):
        i = alarm.plain_inputs
        if i["namespace"] == ns:
            used.add(i["metricName"])
            if i["metricName"] != CEILING_METRIC:
                kind = next(k for n, k in AIRFLOW_METRICS.items() if cloudwatch_metric(n)[0] == i["metricName"])
                assert i["dimensions"] == {"metric_type": {"c": "counter", "g": "gauge"}[kind]}
    body = json.loads(rec.one("aws:cloudwatch/dashboard:Dashboard").plain_inputs["dashboardBody"])
    for widget in body["widgets"]:
        for metric in widget["properties"]["metrics"]:
            if metric[0] == ns:
                used.add(metric[1])
                assert metric[2:4] == ["metric_type", cloudwatch_metric(
                    next(n for n in AIRFLOW_METRICS if cloudwatch_metric(n)[0] == metric[1]))[1]["metric_type"]]
    assert used - {CEILING_METRIC} == AIRFLOW_NAMES  # every allow-listed name is used, nothing else
    titles = " ".join(w["properties"]["title"] for w in body["widgets"])
    for needed in ("heartbeat", "queued", "failures", "parse time", "Nodes"):
        assert needed in titles


def test_the_allow_list_admits_exactly_the_used_names():
    import re
    assert "," not in METRICS_ALLOW_LIST  # Airflow would split it
    assert all(re.findall(METRICS_ALLOW_LIST, name) for name in AIRFLOW_METRICS)
    for other in ("executor.queued_tasks.KubernetesExecutor", "ti.finish", "dag_processing.last_duration",
                  "scheduler_heartbeats", "dagrun.duration.failed.my_dag"):
        assert not re.findall(METRICS_ALLOW_LIST, other), other


def test_cloudwatch_names_follow_the_agents_statsd_translation():
    assert cloudwatch_metric("dag_processing.import_errors") == (
        "airflow_dag_processing_import_errors", {"metric_type": "gauge"})
    assert cloudwatch_metric("scheduler_heartbeat") == ("airflow_scheduler_heartbeat", {"metric_type": "counter"})


def test_topic_is_encrypted_and_only_this_accounts_alarms_publish(engine):
    rec = engine.program("dev")
    topic = rec.one("aws:sns/topic:Topic")
    key = rec.one("aws:kms/key:Key")
    assert topic.plain_inputs["kmsMasterKeyId"] == key.outputs["arn"]
    allow, deny = statements(policy_of(rec.one("aws:sns/topicPolicy:TopicPolicy")))
    assert allow["Principal"] == {"Service": ["cloudwatch.amazonaws.com"]} and allow["Action"] == ["sns:Publish"]
    assert allow["Condition"] == {
        "ArnLike": {"aws:SourceArn": ["arn:aws:cloudwatch:us-east-1:123456789012:alarm:*"]},
        "StringEquals": {"aws:SourceAccount": ["123456789012"]}}
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": ["false"]}}
    # An encrypted topic takes alarms only if the key lets CloudWatch use it.
    (grant,) = [s for s in statements(policy_of(key)) if s.get("Sid") == "CloudWatchAlarmsToEncryptedTopic"]
    assert grant["Principal"] == {"Service": ["cloudwatch.amazonaws.com"]}
    assert set(grant["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}


def test_subscriptions_from_config(engine):
    endpoint = "https://events.example.com/integration/0123456789abcdef"
    rec = engine.program("dev", {P + "monitoring.alertEmails": ["a@example.com", "b@example.org"],
                                 P + "monitoring.httpsEndpoint": endpoint},
                         secret_keys=(P + "monitoring.httpsEndpoint",))
    subs = {(s.plain_inputs["protocol"], s.plain_inputs["endpoint"]): s
            for s in rec.of_type("aws:sns/topicSubscription:TopicSubscription")}
    assert set(subs) == {("email", "a@example.com"), ("email", "b@example.org"), ("https", endpoint)}
    assert all(s.plain_inputs["topic"] == topic_arn(rec) for s in subs.values())
    assert isinstance(subs[("https", endpoint)].inputs["endpoint"], Secret)
    assert not engine.program("dev").of_type("aws:sns/topicSubscription:TopicSubscription")
    (prod,) = engine.program("prod").of_type("aws:sns/topicSubscription:TopicSubscription")
    assert prod.plain_inputs["endpoint"] == "platform-oncall@example.com"


@pytest.mark.parametrize("stack,retention", [("dev", 14), ("prod", 90)])
def test_container_logs_encrypted_retained_and_shipped_over_irsa(engine, stack, retention):
    rec = engine.program(stack)
    group = rec.one("aws:cloudwatch/logGroup:LogGroup", "-containers")
    assert group.plain_inputs["name"] == f"/aws/containerinsights/airflow-eks-{stack}/application"
    assert group.plain_inputs["kmsKeyId"] == rec.one("aws:kms/key:Key").outputs["arn"]
    assert group.plain_inputs["retentionInDays"] == retention and group.protect is (stack == "prod")
    addon = rec.one("aws:eks/addon:Addon", "container-logs").plain_inputs
    assert addon["addonName"] == "amazon-cloudwatch-observability"
    role = rec.one("aws:iam/role:Role", "container-logs-role")
    assert addon["serviceAccountRoleArn"] == role.outputs["arn"]
    (trust,) = statements(policy_of(role, "assumeRolePolicy"))
    assert [v for k, v in trust["Condition"]["StringEquals"].items() if k.endswith(":sub")] == [
        ["system:serviceaccount:amazon-cloudwatch:cloudwatch-agent"]]
    (ship,) = statements(policy_of(rec.one("aws:iam/rolePolicy:RolePolicy", "container-logs-policy")))
    arn = f"arn:aws:logs:us-east-1:123456789012:log-group:{group.plain_inputs['name']}"
    assert ship["Resource"] == [arn, f"{arn}:log-stream:*"]
    config = json.loads(addon["configurationValues"])
    assert config["containerLogs"]["enabled"] is True
    # no Container Insights metrics (billed per observation): the agent collects none
    assert "kubernetes" not in json.dumps(config["agent"])


def test_statsd_agent_puts_only_into_the_stacks_namespace(engine):
    rec = engine.program("dev")
    (put,) = statements(policy_of(rec.one("aws:iam/rolePolicy:RolePolicy", "statsd-policy")))
    assert put["Action"] == ["cloudwatch:PutMetricData"]
    assert put["Condition"] == {"StringEquals": {"cloudwatch:namespace": ["airflow-eks/dev"]}}
    sa = rec.one("kubernetes:core/v1:ServiceAccount", "statsd-sa").plain_inputs
    assert sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] == \
        rec.one("aws:iam/role:Role", "statsd-role").outputs["arn"]
    deploy = rec.one("kubernetes:apps/v1:Deployment", "statsd").plain_inputs
    (container,) = deploy["spec"]["template"]["spec"]["containers"]
    assert container["image"] == CLOUDWATCH_AGENT_IMAGE and ":latest" not in CLOUDWATCH_AGENT_IMAGE
    assert deploy["spec"]["replicas"] == 1
    config = json.loads(rec.one("kubernetes:core/v1:ConfigMap", "statsd-config").plain_inputs["data"][
        "cwagentconfig.json"])
    assert config["agent"]["omit_hostname"] is True
    assert config["metrics"]["namespace"] == "airflow-eks/dev"
    svc = rec.one("kubernetes:core/v1:Service", "statsd-service").plain_inputs
    assert svc["spec"]["ports"][0]["protocol"] == "UDP" and svc["spec"]["ports"][0]["port"] == 8125


def test_airflow_sends_allow_listed_statsd_and_knows_the_topic(engine):
    rec = engine.program("dev")
    values = rec.one("kubernetes:helm.sh/v3:Release", "airflow-release").plain_inputs["values"]
    env = {e["name"]: e.get("value") for e in values["env"]}
    assert env["AIRFLOW__METRICS__STATSD_ON"] == "True"
    assert env["AIRFLOW__METRICS__STATSD_HOST"] == "statsd.monitoring.svc.cluster.local"
    assert env["AIRFLOW__METRICS__STATSD_PREFIX"] == "airflow"
    assert env["AIRFLOW__METRICS__METRICS_ALLOW_LIST"] == METRICS_ALLOW_LIST
    assert env["AIRFLOW__METRICS__STATSD_DATADOG_ENABLED"] == "False"
    assert env["AIRFLOW_VAR_ALERTS_TOPIC_ARN"] == topic_arn(rec) == rec.exports["alertsTopicArn"]
    publish = [s for s in statements(policy_of(rec.one("aws:iam/rolePolicy:RolePolicy", "worker-policy")))
               if s.get("Sid") == "PublishFailureNotices"]
    assert publish and publish[0]["Resource"] == [topic_arn(rec)]


def test_node_group_ceiling_is_read_from_the_autoscalers_log(engine):
    rec = engine.program("dev")
    f = rec.one("aws:cloudwatch/logMetricFilter:LogMetricFilter").plain_inputs
    assert f["pattern"] == '"max node group size reached"'
    assert f["logGroupName"] == "/aws/containerinsights/airflow-eks-dev/application"
    assert f["metricTransformation"]["name"] == CEILING_METRIC


def test_alb_alarm_and_widget_only_when_the_ui_has_one(engine):
    from tests.components import fake_cluster
    cfg = engine.stack_config("dev", {"airflow-eks:monitoring.dashboard": True})

    def fn():
        Monitoring("m", MonitoringArgs(
            settings=cfg.monitoring, topic_name="t", stack="dev", region="us-east-1",
            kms_key_arn=KEY_ARN, cluster_name="airflow-eks-dev",
            container_log_group_name="/aws/containerinsights/airflow-eks-dev/application",
            metrics_namespace="airflow-eks/dev", **fake_cluster.system_addon(),
            database_identifier="db", database_instance_class="db.t4g.micro",
            database_allocated_storage_gib=20, alb_arn_suffix="app/ui/0123"))
    rec = engine.build(fn)
    alb = rec.one(ALARM, "alb-5xx").plain_inputs
    assert alb["dimensions"] == {"LoadBalancer": "app/ui/0123"} and alb["alarmActions"]
    body = json.loads(rec.one("aws:cloudwatch/dashboard:Dashboard").plain_inputs["dashboardBody"])
    assert any("load balancer" in w["properties"]["title"] for w in body["widgets"])
    assert not [a for a in engine.program("dev").of_type(ALARM) if "alb" in a.name]
    prod = engine.program("prod")
    (alb,) = [a for a in prod.of_type(ALARM) if a.name.endswith("alb-5xx")]
    assert alb.plain_inputs["dimensions"]["LoadBalancer"].startswith("app/airflow-eks-prod")


def test_dev_goes_without_a_dashboard_and_prod_has_one(engine):
    assert engine.program("dev").of_type("aws:cloudwatch/dashboard:Dashboard") == []
    assert engine.program("dev").exports["dashboardName"] == ""
    engine.program("prod").one("aws:cloudwatch/dashboard:Dashboard")
