"""The whole program, per stack, under the recording engine."""

from __future__ import annotations

import fnmatch

import pytest

from plan.engine import ACCOUNT, MOCK_SECRET_PREFIX, Secret, walk
from tests.conftest import policy_of, statements

STACKS = ["dev", "prod"]
EXPORTS = {"clusterName", "kubeconfig", "oidcProviderArn", "vpcId", "privateSubnetIds",
           "publicSubnetIds", "kubectlSetupCommand", "databaseEndpoint", "logsBucket", "dataBucket",
           "portForwardCommand", "uiUrl", "dagsRepo", "dagsRevision", "airflowAdminUsername",
           "airflowAdminPassword", "connectionsPrefix", "variablesPrefix", "accessLogsBucket",
           "alertsTopicArn", "dashboardName"}


@pytest.mark.parametrize("stack", STACKS)
def test_program_evaluates_and_exports(engine, stack):
    rec = engine.program(stack)
    assert rec.error is None and len(rec.resources) > 80
    assert set(rec.exports) == EXPORTS
    assert rec.exports["clusterName"] == f"airflow-eks-{stack}"
    assert rec.exports["kubectlSetupCommand"] == (
        f"aws eks update-kubeconfig --region us-east-1 --name airflow-eks-{stack}")
    assert rec.exports["portForwardCommand"] == "kubectl -n airflow port-forward svc/airflow-api-server 8080:8080"
    assert isinstance(rec.exports["kubeconfig"], Secret)
    assert isinstance(rec.exports["airflowAdminPassword"], Secret)
    assert not isinstance(rec.exports["databaseEndpoint"], Secret)


@pytest.mark.parametrize("stack", STACKS)
def test_no_generated_secret_is_plaintext_anywhere(engine, stack):
    rec = engine.program(stack)
    leaks = [f"{r.name}.{path}" for r in rec.resources for path, value, secret in walk(r.inputs)
             if isinstance(value, str) and MOCK_SECRET_PREFIX in value and not secret]
    leaks += [k for k, v in rec.exports.items()
              if not isinstance(v, Secret) and MOCK_SECRET_PREFIX in str(v)]
    assert not leaks
    # and the secrets really flow somewhere (the check above is not vacuous)
    assert any(MOCK_SECRET_PREFIX in str(v) for r in rec.resources for _, v, s in walk(r.inputs) if s)


@pytest.mark.parametrize("stack", STACKS)
def test_rds_is_built_in_parallel_with_eks(engine, stack):
    # dev runs its database in the cluster; with rds it takes the same path as prod.
    rec = engine.program(stack, {"airflow-eks:database.engine": "rds", "airflow-eks:database.allocatedStorageGiB": 20} if stack == "dev" else None)
    db = rec.one("aws:rds/instance:Instance")
    eks = rec.one("eks:index:Cluster")
    assert eks.urn not in rec.ancestors_and_deps(db)
    rule = rec.one("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
    assert rule.plain_inputs["referencedSecurityGroupId"] == eks.outputs["clusterSecurityGroupId"]


def test_stateful_resources_protected_in_production_only(engine):
    stateful = ("aws:rds/instance:Instance", "aws:kms/key:Key", "aws:s3/bucket:Bucket",
                "aws:cloudwatch/logGroup:LogGroup", "eks:index:Cluster")
    for stack, expected in (("prod", True), ("dev", False)):
        rec = engine.program(stack)
        for typ in stateful:
            assert all(r.protect is expected for r in rec.of_type(typ)), (stack, typ)


def test_every_child_is_named_after_its_component(engine):
    rec = engine.program("dev")
    index = rec.by_urn()
    for r in rec.resources:
        parent = index.get(r.parent)
        if parent is not None and parent.type.startswith("airflow-eks:index:"):
            assert r.name.startswith(parent.name + "-"), (parent.name, r.name)


@pytest.mark.parametrize("stack", STACKS)
def test_key_serves_exactly_this_stacks_log_groups(engine, stack):
    rec = engine.program(stack)
    (grant,) = [s for s in statements(policy_of(rec.one("aws:kms/key:Key")))
                if s.get("Sid") == "CloudWatchLogs"]
    patterns = grant["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]
    groups = [f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:{g.plain_inputs['name']}"
              for g in rec.of_type("aws:cloudwatch/logGroup:LogGroup")]
    assert len(groups) >= 3
    # every group can use the key, and every pattern is one of this stack's groups
    assert [g for g in groups if not any(fnmatch.fnmatchcase(g, p) for p in patterns)] == []
    assert [p for p in patterns if not any(fnmatch.fnmatchcase(g, p) for g in groups)] == []
    assert all(f"airflow-eks-{stack}" in p or f"/airflow-eks/{stack}/" in p for p in patterns)


@pytest.mark.parametrize("stack", STACKS)
def test_both_buckets_send_server_access_logs(engine, stack):
    rec = engine.program(stack)
    buckets = {b.plain_inputs["tags"]["airflow-eks/purpose"]: b for b in rec.of_type("aws:s3/bucket:Bucket")}
    assert {"logs", "data", "access-logs"} <= set(buckets)
    logging = {r.plain_inputs["bucket"]: r.plain_inputs["targetBucket"]
               for r in rec.of_type("aws:s3/bucketLogging:BucketLogging")}
    target = buckets["access-logs"].outputs["bucket"]
    assert logging == {buckets["logs"].outputs["bucket"]: target, buckets["data"].outputs["bucket"]: target}
    assert rec.exports["accessLogsBucket"] == target


def test_account_partition_and_region_are_looked_up_once_and_passed_down():
    """STYLE 3: __main__.py asks AWS for the account and partition once (and
    takes the region from the config); components take them as args, so no
    component invokes these lookups, each a call per component on every run."""
    import re

    from tests.conftest import ROOT
    lookups = re.compile(r"\bget_(caller_identity|partition|region)(_output)?\(")
    found = {p.name: lookups.findall(p.read_text()) for p in sorted((ROOT / "components").glob("*.py"))}
    assert {name: calls for name, calls in found.items() if calls} == {}
    assert len(lookups.findall((ROOT / "__main__.py").read_text())) == 2
