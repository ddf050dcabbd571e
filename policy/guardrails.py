"""The platform's guarantees as CrossGuard policies, checked on every preview and update.

They hold even when someone edits the program: a change that makes RDS
public, drops a bucket's TLS-only policy or grants ``s3:*`` fails
``pulumi preview`` before it can reach AWS.

- RDS: storage encrypted, not publicly accessible, automated backups on,
  deletion protection on production stacks.
- S3: every bucket has all four public-access blocks, default encryption, and
  a policy that denies non-TLS requests.
- EKS: secrets encrypted with KMS, control-plane audit logs, and no public
  endpoint open to the world.
- IAM: no ``*`` or ``service:*`` action, no ``*`` resource on a write action,
  and every web-identity (IRSA) trust pinned by ``sub`` and ``aud``.
- Nodes: IMDSv2 required; managed node groups use a launch template (where
  IMDSv2 is set).
- Production: stateful resources (RDS, buckets, KMS keys) are protected.

This module only defines policies. ``__main__.py`` builds the PolicyPack
(whose constructor starts the analyzer server); the tests call each
policy's ``validate`` with passing and violating resources.

Resource properties are the resources' inputs, with Pulumi's camelCase
names. Reading a value that is unknown during a preview raises inside the
framework, which reports the policy as not checkable for that resource
instead of passing or failing it; the update checks it again with the value.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

# policy/ is first on sys.path when the pack runs (runpy.run_path of the folder).
from cidr_rules import world_open_reason
from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

POLICY_PACK_NAME = "airflow-eks-guardrails"
MANDATORY = EnforcementLevel.MANDATORY

PRODUCTION_STACKS_SCHEMA = PolicyConfigSchema(properties={
    "productionStacks": {"type": "array", "items": {"type": "string"}, "default": ["prod"],
                         "description": "Stacks held to production rules."},
})


def stack_of(urn: str) -> str:
    """``urn:pulumi:<stack>::<project>::<type>::<name>`` -> ``<stack>``."""
    return urn.split("::", 1)[0].rsplit(":", 1)[-1]


def is_production(args: ResourceValidationArgs) -> bool:
    stacks = (args.get_config() or {}).get("productionStacks", ["prod"])
    return stack_of(args.urn) in stacks


def resource_policy(name: str, description: str, types: Iterable[str],
                    check: Callable[[ResourceValidationArgs, ReportViolation], None],
                    config_schema: PolicyConfigSchema | None = None) -> ResourceValidationPolicy:
    """A mandatory policy that runs ``check`` on resources of the given types."""
    wanted = frozenset(types)

    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if args.resource_type in wanted:
            check(args, report_violation)

    return ResourceValidationPolicy(name=name, description=description, validate=validate,
                                    enforcement_level=MANDATORY, config_schema=config_schema)


# ---------------------------------------------------------------------- RDS

RDS_TYPES = ("aws:rds/instance:Instance", "aws:rds/cluster:Cluster")


def _rds_encrypted(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.props.get("storageEncrypted") is not True:
        report("storageEncrypted must be true: the metadata DB holds connections and variables.", None)


def _rds_private(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.props.get("publiclyAccessible") is True:
        report("publiclyAccessible must not be true: only the cluster reaches the database.", None)


def _rds_backups(args: ResourceValidationArgs, report: ReportViolation) -> None:
    retention = args.props.get("backupRetentionPeriod")
    if not isinstance(retention, int | float) or retention < 1:
        report(f"backupRetentionPeriod must be set to at least 1 day, got {retention!r}.", None)


def _rds_deletion_protection(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if is_production(args) and args.props.get("deletionProtection") is not True:
        report(f"deletionProtection must be true on production stack {stack_of(args.urn)!r}.", None)


# ----------------------------------------------------------------------- S3

BUCKET_TYPES = ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
ENCRYPTION_TYPES = (
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
)
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
PUBLIC_ACCESS_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
SSE_ALGORITHMS = ("aws:kms", "aws:kms:dsse", "AES256")


def _public_access_block(args: ResourceValidationArgs, report: ReportViolation) -> None:
    off = [flag for flag in PUBLIC_ACCESS_FLAGS if args.props.get(flag) is not True]
    if off:
        report(f"every public-access block must be true; not set: {', '.join(off)}.", None)


def _encryption(args: ResourceValidationArgs, report: ReportViolation) -> None:
    algorithms = [(rule.get("applyServerSideEncryptionByDefault") or {}).get("sseAlgorithm")
                  for rule in args.props.get("rules") or []]
    if not algorithms or any(a not in SSE_ALGORITHMS for a in algorithms):
        report(f"default encryption must be one of {', '.join(SSE_ALGORITHMS)}, got {algorithms!r}.", None)


def _bucket_public_acl(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if str(args.props.get("acl") or "").startswith(("public-", "authenticated-")):
        report(f"acl {args.props.get('acl')!r} opens the bucket; use bucket policies and roles.", None)


def denies_insecure_transport(document: Mapping[str, Any]) -> bool:
    """The document denies every request made without TLS."""
    for statement in statements(document):
        conditions = statement.get("Condition") or {}
        insecure = _as_list((conditions.get("Bool") or {}).get("aws:SecureTransport"))
        if (statement.get("Effect") == "Deny" and "s3:*" in _as_list(statement.get("Action"))
                and [str(v).lower() for v in insecure] == ["false"]):
            return True
    return False


def _tls_only(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if not denies_insecure_transport(parse_document(args.props.get("policy"))):
        report("the bucket policy must deny s3:* when aws:SecureTransport is false.", None)


def _every_bucket_is_locked_down(args: StackValidationArgs, report: ReportViolation) -> None:
    """Each bucket has its public-access block, encryption and TLS-only policy."""
    attached: dict[str, set[str]] = {}
    for resource in args.resources:
        for dependency in resource.property_dependencies.get("bucket", []):
            attached.setdefault(dependency.urn, set()).add(resource.resource_type)
    for resource in args.resources:
        if resource.resource_type in BUCKET_TYPES:
            kinds = attached.get(resource.urn, set())
            missing = [label for label, types in (
                ("a public-access block", (PUBLIC_ACCESS_BLOCK,)),
                ("default encryption", ENCRYPTION_TYPES),
                ("a TLS-only bucket policy", (BUCKET_POLICY,)),
            ) if not kinds & set(types)]
            if missing:
                report(f"bucket {resource.name} lacks {' and '.join(missing)}.", resource.urn)


# ---------------------------------------------------------------------- EKS

REQUIRED_LOG_TYPES = ("api", "audit", "authenticator")


def world_open_problem(cidrs: Sequence[str]) -> str | None:
    """Why a public endpoint's CIDR list opens the API, or None: the rule of
    cidr_rules.py, which the config check (components/config.py) applies too."""
    nets = []
    for c in cidrs:
        try:
            nets.append(ipaddress.ip_network(str(c), strict=False))
        except ValueError:
            return f"publicAccessCidrs entry {c!r} is not a CIDR."
    reason = world_open_reason(nets)
    return f"publicAccessCidrs: {reason}; the API endpoint may not be open to the world." if reason else None


def _endpoint_violation(public: Any, cidrs: Any) -> str | None:
    # AWS and pulumi-eks both default to a public endpoint open to 0.0.0.0/0.
    if public is False:
        return None
    cidrs = _as_list(cidrs)
    if not cidrs:
        return "the public endpoint is on with no publicAccessCidrs, which AWS opens to 0.0.0.0/0."
    return world_open_problem(cidrs)


def _eks_cluster(args: ResourceValidationArgs, report: ReportViolation) -> None:
    props = args.props
    if args.resource_type == "aws:eks/cluster:Cluster":
        encrypted = [r for config in _as_list(props.get("encryptionConfig"))
                     for r in _as_list((config or {}).get("resources"))]
        vpc = props.get("vpcConfig") or {}
        public, cidrs = vpc.get("endpointPublicAccess"), vpc.get("publicAccessCidrs")
    else:  # pulumi-eks's component, whose inputs name the same things differently
        encrypted = ["secrets"] if props.get("encryptionConfigKeyArn") else []
        public, cidrs = props.get("endpointPublicAccess"), props.get("publicAccessCidrs")
    if "secrets" not in encrypted:
        report("Kubernetes secrets must be encrypted with a KMS key (encryptionConfig).", None)
    logs = _as_list(props.get("enabledClusterLogTypes"))
    missing = [t for t in REQUIRED_LOG_TYPES if t not in logs]
    if missing:
        report(f"control-plane logs must include {', '.join(missing)}.", None)
    problem = _endpoint_violation(public, cidrs)
    if problem:
        report(problem, None)


# ---------------------------------------------------------------------- IAM

IAM_DOCUMENT_TYPES = ("aws:iam/policy:Policy", "aws:iam/rolePolicy:RolePolicy",
                      "aws:iam/userPolicy:UserPolicy", "aws:iam/groupPolicy:GroupPolicy")
ROLE = "aws:iam/role:Role"
READ_ONLY_PREFIXES = ("Describe", "List", "Get", "Head", "Search", "Lookup", "BatchGet")
WEB_IDENTITY = "sts:AssumeRoleWithWebIdentity"


def parse_document(value: Any) -> Mapping[str, Any]:
    if isinstance(value, str):
        return json.loads(value) if value.strip() else {}
    return value or {}


def statements(document: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    yield from _as_list(document.get("Statement"))


# Writes that have no resource ARN in IAM, allowed on "*" only when this
# condition key scopes them (cloudwatch:PutMetricData by its namespace).
SCOPED_WITHOUT_RESOURCE = {"cloudwatch:PutMetricData": "cloudwatch:namespace"}


def _scoped_without_resource(action: str, statement: Mapping[str, Any]) -> bool:
    key = SCOPED_WITHOUT_RESOURCE.get(action)
    if key is None:
        return False
    equals = (statement.get("Condition") or {}).get("StringEquals") or {}
    values = [str(v) for v in _as_list(equals.get(key))]
    return bool(values) and not any("*" in v for v in values)


def is_read_only(action: str) -> bool:
    """``ec2:DescribeImages`` or ``s3:Get*`` (reads); not ``s3:PutObject`` or ``s3:*``."""
    _, _, name = action.partition(":")
    return name.startswith(READ_ONLY_PREFIXES)


def least_privilege_violations(document: Mapping[str, Any]) -> list[str]:
    problems = []
    for statement in statements(document):
        if statement.get("Effect", "Allow") != "Allow":
            continue
        sid = statement.get("Sid") or "statement"
        if "NotAction" in statement or "NotResource" in statement:
            problems.append(f"{sid}: Allow with NotAction/NotResource grants everything else.")
            continue
        actions = [str(a) for a in _as_list(statement.get("Action"))]
        wildcards = [a for a in actions if a == "*" or a.endswith(":*")]
        if wildcards:
            problems.append(f"{sid}: wildcard action {', '.join(wildcards)}.")
        if "*" in _as_list(statement.get("Resource")):
            writes = [a for a in actions
                      if not is_read_only(a) and not _scoped_without_resource(a, statement)]
            if writes:
                problems.append(f"{sid}: Resource \"*\" on write actions {', '.join(writes)}.")
    return problems


def _iam_document(args: ResourceValidationArgs, report: ReportViolation) -> None:
    for problem in least_privilege_violations(parse_document(args.props.get("policy"))):
        report(problem, None)


def _iam_role_inline(args: ResourceValidationArgs, report: ReportViolation) -> None:
    for inline in _as_list(args.props.get("inlinePolicies")):
        for problem in least_privilege_violations(parse_document((inline or {}).get("policy"))):
            report(f"inline policy {(inline or {}).get('name')}: {problem}", None)


def web_identity_violations(document: Mapping[str, Any]) -> list[str]:
    """Each web-identity trust pins its OIDC provider's sub and aud with StringEquals."""
    problems = []
    for statement in statements(document):
        if WEB_IDENTITY not in _as_list(statement.get("Action")) or statement.get("Effect") != "Allow":
            continue
        equals = (statement.get("Condition") or {}).get("StringEquals") or {}
        subs = [v for k, v in equals.items() if k.endswith(":sub")]
        auds = [v for k, v in equals.items() if k.endswith(":aud")]
        if not subs or any("*" in str(s) for v in subs for s in _as_list(v)):
            problems.append("trust must pin the service account: StringEquals on <oidc>:sub, "
                            "no wildcards.")
        if [str(a) for v in auds for a in _as_list(v)] != ["sts.amazonaws.com"]:
            problems.append("trust must pin the audience: StringEquals <oidc>:aud = sts.amazonaws.com.")
    return problems


def _irsa_trust(args: ResourceValidationArgs, report: ReportViolation) -> None:
    for problem in web_identity_violations(parse_document(args.props.get("assumeRolePolicy"))):
        report(problem, None)


# -------------------------------------------------------------------- nodes


def _imdsv2(args: ResourceValidationArgs, report: ReportViolation) -> None:
    tokens = (args.props.get("metadataOptions") or {}).get("httpTokens")
    if tokens != "required":
        report(f"metadataOptions.httpTokens must be \"required\" (IMDSv2), got {tokens!r}.", None)


def _node_group_launch_template(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if not args.props.get("launchTemplate"):
        report("a managed node group needs a launch template that requires IMDSv2; "
               "EKS's default one allows IMDSv1.", None)


def _no_default_node_group(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.props.get("skipDefaultNodeGroup") is not True:
        report("skipDefaultNodeGroup must be true: pulumi-eks's default node group "
               "is not held to IMDSv2.", None)


# --------------------------------------------------------------- production

STATEFUL_TYPES = (*RDS_TYPES, *BUCKET_TYPES, "aws:kms/key:Key")


def _protected_in_production(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if is_production(args) and not args.opts.protect:
        report(f"stateful resources on production stack {stack_of(args.urn)!r} must be protected "
               "(protect=True), so no update deletes them.", None)


def _as_list(value: Any) -> list[Any]:
    """A JSON scalar-or-list as a list. The analyzer hands lists over as
    Sequence proxies (pulumi_policy.proxy), not as list."""
    if value is None:
        return []
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return list(value)
    return [value]


POLICIES: list[ResourceValidationPolicy | StackValidationPolicy] = [
    resource_policy("rds-storage-encrypted", "RDS storage is encrypted.", RDS_TYPES, _rds_encrypted),
    resource_policy("rds-not-public", "RDS is not publicly accessible.",
                    ("aws:rds/instance:Instance",), _rds_private),
    resource_policy("rds-backups-enabled", "RDS keeps automated backups for at least a day.",
                    RDS_TYPES, _rds_backups),
    resource_policy("rds-deletion-protection-in-production",
                    "RDS has deletion protection on production stacks.", RDS_TYPES,
                    _rds_deletion_protection, PRODUCTION_STACKS_SCHEMA),
    resource_policy("s3-public-access-blocked", "Public-access blocks are all on.",
                    (PUBLIC_ACCESS_BLOCK,), _public_access_block),
    resource_policy("s3-encryption", "Bucket default encryption is KMS or AES256.",
                    ENCRYPTION_TYPES, _encryption),
    resource_policy("s3-tls-only", "Bucket policies deny requests without TLS.",
                    (BUCKET_POLICY,), _tls_only),
    resource_policy("s3-no-public-acl", "Buckets grant nothing through ACLs.",
                    (*BUCKET_TYPES, "aws:s3/bucketAcl:BucketAcl", "aws:s3/bucketAclV2:BucketAclV2"),
                    _bucket_public_acl),
    StackValidationPolicy(name="s3-buckets-locked-down",
                          description="Every bucket has a public-access block, default encryption "
                                      "and a TLS-only policy.",
                          validate=_every_bucket_is_locked_down, enforcement_level=MANDATORY),
    resource_policy("eks-secure-control-plane",
                    "EKS encrypts secrets, logs the control plane and has no world-open endpoint.",
                    ("aws:eks/cluster:Cluster", "eks:index:Cluster"), _eks_cluster),
    resource_policy("iam-least-privilege", "No wildcard actions; no \"*\" resource on writes.",
                    IAM_DOCUMENT_TYPES, _iam_document),
    resource_policy("iam-role-inline-least-privilege", "Inline role policies follow iam-least-privilege.",
                    (ROLE,), _iam_role_inline),
    resource_policy("iam-irsa-trust-scoped", "Web-identity trusts pin sub and aud.", (ROLE,), _irsa_trust),
    resource_policy("nodes-imdsv2", "Launch templates and instances require IMDSv2.",
                    ("aws:ec2/launchTemplate:LaunchTemplate", "aws:ec2/instance:Instance"), _imdsv2),
    resource_policy("nodes-launch-template", "Managed node groups use a launch template.",
                    ("aws:eks/nodeGroup:NodeGroup", "eks:index:ManagedNodeGroup"),
                    _node_group_launch_template),
    resource_policy("eks-no-default-node-group", "pulumi-eks's default node group is off.",
                    ("eks:index:Cluster",), _no_default_node_group),
    resource_policy("production-stateful-protected",
                    "RDS, buckets and KMS keys are protected on production stacks.",
                    STATEFUL_TYPES, _protected_in_production, PRODUCTION_STACKS_SCHEMA),
]
