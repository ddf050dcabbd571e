"""Monitoring: alarms that page, container logs, Airflow metrics and a dashboard.

Creates:
- an SNS alarm topic encrypted with the stack's KMS key (whose policy lets
  CloudWatch alarms use it), a topic policy that admits CloudWatch alarms of
  this account only and refuses publishing without TLS, one email
  subscription per configured address and an optional HTTPS one;
- the StatsD sink for Airflow's metrics: one CloudWatch agent (a Deployment
  and its Service in the ``monitoring`` namespace, the "single agent as a
  service" layout AWS documents) with its own IRSA role, which may put metrics
  into this stack's namespace only;
- container logs: the EKS ``amazon-cloudwatch-observability`` add-on with its
  own IRSA role (not the node role), Fluent Bit shipping every container's
  stdout (Airflow components and task pods) to one pre-created, KMS-encrypted
  log group with the stack's retention; its dataplane and host pipelines and
  Container Insights metrics are off (cost);
- a metric filter on that group for the Cluster Autoscaler's "max node group
  size reached";
- alarms (every one with the topic as alarm and OK action, every description
  saying what to do first) and a dashboard.

Airflow sends plain StatsD (no tags) and only the allow-listed names
(``AIRFLOW_METRICS``): each becomes exactly one CloudWatch metric, so the
custom-metric bill has a fixed ceiling. ``tests/dags/test_metrics.py`` runs
real Airflow and checks that it emits every one of these names.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.config import MonitoringConfig
from components.iam import Condition, Principal, Statement, policy_document
from components.irsa import IrsaRole, IrsaRoleArgs

STATSD_PREFIX = "airflow"
STATSD_PORT = 8125
METRICS_K8S_NAMESPACE = "monitoring"
STATSD_SERVICE = "statsd"
# The allow-list: StatsD name (without the prefix) -> StatsD type. Alarms and
# the dashboard use these and nothing else. A literal, so that the DAG tests
# (another environment, no Pulumi) read it without importing this module.
AIRFLOW_METRICS = {
    "scheduler_heartbeat": "c",
    "dag_processor_heartbeat": "c",
    "dag_processing.import_errors": "g",
    "dag_processing.total_parse_time": "g",
    "ti_failures": "c",
    "executor.queued_tasks": "g",
    "executor.running_tasks": "g",
    "executor.open_slots": "g",
}
# ``[metrics] metrics_allow_list``: Airflow splits it on commas and keeps a
# name when an entry matches it (re.findall); one anchored regex of exactly the
# names above. A literal too; tests check it admits these names and no other.
METRICS_ALLOW_LIST = (r"^(scheduler_heartbeat|dag_processor_heartbeat|dag_processing\.import_errors"
                      r"|dag_processing\.total_parse_time|ti_failures"
                      r"|executor\.(queued_tasks|running_tasks|open_slots))$")
# The CloudWatch agent's StatsD input adds this dimension (counter, gauge, timing).
_METRIC_TYPES = {"c": "counter", "g": "gauge", "ms": "timing"}
# amazon-cloudwatch-agent 1.300062.0: a multi-arch image (the system nodes are Graviton).
CLOUDWATCH_AGENT_IMAGE = "public.ecr.aws/cloudwatch-agent/cloudwatch-agent:1.300062.0b1304"
LOGS_ADDON = "amazon-cloudwatch-observability"
LOGS_SERVICE_ACCOUNT = ("amazon-cloudwatch", "cloudwatch-agent")
CEILING_PATTERN = '"max node group size reached"'
CEILING_METRIC = "cluster_autoscaler_max_node_group_size_reached"
GiB = 1024 ** 3


def cloudwatch_metric(statsd_name: str) -> tuple[str, dict[str, str]]:
    """(CloudWatch metric name, dimensions) of an allow-listed StatsD name, as the
    CloudWatch agent's StatsD input publishes it: dots become ``_`` (its
    metric_separator), the prefix stays, and the only dimension is metric_type
    (the agent runs with omit_hostname, Airflow sends no tags)."""
    kind = AIRFLOW_METRICS[statsd_name]
    return (f"{STATSD_PREFIX}.{statsd_name}".replace(".", "_"),
            {"metric_type": _METRIC_TYPES[kind]})


def airflow_env(*, topic_arn: pulumi.Input[str]) -> dict[str, pulumi.Input[str]]:
    """What every Airflow container (task pods too) needs: StatsD to the agent,
    only the allow-listed names, no tags; and the alarm topic as a Variable."""
    return {
        "AIRFLOW__METRICS__STATSD_ON": "True",
        "AIRFLOW__METRICS__STATSD_HOST": f"{STATSD_SERVICE}.{METRICS_K8S_NAMESPACE}.svc.cluster.local",
        "AIRFLOW__METRICS__STATSD_PORT": str(STATSD_PORT),
        "AIRFLOW__METRICS__STATSD_PREFIX": STATSD_PREFIX,
        "AIRFLOW__METRICS__METRICS_ALLOW_LIST": METRICS_ALLOW_LIST,
        "AIRFLOW__METRICS__STATSD_DATADOG_ENABLED": "False",
        "AIRFLOW__METRICS__STATSD_INFLUXDB_ENABLED": "False",
        "AIRFLOW_VAR_ALERTS_TOPIC_ARN": topic_arn,
    }


def rds_connection_threshold(instance_class: str) -> int:
    """80% of RDS PostgreSQL's default max_connections,
    LEAST(DBInstanceClassMemory / 9531392, 5000), with ~15% of memory reserved."""
    memory_gib = {"micro": 1, "small": 2, "medium": 4, "large": 8, "xlarge": 16,
                  "2xlarge": 32, "4xlarge": 64}.get(instance_class.rsplit(".", 1)[-1], 8)
    return int(min(memory_gib * GiB * 0.85 / 9531392, 5000) * 0.8)


@dataclass(frozen=True, kw_only=True)
class AlarmSpec:
    """One alarm, before it is bound to resources."""

    suffix: str
    """Child name suffix and alarm name suffix."""
    description: str
    """What happened and what to do first."""
    namespace: str
    """CloudWatch namespace."""
    metric: str
    """Metric name."""
    dimensions: Mapping[str, pulumi.Input[str]]
    """Metric dimensions."""
    statistic: str
    """Sum, Minimum, Maximum, Average."""
    comparison: str
    """CloudWatch comparison operator."""
    threshold: float
    """Threshold."""
    period: int = 300
    """Seconds per datapoint."""
    evaluation_periods: int = 1
    """Datapoints that must breach."""
    treat_missing_data: str = "notBreaching"
    """``breaching`` for heartbeats: no data is the failure."""


@dataclass(frozen=True, kw_only=True)
class MonitoringArgs:
    """Inputs of :class:`Monitoring`."""

    settings: MonitoringConfig
    """Validated recipients and retention."""
    topic_name: str
    """Name of the alarm topic (fixed, so that its ARN is known before it exists)."""
    stack: str
    """Stack name, for names and the metrics namespace."""
    region: str
    """AWS region."""
    account_id: pulumi.Input[str]
    """This account (aws:SourceAccount of the alarms)."""
    partition: pulumi.Input[str]
    """AWS partition."""
    kms_key_arn: pulumi.Input[str]
    """Key of the topic and the log group."""
    cluster_name: pulumi.Input[str]
    """EKS cluster (an Output of the cluster, so the add-on waits for it)."""
    container_log_group_name: str
    """``/aws/containerinsights/<cluster>/application``, where the add-on's Fluent Bit writes."""
    metrics_namespace: str
    """CloudWatch namespace of Airflow's metrics, e.g. ``airflow-eks/dev``."""
    provider: k8s.Provider
    """Kubernetes provider of the cluster."""
    oidc_provider_arn: pulumi.Input[str]
    """Cluster OIDC provider, for the agents' IRSA roles."""
    oidc_provider_url: pulumi.Input[str]
    """Its issuer URL."""
    node_selector: dict[str, str]
    """Where the StatsD agent runs (the system nodes)."""
    database_identifier: str | None
    """RDS instance of the RDS alarms and widgets; None for the in-cluster dev
    database (``database.engine: inCluster``), which has no RDS metrics."""
    database_instance_class: str
    """Its class, for the connections threshold."""
    database_allocated_storage_gib: int
    """Its initial storage, for the free-storage threshold (10%)."""
    alb_arn_suffix: pulumi.Input[str] | None = None
    """The UI's ALB (``app/<name>/<id>``) when the UI is exposed; None: no ALB alarm."""
    protect: bool = False
    """Production: protect the log group."""


class Monitoring(pulumi.ComponentResource):
    """SNS alarm topic, StatsD agent, container logs, alarms and a dashboard."""

    topic_arn: pulumi.Output[str]
    """ARN of the alarm topic (also ``AIRFLOW_VAR_ALERTS_TOPIC_ARN``)."""
    dashboard_name: pulumi.Output[str]
    """Name of the stack's CloudWatch dashboard."""

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("airflow-eks:index:Monitoring", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        k8s_child = pulumi.ResourceOptions(parent=self, provider=args.provider)

        topic = aws.sns.Topic(f"{name}-alerts", name=args.topic_name, kms_master_key_id=args.kms_key_arn,
                              opts=child)
        alarms_of_this_account = pulumi.Output.concat(
            "arn:", args.partition, ":cloudwatch:", args.region, ":", args.account_id, ":alarm:*")
        aws.sns.TopicPolicy(f"{name}-alerts-policy", arn=topic.arn, opts=child, policy=policy_document([
            Statement(sid="CloudWatchAlarmsOfThisAccount", actions=["sns:Publish"],
                      resources=[topic.arn],
                      principals=[Principal(type="Service", identifiers=["cloudwatch.amazonaws.com"])],
                      conditions=[
                          Condition(test="ArnLike", variable="aws:SourceArn", values=[alarms_of_this_account]),
                          Condition(test="StringEquals", variable="aws:SourceAccount",
                                    values=[args.account_id])]),
            Statement(sid="DenyInsecureTransport", effect="Deny", actions=["sns:Publish"],
                      resources=[topic.arn], principals=[Principal(type="*", identifiers=["*"])],
                      conditions=[Condition(test="Bool", variable="aws:SecureTransport",
                                            values=["false"])]),
        ], parent=self).json)
        for email in args.settings.alert_emails:
            aws.sns.TopicSubscription(f"{name}-email-{email}", topic=topic.arn, protocol="email",
                                      endpoint=email, opts=child)
        if args.settings.https_endpoint is not None:
            aws.sns.TopicSubscription(f"{name}-https", topic=topic.arn, protocol="https",
                                      endpoint=args.settings.https_endpoint, opts=child)

        self._statsd_agent(name, args, k8s_child)
        log_group = self._container_logs(name, args)

        ceiling_filter = aws.cloudwatch.LogMetricFilter(
            f"{name}-node-group-ceiling", log_group_name=log_group.name, pattern=CEILING_PATTERN,
            metric_transformation=aws.cloudwatch.LogMetricFilterMetricTransformationArgs(
                name=CEILING_METRIC, namespace=args.metrics_namespace, value="1", default_value="0"),
            opts=child)

        for spec in alarm_specs(args):
            aws.cloudwatch.MetricAlarm(
                f"{name}-{spec.suffix}",
                name=f"airflow-eks-{args.stack}-{spec.suffix}",
                alarm_description=spec.description,
                namespace=spec.namespace, metric_name=spec.metric, dimensions=dict(spec.dimensions),
                statistic=spec.statistic, comparison_operator=spec.comparison,
                threshold=spec.threshold, period=spec.period,
                evaluation_periods=spec.evaluation_periods, datapoints_to_alarm=spec.evaluation_periods,
                treat_missing_data=spec.treat_missing_data,
                alarm_actions=[topic.arn], ok_actions=[topic.arn],
                opts=pulumi.ResourceOptions(parent=self, depends_on=[ceiling_filter]),
            )

        self.dashboard_name = pulumi.Output.from_input("")
        if args.settings.dashboard:
            dashboard = aws.cloudwatch.Dashboard(
                f"{name}-dashboard", dashboard_name=f"airflow-eks-{args.stack}",
                dashboard_body=pulumi.Output.from_input(args.alb_arn_suffix).apply(
                    lambda alb: json.dumps(dashboard_body(args, alb), sort_keys=True)),
                opts=child)
            self.dashboard_name = dashboard.dashboard_name

        self.topic_arn = topic.arn
        self.register_outputs({"topicArn": self.topic_arn, "dashboardName": self.dashboard_name})

    def _statsd_agent(self, name: str, args: MonitoringArgs, k8s_child: pulumi.ResourceOptions) -> None:
        role = IrsaRole(f"{name}-statsd", IrsaRoleArgs(
            oidc_provider_arn=args.oidc_provider_arn, oidc_provider_url=args.oidc_provider_url,
            namespace=METRICS_K8S_NAMESPACE, service_account=STATSD_SERVICE,
            # PutMetricData has no resource ARN; the namespace condition is its scope.
            statements=[Statement(sid="PutAirflowMetrics", actions=["cloudwatch:PutMetricData"],
                                  resources=["*"],
                                  conditions=[Condition(test="StringEquals", variable="cloudwatch:namespace",
                                                        values=[args.metrics_namespace])])],
        ), opts=pulumi.ResourceOptions(parent=self))
        namespace = k8s.core.v1.Namespace(
            f"{name}-namespace", opts=k8s_child,
            metadata=k8s.meta.v1.ObjectMetaArgs(name=METRICS_K8S_NAMESPACE, labels={
                "pod-security.kubernetes.io/enforce": "baseline",
                "pod-security.kubernetes.io/warn": "restricted"}))
        in_ns = pulumi.ResourceOptions(parent=self, provider=args.provider, depends_on=[namespace])
        labels = {"app.kubernetes.io/name": STATSD_SERVICE}
        agent_config = json.dumps(statsd_agent_config(args.metrics_namespace), indent=2, sort_keys=True)
        k8s.core.v1.ServiceAccount(f"{name}-statsd-sa", opts=in_ns, metadata=k8s.meta.v1.ObjectMetaArgs(
            name=STATSD_SERVICE, namespace=METRICS_K8S_NAMESPACE,
            annotations={"eks.amazonaws.com/role-arn": role.arn}))
        config = k8s.core.v1.ConfigMap(
            f"{name}-statsd-config", opts=in_ns,
            metadata=k8s.meta.v1.ObjectMetaArgs(name="statsd-cwagent", namespace=METRICS_K8S_NAMESPACE),
            data={"cwagentconfig.json": agent_config})
        k8s.apps.v1.Deployment(
            f"{name}-statsd", opts=in_ns,
            metadata=k8s.meta.v1.ObjectMetaArgs(name=STATSD_SERVICE, namespace=METRICS_K8S_NAMESPACE,
                                                labels=labels),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                # One agent aggregates the cluster's StatsD: one series per metric.
                replicas=1,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels, annotations={
                        # Rolls the pod when the agent's config changes.
                        "airflow-eks/config-sha256": hashlib.sha256(agent_config.encode()).hexdigest()}),
                    spec=k8s.core.v1.PodSpecArgs(
                        service_account_name=STATSD_SERVICE,
                        node_selector=args.node_selector,
                        containers=[k8s.core.v1.ContainerArgs(
                            name="cloudwatch-agent", image=CLOUDWATCH_AGENT_IMAGE,
                            ports=[k8s.core.v1.ContainerPortArgs(name="statsd", container_port=STATSD_PORT,
                                                                 protocol="UDP")],
                            env=[k8s.core.v1.EnvVarArgs(name="AWS_REGION", value=args.region),
                                 k8s.core.v1.EnvVarArgs(name="RUN_WITH_IRSA", value="True")],
                            resources=k8s.core.v1.ResourceRequirementsArgs(
                                requests={"cpu": "50m", "memory": "64Mi"}, limits={"memory": "256Mi"}),
                            security_context=k8s.core.v1.SecurityContextArgs(
                                allow_privilege_escalation=False,
                                capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
                                seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault")),
                            volume_mounts=[k8s.core.v1.VolumeMountArgs(
                                name="config", mount_path="/etc/cwagentconfig", read_only=True)],
                        )],
                        volumes=[k8s.core.v1.VolumeArgs(
                            name="config", config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(
                                name=config.metadata.name))],
                    ),
                ),
            ),
        )
        k8s.core.v1.Service(
            f"{name}-statsd-service", opts=in_ns,
            metadata=k8s.meta.v1.ObjectMetaArgs(name=STATSD_SERVICE, namespace=METRICS_K8S_NAMESPACE),
            spec=k8s.core.v1.ServiceSpecArgs(selector=labels, ports=[k8s.core.v1.ServicePortArgs(
                name="statsd", port=STATSD_PORT, target_port=STATSD_PORT, protocol="UDP")]))

    def _container_logs(self, name: str, args: MonitoringArgs) -> aws.cloudwatch.LogGroup:
        # Pre-created: KMS, retention, protection; Fluent Bit only writes to it.
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-containers", name=args.container_log_group_name,
            retention_in_days=args.settings.log_retention_days, kms_key_id=args.kms_key_arn,
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect))
        role = IrsaRole(f"{name}-container-logs", IrsaRoleArgs(
            oidc_provider_arn=args.oidc_provider_arn, oidc_provider_url=args.oidc_provider_url,
            namespace=LOGS_SERVICE_ACCOUNT[0], service_account=LOGS_SERVICE_ACCOUNT[1],
            statements=[Statement(
                sid="ShipContainerLogs",
                # CreateLogGroup only on this name: Fluent Bit's auto_create_group
                # asks for it and gets "already exists"; no other group appears.
                actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents",
                         "logs:DescribeLogStreams"],
                resources=[log_group.arn, pulumi.Output.concat(log_group.arn, ":log-stream:*")])],
        ), opts=pulumi.ResourceOptions(parent=self))
        aws.eks.Addon(
            f"{name}-container-logs", cluster_name=args.cluster_name, addon_name=LOGS_ADDON,
            service_account_role_arn=role.arn,
            configuration_values=json.dumps(LOGS_ADDON_CONFIGURATION, sort_keys=True),
            resolve_conflicts_on_create="OVERWRITE", resolve_conflicts_on_update="OVERWRITE",
            opts=pulumi.ResourceOptions(parent=self, depends_on=[log_group]))
        return log_group


# Fluent Bit ships container stdout (application-log.conf); the dataplane and
# host pipelines are replaced by a comment, the add-on's supported way to turn
# one off. The agent gets a config without Container Insights (billed per
# observation) and without StatsD (the Deployment above is the sink).
LOGS_ADDON_CONFIGURATION: dict[str, Any] = {
    "containerLogs": {"enabled": True, "fluentBit": {"config": {"extraFiles": {
        "dataplane-log.conf": "# off: airflow-eks ships container logs only\n",
        "host-log.conf": "# off: airflow-eks ships container logs only\n",
    }}}},
    "agent": {"config": {"agent": {"omit_hostname": True},
                         "logs": {"metrics_collected": {"emf": {}}}}},
}


def statsd_agent_config(namespace: str) -> dict[str, Any]:
    """CloudWatch agent config: StatsD in, one minute aggregates out, no host dimension."""
    return {
        "agent": {"omit_hostname": True},
        "metrics": {
            "namespace": namespace,
            "metrics_collected": {"statsd": {
                "service_address": f":{STATSD_PORT}",
                "metrics_collection_interval": 60,
                "metrics_aggregation_interval": 60,
            }},
        },
    }


def alarm_specs(args: MonitoringArgs) -> list[AlarmSpec]:
    """Every alarm of the stack, with what to do first."""
    ns = args.metrics_namespace

    def airflow(statsd_name: str) -> dict[str, Any]:
        metric, dims = cloudwatch_metric(statsd_name)
        return {"namespace": ns, "metric": metric, "dimensions": dims}

    specs = [
        AlarmSpec(suffix="scheduler-heartbeat-missing", **airflow("scheduler_heartbeat"),
                  statistic="Sum", comparison="LessThanThreshold", threshold=1, period=60,
                  evaluation_periods=5, treat_missing_data="breaching",
                  description="No scheduler heartbeat for 5 minutes: nothing is being scheduled. First: "
                              "kubectl -n airflow get pods -l component=scheduler, then "
                              "kubectl -n airflow logs deploy/airflow-scheduler --tail=200; a database "
                              "error there points at RDS (see the RDS alarms) or pgbouncer."),
        AlarmSpec(suffix="dag-processor-not-parsing", **airflow("dag_processor_heartbeat"),
                  statistic="Sum", comparison="LessThanThreshold", threshold=1, period=60,
                  evaluation_periods=10, treat_missing_data="breaching",
                  description="The DAG processor has not heartbeaten for 10 minutes: DAG changes are not "
                              "being picked up. First: kubectl -n airflow get pods -l component=dag-processor "
                              "and its logs (git-sync container too: a failing clone stops parsing)."),
        AlarmSpec(suffix="dag-import-errors", **airflow("dag_processing.import_errors"),
                  statistic="Maximum", comparison="GreaterThanThreshold", threshold=0,
                  description="A DAG file fails to import, so its DAG is not scheduled. First: the UI's "
                              "import errors banner (or `airflow dags list-import-errors`) names the file and "
                              "traceback; fix it in the DAG repository."),
        AlarmSpec(suffix="task-failures", **airflow("ti_failures"),
                  statistic="Sum", comparison="GreaterThanThreshold", threshold=0,
                  description="A task failed after its retries. First: the failure notice on this topic "
                              "names DAG, task, try and log link; else the UI, Browse > Task Instances, "
                              "state failed."),
        AlarmSpec(suffix="tasks-queued-too-long", **airflow("executor.queued_tasks"),
                  statistic="Minimum", comparison="GreaterThanThreshold", threshold=0,
                  evaluation_periods=3,
                  description="Tasks have stayed queued for 15 minutes. First: kubectl -n airflow get pods "
                              "--field-selector=status.phase=Pending and describe one: 'max node group size "
                              "reached' means the tasks node group is at its ceiling (raise "
                              "cluster.nodeGroups.tasks.maxSize); else read the cluster autoscaler's logs."),
        AlarmSpec(suffix="node-group-at-ceiling", namespace=ns, metric=CEILING_METRIC, dimensions={},
                  statistic="Sum", comparison="GreaterThanThreshold", threshold=0,
                  description="The cluster autoscaler could not add a node: a node group is at its maximum. "
                              "First: kubectl -n kube-system logs deploy/cluster-autoscaler | grep 'max node "
                              "group size' names the group; raise its maxSize in the stack config, or find "
                              "what fills it (kubectl get pods -A -o wide)."),
    ]
    if args.database_identifier is not None:
        db = {"DBInstanceIdentifier": args.database_identifier}
        specs += [
            AlarmSpec(suffix="rds-cpu", namespace="AWS/RDS", metric="CPUUtilization", dimensions=db,
                      statistic="Average", comparison="GreaterThanThreshold", threshold=80,
                      evaluation_periods=3,
                      description="The metadata database has been above 80% CPU for 15 minutes. First: "
                                  "Performance Insights (RDS console) shows the top SQL; a scheduler loop or a "
                                  "DAG querying the metadata DB is the usual cause; else a larger "
                                  "database.instanceClass."),
            AlarmSpec(suffix="rds-free-storage", namespace="AWS/RDS", metric="FreeStorageSpace",
                      dimensions=db, statistic="Minimum", comparison="LessThanThreshold",
                      threshold=max(1, args.database_allocated_storage_gib // 10) * GiB,
                      description="The metadata database has less than 10% of its initial storage free. First: "
                                  "check storage autoscaling has headroom (database.maxAllocatedStorageGiB), then "
                                  "clean old metadata with `airflow db clean`."),
            AlarmSpec(suffix="rds-connections", namespace="AWS/RDS", metric="DatabaseConnections",
                      dimensions=db, statistic="Maximum", comparison="GreaterThanThreshold",
                      threshold=rds_connection_threshold(args.database_instance_class), evaluation_periods=2,
                      description="The metadata database is near its connection limit (80% of max_connections). "
                                  "First: something bypasses pgbouncer or its pools grew: check pgbouncer's "
                                  "SHOW POOLS and pg_stat_activity by client address."),
        ]
    if args.alb_arn_suffix is not None:
        specs.append(AlarmSpec(
            suffix="alb-5xx", namespace="AWS/ApplicationELB", metric="HTTPCode_Target_5XX_Count",
            dimensions={"LoadBalancer": args.alb_arn_suffix}, statistic="Sum",
            comparison="GreaterThanThreshold", threshold=5,
            description="The UI answered more than 5 server errors in 5 minutes. First: "
                        "kubectl -n airflow logs deploy/airflow-api-server --tail=200."))
    return specs


def dashboard_body(args: MonitoringArgs, alb_arn_suffix: str | None) -> dict[str, Any]:
    """The stack's dashboard: Airflow health, RDS load, nodes, and the ALB when present."""
    ns, region = args.metrics_namespace, args.region

    def airflow(statsd_name: str, stat: str, label: str) -> list[Any]:
        metric, dims = cloudwatch_metric(statsd_name)
        return [ns, metric, *[x for kv in sorted(dims.items()) for x in kv], {"stat": stat, "label": label}]

    def widget(title: str, metrics: list[list[Any]], y: int, x: int) -> dict[str, Any]:
        return {"type": "metric", "x": x, "y": y, "width": 12, "height": 6, "properties": {
            "title": title, "region": region, "view": "timeSeries", "period": 300, "metrics": metrics}}

    db = ["DBInstanceIdentifier", args.database_identifier]
    widgets = [
        widget("Scheduler and DAG processor heartbeats",
               [airflow("scheduler_heartbeat", "Sum", "scheduler"),
                airflow("dag_processor_heartbeat", "Sum", "dag processor")], 0, 0),
        widget("Tasks: running, queued, open slots",
               [airflow("executor.running_tasks", "Maximum", "running"),
                airflow("executor.queued_tasks", "Maximum", "queued"),
                airflow("executor.open_slots", "Minimum", "open slots")], 0, 12),
        widget("Task failures and DAG import errors",
               [airflow("ti_failures", "Sum", "task failures"),
                airflow("dag_processing.import_errors", "Maximum", "import errors")], 6, 0),
        widget("DAG parse time (s)", [airflow("dag_processing.total_parse_time", "Maximum", "parse time")],
               6, 12),
        {"type": "metric", "x": 0, "y": 18, "width": 24, "height": 6, "properties": {
            "title": "Nodes per node group (Auto Scaling group metrics)", "region": region,
            "view": "timeSeries", "period": 300,
            "metrics": [[{"expression": (
                "SEARCH('{AWS/AutoScaling,AutoScalingGroupName} MetricName=\"GroupInServiceInstances\" "
                f"airflow-eks-{args.stack}', 'Average', 300)"), "id": "nodes", "label": ""}]]}},
    ]
    if args.database_identifier is not None:
        widgets += [
            widget("RDS load", [["AWS/RDS", "CPUUtilization", *db, {"stat": "Average"}],
                                ["AWS/RDS", "DatabaseConnections", *db, {"stat": "Maximum", "yAxis": "right"}]],
                   12, 0),
            widget("RDS free storage (bytes)", [["AWS/RDS", "FreeStorageSpace", *db, {"stat": "Minimum"}]], 12, 12),
        ]
    if alb_arn_suffix:
        widgets.append(widget("UI load balancer", [
            ["AWS/ApplicationELB", "RequestCount", "LoadBalancer", alb_arn_suffix, {"stat": "Sum"}],
            ["AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", "LoadBalancer", alb_arn_suffix,
             {"stat": "Sum", "yAxis": "right"}]], 24, 0))
    return {"widgets": widgets}
