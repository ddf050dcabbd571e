"""EmrServerless: a capped, auto-stopping arm64 Spark application; a job role
scoped to its prefixes; task pods that may run jobs there and nowhere else."""

from __future__ import annotations

import json

import pytest

from components.config import ConfigError
from tests.conftest import policy_of, statements

P = "airflow-eks:"
ON = {P + "emrServerless.enabled": True}


def by_sid(doc):
    return {s["Sid"]: s for s in statements(doc)}


def as_list(value):
    return value if isinstance(value, list) else [value]


def test_off_by_default_builds_nothing(engine):
    rec = engine.program("dev")
    assert not rec.of_type("aws:emrserverless/application:Application")
    assert "emrServerlessApplicationId" not in rec.exports
    worker = next(r for r in rec.of_type("aws:iam/rolePolicy:RolePolicy") if "-worker-" in r.name)
    assert "emr-serverless" not in json.dumps(policy_of(worker))


def test_application_is_capped_arm64_and_stops_when_idle(engine):
    rec = engine.program("dev", ON)
    app = rec.one("aws:emrserverless/application:Application").plain_inputs
    assert app["type"] == "spark" and app["releaseLabel"] == "emr-7.12.0"
    assert app["architecture"] == "ARM64"
    assert app["autoStartConfiguration"] == {"enabled": True}
    assert app["autoStopConfiguration"] == {"enabled": True, "idleTimeoutMinutes": 5}
    assert app["maximumCapacity"] == {"cpu": "16 vCPU", "memory": "64 GB"}
    assert "initialCapacities" not in app  # no pre-initialised workers: idle cost zero
    net = app["networkConfiguration"]
    assert net["subnetIds"] == ["subnet-private-0", "subnet-private-1"]
    logs = app["monitoringConfiguration"]["s3MonitoringConfiguration"]
    assert logs["logUri"] == f"s3://{rec.exports['logsBucket']}/emr-serverless/"
    assert logs["encryptionKeyArn"].startswith("arn:aws:kms:")
    assert rec.exports["emrServerlessApplicationId"] == "airflow-eks-dev-spark-app-id"


def test_workers_have_https_egress_only(engine):
    rec = engine.program("dev", ON)
    sg = rec.one("aws:ec2/securityGroup:SecurityGroup", "spark-sg").plain_inputs
    assert not sg.get("ingress") and not sg.get("egress")
    rules = [r for r in rec.of_type("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")
             if "spark" in r.name]
    assert [(r.plain_inputs["fromPort"], r.plain_inputs["toPort"]) for r in rules] == [(443, 443)]
    assert not [r for r in rec.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
                if "spark" in r.name]


def test_job_role_reads_and_writes_only_its_prefixes(engine):
    rec = engine.program("dev", ON)
    data, logs = rec.exports["dataBucket"], rec.exports["logsBucket"]
    trust = statements(policy_of(rec.one("aws:iam/role:Role", "spark-job-role"), "assumeRolePolicy"))
    assert as_list(trust[0]["Principal"]["Service"]) == ["emr-serverless.amazonaws.com"]
    assert as_list(trust[0]["Condition"]["ArnEquals"]["aws:SourceArn"]) == [
        "arn:aws:emr-serverless:us-east-1:123456789012:/applications/airflow-eks-dev-spark-app-id"]
    s = by_sid(policy_of(rec.one("aws:iam/rolePolicy:RolePolicy", "spark-job-policy")))
    assert set(as_list(s["ReadInputsAndScripts"]["Resource"])) == {
        f"arn:aws:s3:::{data}/silver/stackexchange/*", f"arn:aws:s3:::{data}/spark/code/*"}
    assert as_list(s["WriteOutputs"]["Resource"]) == [f"arn:aws:s3:::{data}/spark/output/*"]
    assert "s3:PutObject" not in as_list(s["ReadInputsAndScripts"]["Action"])
    assert as_list(s["WriteOwnLogs"]["Resource"]) == [f"arn:aws:s3:::{logs}/emr-serverless/*"]
    assert set(as_list(s["ListJobPrefixes"]["Condition"]["StringLike"]["s3:prefix"])) == {
        "silver/stackexchange/*", "spark/code/*", "spark/output/*"}
    assert as_list(s["UseBucketKeyThroughS3"]["Condition"]["StringEquals"]["kms:ViaService"]) == [
        "s3.us-east-1.amazonaws.com"]
    for st in s.values():
        assert "*" not in as_list(st["Resource"])


def test_task_pods_run_jobs_on_this_application_only(engine):
    rec = engine.program("dev", ON)
    app = "arn:aws:emr-serverless:us-east-1:123456789012:/applications/airflow-eks-dev-spark-app-id"
    role = rec.exports["emrServerlessExecutionRoleArn"]
    s = by_sid(policy_of(rec.one("aws:iam/rolePolicy:RolePolicy", "airflow-worker-policy")))
    assert set(as_list(s["EmrServerlessJobRuns"]["Action"])) == {
        "emr-serverless:StartJobRun", "emr-serverless:GetJobRun", "emr-serverless:CancelJobRun"}
    assert set(as_list(s["EmrServerlessJobRuns"]["Resource"])) == {app, f"{app}/jobruns/*"}
    assert as_list(s["EmrServerlessApplication"]["Resource"]) == [app]
    assert as_list(s["PassJobExecutionRole"]["Resource"]) == [role]
    assert as_list(s["PassJobExecutionRole"]["Condition"]["StringEquals"]["iam:PassedToService"]) == [
        "emr-serverless.amazonaws.com"]
    # Only the task pods: the scheduler, API server, ... get nothing of it.
    others = [r for r in rec.of_type("aws:iam/rolePolicy:RolePolicy")
              if r.name.startswith("airflow-eks-dev-airflow-") and "-worker-" not in r.name]
    assert others and all("emr-serverless" not in json.dumps(policy_of(r)) for r in others)
    env = {e["name"]: e.get("value") for e in rec.one(
        "kubernetes:helm.sh/v3:Release", "airflow-release").plain_inputs["values"]["env"]}
    assert env["AIRFLOW_VAR_EMR_SERVERLESS_APPLICATION_ID"] == "airflow-eks-dev-spark-app-id"
    assert env["AIRFLOW_VAR_EMR_SERVERLESS_EXECUTION_ROLE_ARN"] == role


@pytest.mark.parametrize("key,value,message", [
    ("emrServerless.releaseLabel", "emr-6.15.0", "7.0.0 or later"),
    ("emrServerless.releaseLabel", "latest", "pinned EMR release"),
    ("emrServerless.maxVcpu", 0, "from 1 to 400"),
    ("emrServerless.maxMemoryGiB", 200, "2 to 8 GiB per vCPU"),
    ("emrServerless.idleTimeoutMinutes", 0, "from 1 to 60"),
    ("emrServerless.readPrefixes", ["/abs/"], "no leading /"),
    ("emrServerless.readPrefixes", ["silver/*"], "no leading /"),
    ("emrServerless.readPrefixes", ["silver"], "ending with /"),
    ("emrServerless.writePrefixes", ["spark/"], "must not write its own code"),
    ("emrServerless.writePrefixes", [], "at least one prefix"),
])
def test_bad_values_stop_before_any_resource(engine, key, value, message):
    rec = engine.failing_program("dev", {**ON, P + key: value})
    assert isinstance(rec.error, ConfigError)
    assert P + key in str(rec.error) and message in str(rec.error)
    assert not rec.resources


def test_children_are_named_after_the_component_and_exported(engine):
    rec = engine.program("prod", ON)
    (component,) = rec.of_type("airflow-eks:index:EmrServerless")
    children = [r for r in rec.resources if r.parent == component.urn]
    assert len(children) == 5
    assert all(r.name.startswith(component.name + "-") for r in children)
    assert {"emrServerlessApplicationId", "emrServerlessExecutionRoleArn"} <= set(rec.exports)
