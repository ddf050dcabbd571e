"""policy/guardrails.py: each policy passes a compliant resource and reports a
violating one; the real program, for both stacks, passes them all.

The policies are called the way the analyzer calls them (ResourceValidationArgs
and StackValidationArgs), without PolicyPack, whose constructor starts a server.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import subprocess
import sys
from typing import Any

import pytest
from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError, unknown_checking_proxy

from tests.conftest import ROOT

# As the analyzer runs the pack: policy/ first on sys.path (runpy.run_path of
# the folder), so that guardrails.py finds cidr_rules.py.
sys.path.insert(0, str(ROOT / "policy"))
_spec = importlib.util.spec_from_file_location("guardrails", ROOT / "policy" / "guardrails.py")
assert _spec and _spec.loader
guardrails = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(guardrails)

POLICIES = {p.name: p for p in guardrails.POLICIES}
CONFIG = {"productionStacks": ["prod"]}
OIDC = "oidc.eks.us-east-1.amazonaws.com/id/ABC"


def options(protect: bool = False) -> PolicyResourceOptions:
    return PolicyResourceOptions(protect=protect, ignore_changes=[], delete_before_replace=None,
                                 aliases=[], custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
                                 additional_secret_outputs=[])


def urn(type_: str, name: str, stack: str = "dev") -> str:
    return f"urn:pulumi:{stack}::airflow-eks::{type_}::{name}"


def resource_violations(policy: str, type_: str, props: dict[str, Any], *, stack: str = "dev",
                        protect: bool = False) -> list[str]:
    found: list[str] = []
    validation = POLICIES[policy]
    assert isinstance(validation, ResourceValidationPolicy)
    # Props reach a policy wrapped as the analyzer wraps them: lists and maps
    # are Sequence/Mapping proxies that raise on values unknown in a preview.
    args = ResourceValidationArgs(type_, unknown_checking_proxy(props), urn(type_, "r", stack), "r",
                                  options(protect), None, CONFIG)
    validation.validate(args, lambda message, urn=None: found.append(message))  # type: ignore[misc]
    return found


def doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def irsa_trust(conditions: dict[str, Any]) -> str:
    return doc({"Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity",
                "Principal": {"Federated": f"arn:aws:iam::123456789012:oidc-provider/{OIDC}"},
                "Condition": conditions})


RDS = "aws:rds/instance:Instance"
SAFE_RDS = {"storageEncrypted": True, "publiclyAccessible": False, "backupRetentionPeriod": 7,
            "deletionProtection": True}
EKS = "aws:eks/cluster:Cluster"
SAFE_EKS = {"encryptionConfig": {"provider": {"keyArn": "arn:aws:kms:us-east-1:1:key/k"},
                                 "resources": ["secrets"]},
            "enabledClusterLogTypes": ["api", "audit", "authenticator", "controllerManager", "scheduler"],
            "vpcConfig": {"endpointPublicAccess": True, "publicAccessCidrs": ["203.0.113.0/24"]}}
EKS_COMPONENT = "eks:index:Cluster"
SAFE_EKS_COMPONENT = {"encryptionConfigKeyArn": "arn:aws:kms:us-east-1:1:key/k",
                      "enabledClusterLogTypes": ["api", "audit", "authenticator"],
                      "endpointPublicAccess": False, "skipDefaultNodeGroup": True}
SCOPED_WRITE = {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
                "Resource": "arn:aws:s3:::data/*"}
PINNED = {"StringEquals": {f"{OIDC}:sub": "system:serviceaccount:airflow:airflow-worker",
                           f"{OIDC}:aud": "sts.amazonaws.com"}}
TLS_ONLY = {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": ["arn:aws:s3:::b/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
PAB = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
KMS_RULE = {"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms"}, "bucketKeyEnabled": True}

# policy, resource type, a compliant resource, a violating one, the stack
CASES: list[tuple[str, str, dict[str, Any], dict[str, Any], str]] = [
    ("rds-storage-encrypted", RDS, SAFE_RDS, {**SAFE_RDS, "storageEncrypted": False}, "dev"),
    ("rds-storage-encrypted", RDS, SAFE_RDS, {k: v for k, v in SAFE_RDS.items() if k != "storageEncrypted"},
     "dev"),
    ("rds-not-public", RDS, SAFE_RDS, {**SAFE_RDS, "publiclyAccessible": True}, "dev"),
    ("rds-backups-enabled", RDS, SAFE_RDS, {**SAFE_RDS, "backupRetentionPeriod": 0}, "dev"),
    ("rds-deletion-protection-in-production", RDS, SAFE_RDS, {**SAFE_RDS, "deletionProtection": False},
     "prod"),
    ("s3-public-access-blocked", PAB, dict.fromkeys(guardrails.PUBLIC_ACCESS_FLAGS, True),
     {**dict.fromkeys(guardrails.PUBLIC_ACCESS_FLAGS, True), "restrictPublicBuckets": False}, "dev"),
    ("s3-encryption", SSE, {"rules": [KMS_RULE]}, {"rules": []}, "dev"),
    ("s3-tls-only", "aws:s3/bucketPolicy:BucketPolicy", {"policy": doc(TLS_ONLY)},
     {"policy": doc({**TLS_ONLY, "Condition": {"Bool": {"aws:SecureTransport": "true"}}})}, "dev"),
    ("s3-no-public-acl", "aws:s3/bucketAcl:BucketAcl", {"acl": "private"}, {"acl": "public-read"}, "dev"),
    ("eks-secure-control-plane", EKS, SAFE_EKS, {**SAFE_EKS, "encryptionConfig": None}, "dev"),
    ("eks-secure-control-plane", EKS, SAFE_EKS, {**SAFE_EKS, "enabledClusterLogTypes": ["api"]}, "dev"),
    ("eks-secure-control-plane", EKS, SAFE_EKS,
     {**SAFE_EKS, "vpcConfig": {"endpointPublicAccess": True, "publicAccessCidrs": ["0.0.0.0/0"]}}, "dev"),
    ("eks-secure-control-plane", EKS, SAFE_EKS, {**SAFE_EKS, "vpcConfig": {}}, "dev"),
    ("eks-secure-control-plane", EKS, SAFE_EKS,
     {**SAFE_EKS, "vpcConfig": {"endpointPublicAccess": True, "publicAccessCidrs": ["0.0.0.0/1", "128.0.0.0/1"]}},
     "dev"),
    ("eks-secure-control-plane", EKS_COMPONENT, SAFE_EKS_COMPONENT,
     {**SAFE_EKS_COMPONENT, "endpointPublicAccess": True, "publicAccessCidrs": [f"{i}.0.0.0/8" for i in range(256)]}, "dev"),
    ("eks-secure-control-plane", EKS_COMPONENT, SAFE_EKS_COMPONENT,
     {**SAFE_EKS_COMPONENT, "endpointPublicAccess": True, "publicAccessCidrs": ["2001:db8::/31"]}, "dev"),
    ("eks-secure-control-plane", EKS_COMPONENT, SAFE_EKS_COMPONENT,
     {**SAFE_EKS_COMPONENT, "endpointPublicAccess": True}, "dev"),
    ("iam-least-privilege", "aws:iam/rolePolicy:RolePolicy", {"policy": doc(SCOPED_WRITE)},
     {"policy": doc({**SCOPED_WRITE, "Action": "s3:*"})}, "dev"),
    ("iam-least-privilege", "aws:iam/policy:Policy",
     {"policy": doc({"Effect": "Allow", "Action": ["ec2:DescribeImages", "autoscaling:Describe*"],
                     "Resource": "*"})},
     {"policy": doc({**SCOPED_WRITE, "Resource": "*"})}, "dev"),
    ("iam-least-privilege", "aws:iam/policy:Policy", {"policy": doc(SCOPED_WRITE)},
     {"policy": doc({"Effect": "Allow", "Action": "*", "Resource": "arn:aws:s3:::data"})}, "dev"),
    ("iam-least-privilege", "aws:iam/policy:Policy", {"policy": doc(SCOPED_WRITE)},
     {"policy": doc({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})}, "dev"),
    # PutMetricData has no resource ARN: "*" only with its namespace pinned.
    ("iam-least-privilege", "aws:iam/rolePolicy:RolePolicy",
     {"policy": doc({"Effect": "Allow", "Action": "cloudwatch:PutMetricData", "Resource": "*",
                     "Condition": {"StringEquals": {"cloudwatch:namespace": "airflow-eks/dev"}}})},
     {"policy": doc({"Effect": "Allow", "Action": "cloudwatch:PutMetricData", "Resource": "*",
                     "Condition": {"StringLike": {"cloudwatch:namespace": "*"}}})}, "dev"),
    ("iam-role-inline-least-privilege", "aws:iam/role:Role",
     {"inlinePolicies": [{"name": "ok", "policy": doc(SCOPED_WRITE)}]},
     {"inlinePolicies": [{"name": "wide", "policy": doc({**SCOPED_WRITE, "Resource": "*"})}]}, "dev"),
    ("iam-irsa-trust-scoped", "aws:iam/role:Role", {"assumeRolePolicy": irsa_trust(PINNED)},
     {"assumeRolePolicy": irsa_trust({"StringEquals": {f"{OIDC}:aud": "sts.amazonaws.com"}})}, "dev"),
    ("iam-irsa-trust-scoped", "aws:iam/role:Role", {"assumeRolePolicy": irsa_trust(PINNED)},
     {"assumeRolePolicy": irsa_trust({"StringEquals": {
         f"{OIDC}:sub": "system:serviceaccount:airflow:airflow-worker"}})}, "dev"),
    ("iam-irsa-trust-scoped", "aws:iam/role:Role", {"assumeRolePolicy": irsa_trust(PINNED)},
     {"assumeRolePolicy": irsa_trust({"StringLike": {f"{OIDC}:sub": "system:serviceaccount:*"},
                                      "StringEquals": {f"{OIDC}:aud": "sts.amazonaws.com"}})}, "dev"),
    ("nodes-imdsv2", "aws:ec2/launchTemplate:LaunchTemplate",
     {"metadataOptions": {"httpTokens": "required", "httpPutResponseHopLimit": 1}},
     {"metadataOptions": {"httpTokens": "optional"}}, "dev"),
    ("nodes-imdsv2", "aws:ec2/instance:Instance", {"metadataOptions": {"httpTokens": "required"}}, {},
     "dev"),
    ("nodes-launch-template", "aws:eks/nodeGroup:NodeGroup",
     {"launchTemplate": {"id": "lt-1", "version": "1"}}, {}, "dev"),
    ("eks-no-default-node-group", EKS_COMPONENT, SAFE_EKS_COMPONENT,
     {**SAFE_EKS_COMPONENT, "skipDefaultNodeGroup": False}, "dev"),
]


@pytest.mark.parametrize("policy,type_,good,bad,stack", CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_passes_the_compliant_and_reports_the_violating(policy, type_, good, bad, stack):
    assert resource_violations(policy, type_, good, stack=stack) == []
    assert resource_violations(policy, type_, bad, stack=stack) != []


def test_deletion_protection_is_only_required_in_production():
    bad = {**SAFE_RDS, "deletionProtection": False}
    assert resource_violations("rds-deletion-protection-in-production", RDS, bad, stack="dev") == []


def test_production_stateful_resources_are_protected():
    for type_ in ("aws:rds/instance:Instance", "aws:s3/bucket:Bucket", "aws:kms/key:Key"):
        assert resource_violations("production-stateful-protected", type_, {}, stack="prod", protect=True) == []
        assert resource_violations("production-stateful-protected", type_, {}, stack="prod") != []
        assert resource_violations("production-stateful-protected", type_, {}, stack="dev") == []


def test_a_value_unknown_in_a_preview_is_not_judged():
    """The analyzer reports "can't run policy ... during preview" for this error."""
    with pytest.raises(UnknownValueError):
        resource_violations("iam-least-privilege", "aws:iam/rolePolicy:RolePolicy",
                            {"policy": UNKNOWN_STRING_VALUE})


def test_a_policy_ignores_other_resource_types():
    assert resource_violations("rds-storage-encrypted", "aws:s3/bucket:Bucket", {}) == []


# ----------------------------------------------------------- stack policy


def policy_resource(type_: str, name: str, deps: dict[str, list[PolicyResource]] | None = None
                    ) -> PolicyResource:
    return PolicyResource(type_, {}, urn(type_, name), name, options(), None, None, [], deps or {})


def bucket_violations(resources: list[PolicyResource]) -> list[str]:
    found: list[str] = []
    policy = POLICIES["s3-buckets-locked-down"]
    assert isinstance(policy, StackValidationPolicy)
    policy.validate(StackValidationArgs(resources, CONFIG),  # type: ignore[misc]
                    lambda message, urn=None: found.append(message))
    return found


def locked_down(bucket: PolicyResource, skip: str = "") -> list[PolicyResource]:
    return [policy_resource(t, f"{bucket.name}-{t.rsplit(':', 1)[-1]}", {"bucket": [bucket]})
            for t in (PAB, SSE, "aws:s3/bucketPolicy:BucketPolicy") if t != skip]


def test_every_bucket_must_be_locked_down():
    data, logs = policy_resource("aws:s3/bucket:Bucket", "data"), policy_resource("aws:s3/bucket:Bucket", "logs")
    assert bucket_violations([data, logs, *locked_down(data), *locked_down(logs)]) == []
    found = bucket_violations([data, logs, *locked_down(data), *locked_down(logs, skip=PAB)])
    assert found == ["bucket logs lacks a public-access block."]


# ------------------------------------------------------- the real program


def program_violations(recording) -> list[str]:
    """Every policy over a recorded program, as the analyzer would run them."""
    found: list[str] = []
    resources = {r.urn: PolicyResource(r.type, unknown_checking_proxy(r.plain_inputs), r.urn, r.name,
                                       options(r.protect), None, None, [], {}) for r in recording.resources}
    for r in recording.resources:
        resources[r.urn].property_dependencies.update(
            {key: [resources[u] for u in urns if u in resources] for key, urns in r.property_dependencies.items()})
    for policy in POLICIES.values():
        def report(message, urn=None, name=policy.name):
            found.append(f"{name}: {message}")
        if isinstance(policy, StackValidationPolicy):
            policy.validate(StackValidationArgs(list(resources.values()), CONFIG), report)  # type: ignore[misc]
            continue
        assert isinstance(policy, ResourceValidationPolicy)
        for r in resources.values():
            args = ResourceValidationArgs(r.resource_type, r.props, r.urn, r.name, r.opts, None, CONFIG)
            policy.validate(args, report)  # type: ignore[misc]
    return found


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_program_passes_every_policy(engine, stack):
    recording = engine.program(stack)
    assert program_violations(recording) == []
    database = "aws:rds/instance:Instance" if stack == "prod" else "kubernetes:apps/v1:StatefulSet"
    assert {database, "aws:s3/bucket:Bucket", "eks:index:Cluster",
            "aws:iam/rolePolicy:RolePolicy", "aws:ec2/launchTemplate:LaunchTemplate"} <= \
        {r.type for r in recording.resources}


def test_the_program_check_sees_a_bucket_without_its_public_access_block(engine):
    recording = copy.deepcopy(engine.program("dev"))
    recording.resources = [r for r in recording.resources
                           if not (r.type == PAB and r.name.startswith("airflow-eks-dev-logs"))]
    assert program_violations(recording) == [
        "s3-buckets-locked-down: bucket airflow-eks-dev-logs-bucket lacks a public-access block."]


def test_every_policy_has_a_violating_case():
    covered = {c[0] for c in CASES} | {"production-stateful-protected", "s3-buckets-locked-down"}
    assert covered == set(POLICIES)


def test_the_pack_is_declared_for_python():
    import yaml
    pack = yaml.safe_load((ROOT / "policy" / "PulumiPolicy.yaml").read_text())
    assert pack["runtime"]["name"] == "python"
    main = (ROOT / "policy" / "__main__.py").read_text()
    assert "PolicyPack(" in main and "POLICIES" in main


def test_the_pack_imports_without_the_program():
    """The pack's environment has no pulumi-aws and no components/: guardrails.py
    and the CIDR rule it shares with the config check must import without them
    (an isolated interpreter, with only policy/ added to its path, as the
    analyzer adds it)."""
    code = ("import sys; sys.path.insert(0, 'policy'); import guardrails; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('components', 'pulumi_aws', 'plan')); "
            "assert not bad, bad; print(len(guardrails.POLICIES))")
    done = subprocess.run([sys.executable, "-I", "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) == len(POLICIES)


# Well-formed CIDR lists, both allowed and refused: the pack and the config check agree.
CIDR_LISTS = [["203.0.113.0/24"], ["10.0.0.0/8"], ["10.0.0.0/7"], ["0.0.0.0/0"], ["::/0"],
              ["0.0.0.0/1", "128.0.0.0/1"], [f"{i}.0.0.0/8" for i in range(256)],
              [f"{i}.0.0.0/8" for i in range(255)], ["2001:db8::/32"], ["2001:db8::/31"],
              ["203.0.113.0/24", "2001:db8::/48"]]


@pytest.mark.parametrize("cidrs", CIDR_LISTS, ids=[f"{c[0]}+{len(c) - 1}" for c in CIDR_LISTS])
def test_the_pack_and_the_config_apply_the_same_cidr_rule(cidrs):
    from components.config import public_cidr_problem
    assert (guardrails.world_open_problem(cidrs) is None) == (public_cidr_problem(cidrs) is None)
