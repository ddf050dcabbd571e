"""Typed, validated stack configuration.

The stack config is read once, here, into a frozen :class:`StackConfig`. Every
``airflow-eks:*`` key is declared in ``Pulumi.yaml`` with its type, description
and default; this module takes the defaults from that file, so there is one
source of truth, and refuses keys that are not declared (typos).

Every invalid value is reported before a resource is registered, all of a
stack's independent errors at once, as one :class:`ConfigError` (a
``pulumi.RunError``, which the Pulumi CLI prints without a traceback). Each line
names the full key, the bad value and what is allowed. Secret values, and the
values of unknown keys (a misspelt secret), are never echoed.

Adding a validated key: declare it in Pulumi.yaml, read it with a typed
accessor of :class:`Reader` (``r.string``, ``r.integer``, ``r.choice``,
``r.secret`` for a ``secret: true`` key, ...), and report a bad value with
``r.fail(key, value, allowed)``; the reader carries on, so later keys are still
checked. A check that combines keys passes ``depends=(other keys,)`` so it
stays quiet when one of them is already wrong. A new section goes into
``parse_stack_config`` as ``r.run(_section, r)``, so that a ``ConfigError`` it
raises stops only that section. A ``secret: true`` key is checked to be
encrypted in the stack file without any code of its own.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

import pulumi
import pulumi_aws as aws
import yaml

from policy.cidr_rules import world_open_reason

PROJECT = "airflow-eks"
PULUMI_YAML = Path(__file__).resolve().parent.parent / "Pulumi.yaml"

# EKS standard-support versions only: a cluster in extended support costs
# $0.60/h instead of $0.10/h, which alone would break the cost targets.
SUPPORTED_KUBERNETES_VERSIONS = ("1.35", "1.36")
# Majors supported both by RDS and by Airflow 3.0's metadata DB.
SUPPORTED_POSTGRES_MAJORS = ("15", "16", "17")
# rds, or inCluster: a PostgreSQL StatefulSet, dev only (components/metadata_postgres.py).
DATABASE_ENGINES = ("rds", "inCluster")
# Majors with a pinned image in components/metadata_postgres.py (IMAGES).
IN_CLUSTER_POSTGRES_MAJORS = ("17",)
# The only retention values CloudWatch Logs accepts.
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545,
                      731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)
# The chart, the Airflow image and dags/ tests are pinned together; see README "Versions".
AIRFLOW_VERSION = "3.3.2"

# Spot groups draw from several capacity pools (issue 19).
MIN_SPOT_INSTANCE_TYPES = 3

_MISSING = object()
T = TypeVar("T")
# Shown instead of a secret's value, and of an unknown key's (it may be a misspelt secret).
HIDDEN = "[secret]"
NOT_SHOWN = "[value not shown]"


def full_key(key: str) -> str:
    """``cluster.name`` -> ``airflow-eks:cluster.name``; namespaced keys unchanged."""
    return key if ":" in key else f"{PROJECT}:{key}"


class ConfigError(pulumi.RunError, ValueError):
    """Invalid stack config: one value (``key``), or several (``errors``).

    A ``pulumi.RunError``: the Pulumi CLI prints its message and exits non-zero
    without the Python traceback (see pulumi/errors.py). ``make plan`` prints it
    the same way (plan/cli.py)."""

    def __init__(self, key: str, value: Any, allowed: str, *, secret: bool = False,
                 shown: str | None = None):
        self.key = full_key(key)
        shown = shown or (HIDDEN if secret else repr(value))
        self.line = f"invalid stack config {self.key} = {shown}: {allowed}"
        self.errors: list[ConfigError] = [self]
        super().__init__(self.line)

    @classmethod
    def of(cls, errors: Sequence[ConfigError], stack: str) -> ConfigError:
        """All of a stack's errors as one: the single error itself, or a header and one line each."""
        if len(errors) == 1:
            return errors[0]
        combined = cls.__new__(cls)
        combined.key = errors[0].key
        combined.errors = list(errors)
        combined.line = (f"stack {stack}: {len(errors)} invalid config values\n"
                         + "\n".join(f"  {e.line}" for e in errors))
        ValueError.__init__(combined, combined.line)
        return combined

    def __str__(self) -> str:
        return self.line


@dataclass(frozen=True, kw_only=True)
class Declaration:
    """A config key as declared in Pulumi.yaml."""

    key: str
    """Key without the project prefix, e.g. ``cluster.nodeGroups.tasks.maxSize``."""
    type: str
    """``string``, ``integer``, ``boolean`` or ``array``."""
    default: Any
    """Declared default, or the module's ``_MISSING`` sentinel when the key is required."""
    secret: bool
    """Whether the value must be set with ``pulumi config set --secret``."""
    description: str
    """Human description, reused by the README's configuration reference."""


# Secrets that a stack may leave unset. Pulumi.yaml cannot mark them
# `secret: true`: the CLI then requires the key on every stack ("missing
# configuration value"), and a default would be stored in plaintext. So they
# are declared as optional strings, and the program refuses a value that was
# not set with --secret (Reader.check_secrets_encrypted), never echoing it.
OPTIONAL_SECRETS = frozenset({"dags.sshPrivateKey", "dags.httpsToken", "sso.clientSecret",
                              "monitoring.httpsEndpoint"})


# libyaml's safe loader where PyYAML was built with it (its wheels are): the
# same documents, parsed ~10x faster, which every run of the program (and each
# of the test suite's) pays for Pulumi.yaml and helm/values.yaml.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(path: Path) -> Any:
    """A YAML file's document, loaded safely (no Python tags)."""
    with path.open("rb") as stream:
        return yaml.load(stream, Loader=_YAML_LOADER)  # noqa: S506 - a safe loader


def load_declarations(path: Path = PULUMI_YAML) -> dict[str, Declaration]:
    """Reads the ``config:`` block of Pulumi.yaml."""
    raw = read_yaml(path)["config"]
    decls = {}
    for key, spec in raw.items():
        if not isinstance(spec, dict) or "type" not in spec:
            continue  # a plain value for another namespace (e.g. aws:region)
        decls[key] = Declaration(
            key=key,
            type=spec["type"],
            default=spec.get("default", _MISSING),
            secret=bool(spec.get("secret", False)) or key in OPTIONAL_SECRETS,
            description=spec.get("description", ""),
        )
    return decls


# ---------------------------------------------------------------- typed views


@dataclass(frozen=True, kw_only=True)
class NetworkConfig:
    """VPC layout."""

    cidr: str
    """IPv4 CIDR of the VPC."""
    availability_zones: tuple[str, ...]
    """AZs the subnets are spread over."""
    nat_gateways: str
    """``single``, ``onePerAz`` or ``instance``."""
    flow_log_retention_days: int
    """Retention of the flow-log group, in days."""
    nat_instance: NatInstanceConfig | None = None
    """The NAT instance, when ``nat_gateways`` is ``instance``; None otherwise."""


# ------------------------------------------------ cost levers (issue 19)


@dataclass(frozen=True, kw_only=True)
class NatInstanceConfig:
    """A NAT instance instead of NAT gateways (``network.natGateways: instance``)."""

    instance_type: str
    """Graviton instance type of the NAT instance (``network.natInstanceType``)."""


@dataclass(frozen=True, kw_only=True)
class NodeGroupConfig:
    """One EKS managed node group."""

    instance_types: tuple[str, ...]
    """EC2 instance types, all of one CPU architecture."""
    capacity_type: str
    """``ON_DEMAND`` or ``SPOT``."""
    min_size: int
    """Autoscaling floor."""
    max_size: int
    """Autoscaling ceiling."""
    desired_size: int
    """Initial size."""
    disk_size_gib: int
    """Encrypted gp3 root volume size."""

    @property
    def arm64(self) -> bool:
        """True for Graviton instance families (t4g, m7g, c7gn, r8g, ...)."""
        return _is_graviton(self.instance_types[0])


@dataclass(frozen=True, kw_only=True)
class ClusterConfig:
    """EKS control plane and node groups."""

    name: str
    """EKS cluster name (``<project>-<stack>``)."""
    kubernetes_version: str
    """Pinned Kubernetes minor version."""
    public_access_cidrs: tuple[str, ...]
    """CIDRs allowed on the public endpoint; empty = private only."""
    log_retention_days: int
    """Retention of the control-plane log group."""
    system: NodeGroupConfig
    """Node group for Airflow's long-running components."""
    tasks: NodeGroupConfig
    """Tainted node group for KubernetesExecutor task pods."""


@dataclass(frozen=True, kw_only=True)
class DatabaseConfig:
    """Airflow's metadata database: RDS PostgreSQL, or in-cluster in dev."""

    engine: str
    """``rds`` or ``inCluster`` (a PostgreSQL StatefulSet; never in production)."""
    instance_class: str
    """RDS instance class."""
    engine_version: str
    """PostgreSQL major version."""
    allocated_storage_gib: int
    """Initial storage."""
    max_allocated_storage_gib: int
    """Storage autoscaling ceiling."""
    multi_az: bool
    """Multi-AZ standby."""
    backup_retention_days: int
    """Automated backup retention."""
    log_retention_days: int
    """Retention of the exported PostgreSQL log groups."""


# The CAs RDS can sign an instance's server certificate with (RDS User Guide,
# "Certificate authorities"); components/rds_ca.py fetches and verifies it.
RDS_CA_IDENTIFIERS = ("rds-ca-rsa2048-g1", "rds-ca-rsa4096-g1", "rds-ca-ecc384-g1")


@dataclass(frozen=True, kw_only=True)
class DatabaseTlsConfig:
    """How clients verify the RDS server certificate (pgbouncer: verify-full)."""

    ca_cert_identifier: str = RDS_CA_IDENTIFIERS[0]
    """The RDS CA the instance's server certificate is signed by (``database.caCertIdentifier``)."""
    ca_bundle_file: str = ""
    """A local PEM bundle to take that CA from instead of AWS's trust store
    (``database.caBundleFile``); empty: downloaded (components/rds_ca.py)."""


@dataclass(frozen=True, kw_only=True)
class BucketsConfig:
    """Lifecycle settings of the logs and data buckets."""

    task_log_retention_days: int
    """Days before task logs expire."""
    noncurrent_version_retention_days: int
    """Days before noncurrent versions expire."""
    access_log_retention_days: int
    """Days before S3 server access logs expire."""


@dataclass(frozen=True, kw_only=True)
class AirflowConfig:
    """The Airflow release."""

    high_availability: bool
    """Replicas and PodDisruptionBudgets for the control components."""
    secrets_revision: int
    """Bumping it rotates the generated keys and rolls the pods."""
    admin_username: str
    """Admin account name."""
    admin_email: str
    """Admin account email."""
    image_repository: str
    """Airflow image repository."""
    image_tag: str
    """Airflow image tag."""
    database_cleanup_retention_days: int
    """Metadata DB rows older than this many days are purged by the weekly ``airflow db clean``."""
    pools: tuple[tuple[str, int], ...] = ()
    """Pools (name, slots), sorted by name, that the migration Job creates or resizes."""


@dataclass(frozen=True, kw_only=True)
class MonitoringConfig:
    """Where alarms go, and how long container logs stay."""

    alert_emails: tuple[str, ...]
    """Addresses subscribed to the alarm topic."""
    https_endpoint: pulumi.Output[str] | None
    """Secret HTTPS endpoint subscribed to the topic; None when unset."""
    log_retention_days: int
    """Retention of the container log group (a CloudWatch Logs value)."""
    dashboard: bool = True
    """Whether the stack has its CloudWatch dashboard ($3/month beyond an account's free three)."""


@dataclass(frozen=True, kw_only=True)
class DagsConfig:
    """Where DAGs come from. The one place a future GitDagBundle would read too."""

    repo: str
    """Git URL."""
    revision: str
    """The branch, tag or commit that is synced."""
    revision_is_branch: bool
    """True when ``revision`` came from dags.branch (follows the branch)."""
    sub_path: str
    """Folder of the repository holding the DAGs."""
    sync_period_seconds: int
    """git-sync poll period."""
    known_hosts: str
    """Pinned known_hosts lines (SSH)."""
    ssh_private_key: pulumi.Output[str] | None
    """Secret SSH deploy key, ending with a newline; None for https repos."""
    https_username: str
    """Username sent with ``https_token``."""
    https_token: pulumi.Output[str] | None
    """Secret token for a private https repo; None otherwise."""

    @property
    def uses_ssh(self) -> bool:
        """True for ssh:// and scp-like git@ URLs."""
        return not self.repo.startswith("https://")


# Where DAGs put their Spark scripts in the data bucket: read-only to jobs.
EMR_SCRIPT_PREFIX = "spark/code/"


@dataclass(frozen=True, kw_only=True)
class EmrServerlessConfig:
    """The optional EMR Serverless Spark application (issue 18)."""

    enabled: bool
    """Whether the application and its roles exist."""
    release_label: str
    """Pinned EMR release, e.g. ``emr-7.12.0``."""
    max_vcpu: int
    """Cost bound: most vCPUs held at once."""
    max_memory_gib: int
    """Cost bound: most memory held at once, in GiB."""
    idle_timeout_minutes: int
    """Idle minutes before the application stops."""
    read_prefixes: tuple[str, ...]
    """Data-bucket prefixes jobs may read."""
    write_prefixes: tuple[str, ...]
    """Data-bucket prefixes jobs may write and delete."""


@dataclass(frozen=True, kw_only=True)
class UiConfig:
    """How people reach the Airflow UI (issue 14): port-forward, or an HTTPS ALB."""

    exposure: str
    """``portForward``, ``internal`` or ``internet``."""
    hostname: str
    """DNS name of the UI; empty with portForward."""
    hosted_zone_id: str
    """Route 53 zone of ``hostname``; empty when the DNS record is managed elsewhere."""
    certificate_arn: str
    """An existing ACM certificate; empty when the program creates one."""
    allowed_cidrs: tuple[str, ...]
    """Source CIDRs the load balancer admits (the VPC's CIDR when none are set)."""

    @property
    def load_balanced(self) -> bool:
        """True when an ALB (and so the Load Balancer Controller) is needed."""
        return self.exposure != "portForward"

    @property
    def creates_certificate(self) -> bool:
        """True when the program creates and DNS-validates the ACM certificate."""
        return self.load_balanced and not self.certificate_arn


@dataclass(frozen=True, kw_only=True)
class SecretsConfig:
    """Airflow Connections and Variables declared in the stack, kept in Secrets Manager."""

    connections: Mapping[str, pulumi.Output[str]]
    """conn_id -> secret value: canonical Airflow connection JSON, or the URI as given."""
    variables: Mapping[str, pulumi.Output[str]]
    """Variable key -> secret value."""


@dataclass(frozen=True, kw_only=True)
class SsoConfig:
    """Single sign-on (issue 14 §4): OpenID Connect through the FAB auth manager."""

    issuer_url: str
    """OIDC issuer (https://...); empty when single sign-on is off."""
    client_id: str
    """Client id registered at the identity provider."""
    client_secret: pulumi.Output[str] | None
    """Secret client secret; None when single sign-on is off."""
    role_mapping: tuple[tuple[str, str], ...]
    """(IdP group, Airflow role) pairs, in config order."""
    default_role: str
    """Role of a user in no mapped group; empty refuses such users."""

    @property
    def enabled(self) -> bool:
        """True when users sign in through the identity provider."""
        return bool(self.issuer_url)

    def roles_by_group(self) -> dict[str, list[str]]:
        """FAB's ``AUTH_ROLES_MAPPING`` shape: group -> [roles]."""
        mapping: dict[str, list[str]] = {}
        for group, role in self.role_mapping:
            mapping.setdefault(group, []).append(role)
        return mapping


@dataclass(frozen=True, kw_only=True)
class StackConfig:
    """Everything the program needs from the stack, parsed once and validated."""

    project: str
    """Pulumi project name."""
    stack: str
    """Pulumi stack name."""
    region: str
    """AWS region (``aws:region``)."""
    production: bool
    """Production stack: stricter checks and protected stateful resources."""
    network: NetworkConfig
    """VPC."""
    cluster: ClusterConfig
    """EKS."""
    database: DatabaseConfig
    """RDS."""
    database_tls: DatabaseTlsConfig
    """Which RDS CA signs the server certificate, and where its PEM comes from."""
    buckets: BucketsConfig
    """S3."""
    airflow: AirflowConfig
    """The Helm release."""
    dags: DagsConfig
    """git-sync source."""
    ui: UiConfig
    """How the UI is exposed."""
    secrets: SecretsConfig
    """Connections and Variables kept in Secrets Manager."""
    sso: SsoConfig
    """Single sign-on (off unless sso.issuerUrl is set)."""
    monitoring: MonitoringConfig
    """Alarm recipients and container log retention."""
    emr_serverless: EmrServerlessConfig
    """Optional EMR Serverless Spark application."""


# -------------------------------------------------------------------- reading


class Reader:
    """Typed access to raw config values that records every invalid one and carries on.

    Each accessor returns a value of its type: the valid value, or after a
    recorded error a stand-in (the declared default, else an empty value) that
    lets the rest of the checks run. The stand-in never reaches a resource:
    :func:`parse_stack_config` raises when any error was recorded."""

    def __init__(self, raw: Mapping[str, Any], decls: Mapping[str, Declaration],
                 secret_keys: Sequence[str] | None = None):
        self._raw = raw
        self._decls = decls
        self._secret_keys = None if secret_keys is None else set(secret_keys)
        self.errors: list[ConfigError] = []
        self._failed: set[str] = set()

    # ------------------------------------------------------------ reporting

    def fail(self, key: str, value: Any, allowed: str, *, secret: bool | None = None,
             depends: Sequence[str] = (), shown: str | None = None) -> None:
        """Records that ``key`` = ``value`` is invalid. Quiet when ``key`` or a key in
        ``depends`` already failed: that error says it, and a stand-in must not cause a second."""
        full = full_key(key)
        if full in self._failed or any(full_key(d) in self._failed for d in depends):
            return
        if secret is None:
            decl = self._decls.get(full.split(":", 1)[1]) if full.startswith(f"{PROJECT}:") else None
            secret = bool(decl and decl.secret)
        self._failed.add(full)
        self.errors.append(ConfigError(full, value, allowed, secret=secret, shown=shown))

    def ok(self, *keys: str) -> bool:
        """True when none of ``keys`` has failed (so a check combining them is meaningful)."""
        return not any(full_key(k) in self._failed for k in keys)

    def run(self, check: Callable[..., T], *args: Any) -> T | None:
        """Runs one section's checks; a ``ConfigError`` it raises is recorded and stops
        only that section, so independent sections still report theirs."""
        try:
            return check(*args)
        except ConfigError as exc:
            for e in exc.errors:
                self._record(e)
            return None

    def _record(self, error: ConfigError) -> None:
        if error.key not in self._failed:
            self._failed.add(error.key)
            self.errors.append(error)

    # -------------------------------------------------------------- reading

    def _value(self, key: str) -> Any:
        decl = self._decls[key]
        value = self._raw.get(f"{PROJECT}:{key}", _MISSING)
        if value is _MISSING:
            value = decl.default
        if value is _MISSING:
            self.fail(key, None, f"required: {decl.description}")
            return None
        return value

    def _fallback(self, key: str, empty: Any) -> Any:
        default = self._decls[key].default
        return empty if default is _MISSING or type(default) is not type(empty) else default

    def is_set(self, key: str) -> bool:
        return self._raw.get(f"{PROJECT}:{key}") not in (None, "")

    def string(self, key: str) -> str:
        value = self._value(key)
        if value is None:
            return ""
        if not isinstance(value, str):
            self.fail(key, value, "expected a string")
            return self._fallback(key, "")
        return value

    def integer(self, key: str, *, lo: int, hi: int | None = None) -> int:
        value = self._value(key)
        if value is None:
            return lo
        if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(key, value, "expected a whole number")
            return self._fallback(key, lo)
        if value < lo or (hi is not None and value > hi):
            bound = f"from {lo} to {hi}" if hi is not None else f"of at least {lo}"
            self.fail(key, value, f"expected a whole number {bound}")
            return self._fallback(key, lo)
        return value

    def boolean(self, key: str) -> bool:
        value = self._value(key)
        if value is None:
            return False
        if isinstance(value, str) and value in ("true", "false"):
            value = value == "true"
        if not isinstance(value, bool):
            self.fail(key, value, "expected true or false")
            return self._fallback(key, False)
        return value

    def strings(self, key: str) -> tuple[str, ...]:
        value = self._value(key)
        if value is None:
            return ()
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                value = _MISSING
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.fail(key, self._raw.get(f"{PROJECT}:{key}"), "expected a list of strings")
            return tuple(self._fallback(key, []))
        return tuple(value)

    def choice(self, key: str, choices: Sequence[str]) -> str:
        value = self.string(key)
        if value not in choices:
            self.fail(key, value, f"expected one of {', '.join(choices)}")
            default = self._decls[key].default
            return default if default in choices else choices[0]
        return value

    def retention(self, key: str) -> int:
        value = self.integer(key, lo=1)
        if value not in LOG_RETENTION_DAYS:
            self.fail(key, value, "expected a CloudWatch Logs retention: "
                      + ", ".join(map(str, LOG_RETENTION_DAYS)))
            return self._fallback(key, 14)
        return value

    def secret(self, key: str) -> str | None:
        """A ``secret: true`` key's raw value, or None when unset. Wrap it in
        ``pulumi.Output.secret`` before it goes anywhere; never put it in a message."""
        value = self._raw.get(f"{PROJECT}:{key}")
        return None if value in (None, "") else str(value)

    def check_secrets_encrypted(self) -> None:
        """Every ``secret: true`` key that is set must have been set with --secret:
        Pulumi tells the program which keys it decrypted (None: not known, skipped)."""
        if self._secret_keys is None:
            return
        for key, decl in sorted(self._decls.items()):
            full = f"{PROJECT}:{key}"
            if decl.secret and self._raw.get(full) not in (None, "") and full not in self._secret_keys:
                self.fail(key, None, "a secret is stored in plaintext in the stack file; delete that line and "
                          f"set it encrypted: pulumi config set --secret {full} <value> --stack <stack>",
                          secret=True)


# The name sections used before Reader recorded errors; kept for them.
_Reader = Reader


def _is_graviton(instance_type: str) -> bool:
    family = instance_type.split(".", 1)[0]
    return bool(re.fullmatch(r"[a-z]+\d+[a-z]*g[a-z]*", family))


# Config namespaces the program or its providers read. A key under any other
# namespace (``airflw-eks:dags.repo``) is a typo that would silently be ignored.
KNOWN_NAMESPACES = (PROJECT, "aws", "awsx", "eks", "kubernetes", "random", "pulumi")
# Every region pulumi-aws knows; a region newer than the pinned provider is not offered.
AWS_REGIONS = tuple(sorted(r.value for r in aws.Region))


def _check_keys(r: Reader, raw: Mapping[str, Any], decls: Mapping[str, Declaration]) -> None:
    """Unknown ``airflow-eks:`` keys and unknown namespaces. Their values are never
    shown: a misspelt secret key (``dags.httpsTokn``) holds the secret."""
    for key in sorted(raw):
        namespace, _, name = key.partition(":")
        if not name:
            r.fail(key, None, f"expected a namespaced key such as {PROJECT}:{key}", shown=NOT_SHOWN)
        elif namespace not in KNOWN_NAMESPACES:
            close = difflib.get_close_matches(namespace, KNOWN_NAMESPACES, n=1)
            hint = (f"did you mean {close[0]}:{name}?" if close
                    else f"known namespaces: {', '.join(KNOWN_NAMESPACES)}")
            r.fail(key, None, f"unknown config namespace {namespace!r}; {hint}", shown=NOT_SHOWN)
        elif namespace == PROJECT and name not in decls:
            close = difflib.get_close_matches(name, list(decls), n=1)
            hint = f"did you mean {PROJECT}:{close[0]}?" if close else "see README, Configuration"
            r.fail(key, None, f"unknown key; {hint}", shown=NOT_SHOWN)


def _region(r: Reader, raw: Mapping[str, Any]) -> str:
    region = raw.get("aws:region")
    if region is None:
        r.fail("aws:region", None, "required: pulumi config set aws:region us-east-1")
        return ""
    if region not in AWS_REGIONS:
        close = difflib.get_close_matches(str(region), AWS_REGIONS, n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        r.fail("aws:region", region, f"{hint}expected an AWS region such as us-east-1")
        return ""
    return region


def public_cidr_problem(cidrs: Sequence[str]) -> str | None:
    """Why a public API endpoint CIDR list opens the platform, or None: the
    rule of policy/cidr_rules.py, which the policy pack applies too, on CIDRs
    written canonically (no host bits)."""
    nets = []
    for c in cidrs:
        try:
            nets.append(ipaddress.ip_network(c, strict=True))
        except ValueError:
            return f"{c!r} is not a CIDR such as 203.0.113.0/24"
    reason = world_open_reason(nets)
    if reason:
        return (f"{reason}: the API endpoint may not be open to the world or a large part of it; "
                "list your CI/VPN CIDRs, or [] for private only")
    return None


def _network(r: Reader, region: str, production: bool) -> NetworkConfig:
    cidr_text = r.string("network.cidr")
    try:
        cidr = ipaddress.ip_network(cidr_text, strict=True)
    except ValueError:
        r.fail("network.cidr", cidr_text, "expected an IPv4 network such as 10.20.0.0/16")
    else:
        if cidr.version != 4 or not cidr.is_private:
            r.fail("network.cidr", cidr_text, "expected a private (RFC 1918) IPv4 range")
        elif not 16 <= cidr.prefixlen <= 20:
            r.fail("network.cidr", cidr_text,
                   "expected a prefix from /16 to /20 (room for public and private subnets per AZ)")

    azs = r.strings("network.availabilityZones")
    if not 2 <= len(azs) <= 4 or len(set(azs)) != len(azs):
        r.fail("network.availabilityZones", list(azs),
               "expected 2 to 4 distinct availability zones (EKS needs at least 2)")
    elif region and not all(re.fullmatch(re.escape(region) + r"[a-z]", az) for az in azs):
        r.fail("network.availabilityZones", list(azs),
               f"expected zones of aws:region {region}, such as {region}a")

    nat = r.choice("network.natGateways", ("single", "onePerAz", "instance"))
    if production and nat != "onePerAz":
        r.fail("network.natGateways", nat,
               "a production stack needs onePerAz (a single NAT gateway is a single point of failure)")
    return NetworkConfig(cidr=cidr_text, availability_zones=azs, nat_gateways=nat,
                         flow_log_retention_days=r.retention("network.flowLogRetentionDays"),
                         nat_instance=_nat_instance(r) if nat == "instance" else None)


def _nat_instance(r: Reader) -> NatInstanceConfig:
    key = "network.natInstanceType"
    instance_type = r.string(key)
    # Graviton only: the user data and the AMI parameter are those of arm64 AL2023.
    if not re.fullmatch(r"[a-z][a-z0-9-]*\.[a-z0-9]+", instance_type) or not _is_graviton(instance_type):
        r.fail(key, instance_type, "expected a Graviton (arm64) EC2 instance type such as t4g.nano")
    return NatInstanceConfig(instance_type=instance_type)


def _node_group(r: Reader, group: str, production: bool) -> NodeGroupConfig:
    p = f"cluster.nodeGroups.{group}"
    types = r.strings(f"{p}.instanceTypes")
    if not types or not all(re.fullmatch(r"[a-z][a-z0-9-]*\.[a-z0-9]+", t) for t in types):
        r.fail(f"{p}.instanceTypes", list(types),
               "expected a non-empty list of EC2 instance types such as t4g.medium")
    elif len({_is_graviton(t) for t in types}) != 1:
        r.fail(f"{p}.instanceTypes", list(types),
               "expected types of one CPU architecture (all Graviton or all x86)")
    capacity = r.choice(f"{p}.capacityType", ("ON_DEMAND", "SPOT"))
    if capacity == "SPOT" and len(set(types)) < MIN_SPOT_INSTANCE_TYPES:
        r.fail(f"{p}.instanceTypes", list(types),
               f"a SPOT group needs at least {MIN_SPOT_INSTANCE_TYPES} distinct instance types "
               "(more spot pools: fewer interruptions, capacity when one pool is empty)",
               depends=(f"{p}.capacityType",))
    if group == "system" and production and capacity != "ON_DEMAND":
        r.fail(f"{p}.capacityType", capacity,
               "a production stack runs Airflow's control components ON_DEMAND")
    min_size = r.integer(f"{p}.minSize", lo=1 if group == "system" else 0, hi=100)
    max_size = r.integer(f"{p}.maxSize", lo=1, hi=100)
    desired = r.integer(f"{p}.desiredSize", lo=0, hi=100)
    if min_size > max_size:
        r.fail(f"{p}.minSize", min_size, f"expected at most {PROJECT}:{p}.maxSize ({max_size})",
               depends=(f"{p}.maxSize",))
    elif not min_size <= desired <= max_size:
        r.fail(f"{p}.desiredSize", desired, f"expected from minSize ({min_size}) to maxSize ({max_size})",
               depends=(f"{p}.minSize", f"{p}.maxSize"))
    if group == "system" and production and min_size < 2:
        r.fail(f"{p}.minSize", min_size,
               "a production stack needs at least 2 system nodes (no single point of failure)")
    return NodeGroupConfig(instance_types=types or ("t4g.medium",), capacity_type=capacity,
                           min_size=min_size, max_size=max_size, desired_size=desired,
                           disk_size_gib=r.integer(f"{p}.diskSizeGiB", lo=20, hi=1000))


def _cluster(r: Reader, project: str, stack: str, production: bool) -> ClusterConfig:
    version = r.choice("cluster.kubernetesVersion", SUPPORTED_KUBERNETES_VERSIONS)
    cidrs = r.strings("cluster.publicAccessCidrs")
    problem = public_cidr_problem(cidrs)
    if problem:
        r.fail("cluster.publicAccessCidrs", list(cidrs), problem)
    return ClusterConfig(
        name=f"{project}-{stack}",
        kubernetes_version=version,
        public_access_cidrs=cidrs,
        log_retention_days=r.retention("cluster.logRetentionDays"),
        system=_node_group(r, "system", production),
        tasks=_node_group(r, "tasks", production),
    )


def _database(r: Reader, production: bool) -> DatabaseConfig:
    engine = r.choice("database.engine", DATABASE_ENGINES)
    if production and engine != "rds":
        r.fail("database.engine", engine,
               "a production stack needs rds (backups, point-in-time recovery, Multi-AZ)")
    cls = r.string("database.instanceClass")
    if not re.fullmatch(r"db\.[a-z0-9]+\.[a-z0-9]+", cls):
        r.fail("database.instanceClass", cls, "expected an RDS class such as db.t4g.micro")
    version = r.choice("database.engineVersion", SUPPORTED_POSTGRES_MAJORS)
    # RDS gp3 starts at 20 GiB; the in-cluster dev database's volume may be smaller.
    allocated = r.integer("database.allocatedStorageGiB", lo=5, hi=65536)
    if engine != "inCluster" and allocated < 20:
        r.fail("database.allocatedStorageGiB", allocated,
               "at least 20 with database.engine rds (RDS gp3's minimum)", depends=("database.engine",))
    maximum = r.integer("database.maxAllocatedStorageGiB", lo=20, hi=65536)
    if maximum < allocated:
        r.fail("database.maxAllocatedStorageGiB", maximum,
               f"expected at least database.allocatedStorageGiB ({allocated})",
               depends=("database.allocatedStorageGiB",))
    multi_az = r.boolean("database.multiAz")
    if engine == "inCluster" and multi_az:
        r.fail("database.multiAz", multi_az,
               "false with database.engine inCluster (one pod, no standby)", depends=("database.engine",))
    if production and not multi_az:
        r.fail("database.multiAz", multi_az, "a production stack needs true")
    backups = r.integer("database.backupRetentionDays", lo=0, hi=35)
    if production and backups < 7:
        r.fail("database.backupRetentionDays", backups, "a production stack keeps backups 7 to 35 days")
    if engine == "inCluster" and version not in IN_CLUSTER_POSTGRES_MAJORS:
        r.fail("database.engineVersion", version,
               f"one of {', '.join(IN_CLUSTER_POSTGRES_MAJORS)} with database.engine inCluster "
               "(the majors with a pinned image)", depends=("database.engine",))
    return DatabaseConfig(engine=engine, instance_class=cls, engine_version=version,
                          allocated_storage_gib=allocated, max_allocated_storage_gib=maximum,
                          multi_az=multi_az, backup_retention_days=backups,
                          log_retention_days=r.retention("database.logRetentionDays"))


def _database_tls(r: Reader) -> DatabaseTlsConfig:
    identifier = r.choice("database.caCertIdentifier", RDS_CA_IDENTIFIERS)
    bundle_file = r.string("database.caBundleFile")
    if bundle_file:
        path = Path(bundle_file)
        try:
            text = path.read_bytes()
        except OSError as exc:
            r.fail("database.caBundleFile", bundle_file,
                   f"expected a readable PEM file of RDS CA certificates ({exc.strerror})")
        else:
            if b"-----BEGIN CERTIFICATE-----" not in text:
                r.fail("database.caBundleFile", bundle_file,
                       "expected a PEM file of RDS CA certificates (no BEGIN CERTIFICATE in it)")
    return DatabaseTlsConfig(ca_cert_identifier=identifier, ca_bundle_file=bundle_file)


def _airflow(r: Reader) -> AirflowConfig:
    user = r.string("airflow.adminUsername")
    if not re.fullmatch(r"[a-z][a-z0-9_.-]{2,63}", user) or user == "admin":
        r.fail("airflow.adminUsername", user,
               "expected 3-64 lowercase letters, digits, '.', '_' or '-', not 'admin'")
    email = r.string("airflow.adminEmail")
    if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
        r.fail("airflow.adminEmail", email, "expected an email address")
    repo = r.string("airflow.imageRepository")
    if not re.fullmatch(r"[a-z0-9][a-z0-9._/:-]*", repo):
        r.fail("airflow.imageRepository", repo, "expected an image repository such as apache/airflow")
    tag = r.string("airflow.imageTag")
    if not re.fullmatch(re.escape(AIRFLOW_VERSION) + r"(-[a-z0-9.-]+)?", tag):
        r.fail("airflow.imageTag", tag,
               f"expected a tag of Airflow {AIRFLOW_VERSION} (e.g. {AIRFLOW_VERSION}-python3.11), "
               "the version the chart and the DAG tests are pinned to")
    return AirflowConfig(high_availability=r.boolean("airflow.highAvailability"),
                         secrets_revision=r.integer("airflow.secretsRevision", lo=1),
                         admin_username=user, admin_email=email,
                         image_repository=repo, image_tag=tag,
                         database_cleanup_retention_days=r.integer(
                             "airflow.databaseCleanupRetentionDays", lo=7, hi=3650),
                         pools=_pools(r))


_POOL_NAME = re.compile(r"[A-Za-z0-9_.-]{1,256}")


def _pools(r: Reader) -> tuple[tuple[str, int], ...]:
    raw = r.string("airflow.pools")
    allowed = 'a JSON object of pool name to slots, e.g. {"analytics_db": 4}'
    try:
        pools = json.loads(raw)
    except ValueError:
        pools = None
    if not isinstance(pools, dict):
        r.fail("airflow.pools", raw, f"expected {allowed}")
        return ()
    for name, slots in pools.items():
        if not _POOL_NAME.fullmatch(name) or name == "default_pool":
            r.fail("airflow.pools", raw, f"pool {name!r}: expected 1-256 letters, digits, '.', '_' "
                   "or '-' (default_pool is Airflow's own)")
        elif isinstance(slots, bool) or not isinstance(slots, int) or not 1 <= slots <= 10000:
            r.fail("airflow.pools", raw, f"pool {name!r}: slots must be a whole number from 1 to 10000")
    return tuple(sorted(pools.items()))


_GIT_REF = re.compile(r"(?!.*\.\.)(?!/)(?!.*/$)[A-Za-z0-9._/-]+")


def _git_host(repo: str) -> str | None:
    m = re.fullmatch(r"ssh://(?:[^@/]+@)?([^/:]+)(?::\d+)?/.+", repo) or \
        re.fullmatch(r"[A-Za-z0-9._-]+@([^:/]+):.+", repo)
    return m.group(1) if m else None


def without_userinfo(repo: str) -> str:
    """A Git URL with any ``user[:password]@`` of a URL form removed (what the
    ``dagsRepo`` export shows). scp-like ``git@host:path`` has a user name and no
    password, and is kept: without the user it is not the same address."""
    return re.sub(r"^([a-z][a-z0-9+.-]*://)[^/@]*@", r"\1", repo)


def _dags(r: Reader) -> DagsConfig:
    repo = r.string("dags.repo").strip()
    is_https = bool(re.fullmatch(r"https://[^/\s]+/\S+", repo))
    host = _git_host(repo)
    userinfo = re.match(r"([A-Za-z][A-Za-z0-9+.-]*)://([^/@]*)@", repo)
    if userinfo and (userinfo.group(1) != "ssh" or ":" in userinfo.group(2)):
        # https://user:token@host/..., https://token@host/... or ssh://user:password@...:
        # the credential would sit in plaintext in the stack file, the Helm values and the export.
        r.fail("dags.repo", without_userinfo(repo) + " (credentials removed)",
               "no credentials in the URL: put a token in dags.httpsToken "
               "(pulumi config set --secret airflow-eks:dags.httpsToken <token>) or use an SSH deploy key")
    elif not is_https and host is None:
        # Not a URL we know; whatever precedes an '@' may be a credential, so it is not shown.
        r.fail("dags.repo", re.sub(r"^(?:[A-Za-z][A-Za-z0-9+.-]*://)?[^@]*@", "***@", repo),
               "expected an https://, ssh:// or git@host:path Git URL")

    branch, ref = r.string("dags.branch"), r.string("dags.ref")
    for key, value in (("dags.branch", branch), ("dags.ref", ref)):
        if r.is_set(key) and not value.strip():
            r.fail(key, value, "expected a non-empty branch, tag or commit")
        elif value and not _GIT_REF.fullmatch(value):
            r.fail(key, value, "expected a valid git branch, tag or commit name")
    one_of = ("set exactly one of airflow-eks:dags.branch (follow a branch) and "
              "airflow-eks:dags.ref (pin a tag or commit)")
    if branch and ref:
        r.fail("dags.ref", ref, one_of)
    elif not branch and not ref:
        explicit_ref = r.is_set("dags.ref") or (not r.ok("dags.ref"))
        key = "dags.ref" if explicit_ref and r.ok("dags.branch") else "dags.branch"
        r.fail(key, "", f"expected a non-empty branch, tag or commit; {one_of}")

    sub_path = r.string("dags.subPath")
    if sub_path.startswith("/") or ".." in sub_path.split("/"):
        r.fail("dags.subPath", sub_path, "expected a relative path inside the repository")

    known_hosts = r.string("dags.knownHosts").strip()
    ssh_key = token = None
    key_raw, token_raw = r.secret("dags.sshPrivateKey"), r.secret("dags.httpsToken")
    if is_https:
        if key_raw:
            r.fail("dags.sshPrivateKey", key_raw, "only used with an ssh:// or git@ repo")
        if token_raw:
            token = pulumi.Output.secret(token_raw.strip())
    elif host is not None:
        if token_raw:
            r.fail("dags.httpsToken", token_raw, "only used with an https:// repo")
        if not key_raw or "PRIVATE KEY-----" not in key_raw:
            r.fail("dags.sshPrivateKey", key_raw,
                   "an SSH repo needs a deploy key (pulumi config set --secret dags.sshPrivateKey < key)")
        else:
            # git-sync rejects keys without the final newline ("invalid key format").
            ssh_key = pulumi.Output.secret(key_raw.strip() + "\n")
        hosts = {line.split()[0] for line in known_hosts.splitlines() if len(line.split()) >= 3}
        if not any(host in h.split(",") for h in hosts):
            r.fail("dags.knownHosts", known_hosts,
                   f"expected a pinned host key for {host}; host-key checking is never disabled")

    return DagsConfig(
        repo=repo, revision=branch or ref, revision_is_branch=bool(branch), sub_path=sub_path,
        sync_period_seconds=r.integer("dags.syncPeriodSeconds", lo=5, hi=60),
        known_hosts=known_hosts, ssh_private_key=ssh_key,
        https_username=r.string("dags.httpsUsername"), https_token=token)


# ------------------------------------------------------------------ ui.* (issue 14)

_HOSTNAME = re.compile(r"(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")


def world_open(cidrs: Sequence[str]) -> bool:
    """True when the networks, together, admit (nearly) every address: their
    union covers 0.0.0.0/0 or ::/0, or one is shorter than /8 (IPv6: /32).
    The rule of :func:`public_cidr_problem` (policy/cidr_rules.py)."""
    return public_cidr_problem(cidrs) is not None


def _ui(r: Reader, region: str, vpc_cidr: str, sso: SsoConfig) -> UiConfig:
    exposure = r.choice("ui.exposure", ("portForward", "internal", "internet"))
    hostname = r.string("ui.hostname").strip().lower().rstrip(".")
    zone = r.string("ui.hostedZoneId").strip()
    certificate = r.string("ui.certificateArn").strip()
    cidrs = r.strings("ui.allowedCidrs")

    if exposure == "portForward":
        for key, value in (("ui.hostname", hostname), ("ui.hostedZoneId", zone),
                           ("ui.certificateArn", certificate), ("ui.allowedCidrs", list(cidrs))):
            if value:
                r.fail(key, value, "only used with ui.exposure internal or internet (ui.exposure is portForward)",
                       depends=("ui.exposure",))
        return UiConfig(exposure=exposure, hostname="", hosted_zone_id="", certificate_arn="",
                        allowed_cidrs=())
    if exposure == "internet" and not sso.enabled:
        r.fail("ui.exposure", exposure,
               "an internet-facing UI needs single sign-on: set sso.issuerUrl, sso.clientId and "
               "sso.clientSecret, or use internal (VPC/VPN) or portForward",
               depends=("sso.issuerUrl", "sso.clientId", "sso.clientSecret"))

    if not hostname:
        r.fail("ui.hostname", hostname, f"required with ui.exposure {exposure}: "
               "the UI's DNS name, e.g. airflow.example.com")
    elif not _HOSTNAME.fullmatch(hostname):
        r.fail("ui.hostname", hostname, "expected a DNS name such as airflow.example.com")
    if zone and not re.fullmatch(r"Z[A-Z0-9]{1,31}", zone):
        r.fail("ui.hostedZoneId", zone, "expected a Route 53 hosted zone id such as Z0123456789ABCDEFGHIJ")
    if certificate and not re.fullmatch(
            r"arn:aws[a-z-]*:acm:" + re.escape(region) + r":\d{12}:certificate/[0-9a-f-]{36}", certificate):
        r.fail("ui.certificateArn", certificate,
               f"expected an ACM certificate ARN in aws:region {region} "
               "(a load balancer uses certificates of its own region)", depends=("aws:region",))
    if not zone and not certificate:
        r.fail("ui.hostedZoneId", zone,
               "the HTTPS listener needs a certificate: set ui.hostedZoneId (the program creates "
               "and DNS-validates one) or ui.certificateArn")

    bad = [c for c in cidrs if not _is_network(c)]
    if bad:
        r.fail("ui.allowedCidrs", list(cidrs), f"{bad[0]!r} is not a CIDR such as 10.8.0.0/16")
    # World-open only for an Internet-facing UI, which the check above
    # allows only with single sign-on.
    elif exposure != "internet" and world_open(cidrs):
        r.fail("ui.allowedCidrs", list(cidrs),
               "may not admit the whole Internet (nor a prefix shorter than /8, /32 for IPv6) "
               f"with ui.exposure {exposure}; list your VPN or office CIDRs")
    return UiConfig(exposure=exposure, hostname=hostname, hosted_zone_id=zone, certificate_arn=certificate,
                    allowed_cidrs=cidrs or (vpc_cidr,))


def _is_network(cidr: str) -> bool:
    try:
        ipaddress.ip_network(cidr, strict=True)
    except ValueError:
        return False
    return True


# ------------------------------------------------------------------ sso.* (issue 14 §4)

# The roles the FAB auth manager creates (airflow.providers.fab ... security_manager).
AIRFLOW_ROLES = ("Admin", "Op", "User", "Viewer")
# The OAuth provider's name in FAB: part of the redirect URI
# https://<host>/auth/oauth-authorized/oidc registered at the identity provider.
SSO_PROVIDER = "oidc"
# Single sign-on off (no sso.* keys set).
SSO_OFF = SsoConfig(issuer_url="", client_id="", client_secret=None, role_mapping=(), default_role="")


def _sso(r: Reader, raw: Mapping[str, Any]) -> SsoConfig:
    issuer = r.string("sso.issuerUrl").strip().rstrip("/")
    client_id = r.string("sso.clientId").strip()
    secret_raw = raw.get(f"{PROJECT}:sso.clientSecret")
    mapping_raw = r.strings("sso.roleMapping")
    default_role = r.string("sso.defaultRole").strip()
    core = {"sso.issuerUrl": issuer, "sso.clientId": client_id, "sso.clientSecret": secret_raw}
    if not any(core.values()):
        for key, value in (("sso.roleMapping", list(mapping_raw)), ("sso.defaultRole", default_role)):
            if value:
                raise ConfigError(key, value, "only used with single sign-on: set sso.issuerUrl, "
                                  "sso.clientId and sso.clientSecret too")
        return SSO_OFF
    for key, value in core.items():
        if not value:
            given = ", ".join(k for k, v in core.items() if v)
            raise ConfigError(key, value, f"single sign-on is half-configured ({given} set): set "
                              "sso.issuerUrl, sso.clientId and sso.clientSecret together",
                              secret=key == "sso.clientSecret")
    if not re.fullmatch(r"https://[^/\s?#]+(/[^\s?#]*)?", issuer) or issuer.endswith("/.well-known/openid-configuration"):
        raise ConfigError("sso.issuerUrl", issuer, "expected the OIDC issuer as an https:// URL, e.g. "
                          "https://login.microsoftonline.com/<tenant>/v2.0 (without /.well-known/...)")
    if not re.fullmatch(r"[^\s]{1,255}", client_id):
        raise ConfigError("sso.clientId", client_id, "expected the client id, without spaces")
    mapping = []
    for entry in mapping_raw:
        group, sep, role = entry.rpartition("=")
        if not sep or not group.strip() or role.strip() not in AIRFLOW_ROLES:
            raise ConfigError("sso.roleMapping", list(mapping_raw),
                              f"{entry!r}: expected '<IdP group>=<role>' with a role of {', '.join(AIRFLOW_ROLES)}")
        mapping.append((group.strip(), role.strip()))
    if default_role and default_role not in AIRFLOW_ROLES:
        raise ConfigError("sso.defaultRole", default_role,
                          f"expected one of {', '.join(AIRFLOW_ROLES)}, or empty to refuse users in no mapped group")
    if not mapping and not default_role:
        raise ConfigError("sso.roleMapping", [], "with no sso.defaultRole every user would be refused: "
                          "map at least one group ('<IdP group>=Admin') or set sso.defaultRole")
    return SsoConfig(issuer_url=issuer, client_id=client_id,
                     client_secret=pulumi.Output.secret(str(secret_raw).strip()),
                     role_mapping=tuple(mapping), default_role=default_role)


def check_ui_hostname_in_zone(ui: UiConfig, zone_name: str) -> None:
    """Refuses a ui.hostname that the hosted zone ui.hostedZoneId cannot hold.
    ``zone_name`` is the zone's name as Route 53 reports it (a data-source call
    of :class:`RegionCatalog`, before any resource)."""
    zone = zone_name.strip().lower().rstrip(".")
    if ui.hosted_zone_id and not (ui.hostname == zone or ui.hostname.endswith("." + zone)):
        raise ConfigError("ui.hostname", ui.hostname,
                          f"expected a name inside hosted zone {ui.hosted_zone_id} ({zone})")


# Airflow ids (airflow.utils.helpers.KEY_REGEX, no "..") that are also valid in
# a Secrets Manager name (letters, digits and /_+=.@-): the id becomes the last
# part of the secret's name, so "/" (a path), "@" and "+" are refused too.
_SECRET_ID = re.compile(r"(?!.*\.\.)[A-Za-z0-9_.-]{1,200}")
# Airflow's JSON connection format. SecretsManagerBackend keeps only these
# (and aliases of them), so anything else would silently vanish.
CONNECTION_JSON_KEYS = ("conn_type", "host", "login", "password", "schema", "port", "extra")
_URI_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
SECRET_MAX_BYTES = 65536


def _secret_map(raw: Mapping[str, Any], key: str, secret_keys: Collection[str]) -> dict[str, Any]:
    """A secret config key holding one JSON object (id -> value). No error
    carries the value or json's message (which quotes the text around it)."""
    value = raw.get(f"{PROJECT}:{key}")
    if value in (None, "", "{}", {}):
        return {}
    if f"{PROJECT}:{key}" not in secret_keys:
        raise ConfigError(key, value, f"must be a secret: pulumi config set --secret {key} < {key}.json",
                          secret=True)
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            value = None
    if not isinstance(value, dict):
        raise ConfigError(key, value, "expected one JSON object of id to value, e.g. "
                          f"pulumi config set --secret {key} < {key}.json", secret=True)
    for ident in value:
        if not _SECRET_ID.fullmatch(ident):
            raise ConfigError(key, value, f"id {ident!r}: expected 1-200 letters, digits, '_', '-' "
                              "or '.' (no '..'), what both Airflow and Secrets Manager accept",
                              secret=True)
    return value


def _connection_value(conn_id: str, value: Any) -> str:
    """Canonical JSON for a JSON connection (reformatting changes nothing), the
    URI as given for a URI; anything else is refused without quoting it."""
    bad = ConfigError("connections", value, f"connection {conn_id!r}: expected Airflow's connection "
                      "JSON (an object with conn_type and any of " + ", ".join(CONNECTION_JSON_KEYS[1:])
                      + ") or a URI such as postgresql://user:password@host:5432/db", secret=True)
    if isinstance(value, str) and len(value.encode()) > SECRET_MAX_BYTES:
        raise bad
    if isinstance(value, str) and not value.strip().startswith("{"):
        uri = value.strip()
        if not _URI_SCHEME.match(uri) or any(c.isspace() for c in uri):
            raise bad
        try:
            urlsplit(uri).port  # noqa: B018 - raises on a port that is not a number
        except ValueError:
            raise bad from None
        return uri
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise bad from None
    if not isinstance(value, dict) or not set(value) <= set(CONNECTION_JSON_KEYS) \
            or not isinstance(value.get("conn_type"), str) or not value["conn_type"]:
        raise bad
    port = value.get("port")
    if port is not None and (isinstance(port, bool) or not str(port).isdigit()):
        raise bad
    extra = value.get("extra")
    if isinstance(extra, str):
        try:
            extra = json.loads(extra)
        except json.JSONDecodeError:
            raise bad from None
    if extra is not None and not isinstance(extra, dict):
        raise bad
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _variable_value(key: str, value: Any) -> str:
    """Variables are strings; JSON values (a number, a map) are stored as JSON."""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    if len(text.encode()) > SECRET_MAX_BYTES:
        raise ConfigError("variables", value, f"Variable {key!r}: at most {SECRET_MAX_BYTES} bytes "
                          "(a Secrets Manager secret's limit)", secret=True)
    return text


def _secrets(raw: Mapping[str, Any], secret_keys: Collection[str]) -> SecretsConfig:
    connections = {conn_id: pulumi.Output.secret(_connection_value(conn_id, v))
                   for conn_id, v in sorted(_secret_map(raw, "connections", secret_keys).items())}
    variables = {k: pulumi.Output.secret(_variable_value(k, v))
                 for k, v in sorted(_secret_map(raw, "variables", secret_keys).items())}
    return SecretsConfig(connections=connections, variables=variables)


class RegionCatalog(Protocol):
    """What the region really offers; :data:`AWS_CATALOG` asks AWS (data sources)."""

    def zones(self, region: str) -> Sequence[str]:
        """Names of the region's available zones."""
        ...

    def offered(self, region: str, instance_types: Sequence[str]) -> Sequence[str]:
        """Which of ``instance_types`` the region offers."""
        ...

    def hosted_zone_name(self, zone_id: str) -> str:
        """The name of a Route 53 hosted zone."""
        ...


class _AwsCatalog:
    """Data-source calls at plan time (mocked by the recording engine)."""

    def zones(self, region: str) -> Sequence[str]:
        return aws.get_availability_zones(region=region, state="available").names

    def offered(self, region: str, instance_types: Sequence[str]) -> Sequence[str]:
        return aws.ec2.get_instance_type_offerings(
            region=region, location_type="region",
            filters=[aws.ec2.GetInstanceTypeOfferingsFilterArgs(
                name="instance-type", values=list(instance_types))]).instance_types

    def hosted_zone_name(self, zone_id: str) -> str:
        return aws.route53.get_zone(zone_id=zone_id).name


AWS_CATALOG: RegionCatalog = _AwsCatalog()


def _check_region_offers(r: Reader, cfg: StackConfig, catalog: RegionCatalog) -> None:
    """Zones, instance types and the UI's hosted zone against what AWS says.
    Only with a valid region; a key that already failed is not looked up."""
    zones = set(catalog.zones(cfg.region))
    wrong = [az for az in cfg.network.availability_zones if az not in zones]
    if wrong and r.ok("network.availabilityZones"):
        r.fail("network.availabilityZones", list(cfg.network.availability_zones),
               f"{', '.join(wrong)} is not a zone of {cfg.region}; its zones: {', '.join(sorted(zones))}")
    wanted = [(f"cluster.nodeGroups.{group}.instanceTypes", ng.instance_types)
              for group, ng in (("system", cfg.cluster.system), ("tasks", cfg.cluster.tasks))]
    if cfg.network.nat_instance:
        wanted.append(("network.natInstanceType", (cfg.network.nat_instance.instance_type,)))
    for key, types in wanted:
        if not r.ok(key):
            continue
        offered = set(catalog.offered(cfg.region, types))
        missing = [t for t in types if t not in offered]
        if missing:
            value = list(types) if key.endswith("instanceTypes") else types[0]
            r.fail(key, value, f"{', '.join(missing)} is not an instance type offered in {cfg.region}")
    if cfg.ui.load_balanced and cfg.ui.hosted_zone_id and r.ok("ui.hostname", "ui.hostedZoneId"):
        r.run(check_ui_hostname_in_zone, cfg.ui, catalog.hosted_zone_name(cfg.ui.hosted_zone_id))


_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+")


def _monitoring(r: Reader, raw: Mapping[str, Any], production: bool,
                secret_keys: Collection[str]) -> MonitoringConfig:
    emails = r.strings("monitoring.alertEmails")
    for email in emails:
        if not _EMAIL.fullmatch(email) or len(email) > 254:
            raise ConfigError("monitoring.alertEmails", list(emails),
                              f"{email!r} is not an email address such as oncall@example.com")
    if len(set(emails)) != len(emails):
        raise ConfigError("monitoring.alertEmails", list(emails), "expected each address once")
    endpoint_raw = raw.get(f"{PROJECT}:monitoring.httpsEndpoint")
    endpoint = None
    if endpoint_raw:
        if f"{PROJECT}:monitoring.httpsEndpoint" not in secret_keys:
            raise ConfigError("monitoring.httpsEndpoint", endpoint_raw,
                              "must be a secret: pulumi config set --secret monitoring.httpsEndpoint <url>",
                              secret=True)
        if not re.fullmatch(r"https://[^/\s:@]+(:\d+)?(/\S*)?", str(endpoint_raw).strip()):
            raise ConfigError("monitoring.httpsEndpoint", endpoint_raw,
                              "expected an https:// URL (SNS delivers alarms there)", secret=True)
        endpoint = pulumi.Output.secret(str(endpoint_raw).strip())
    if production and not emails and endpoint is None:
        raise ConfigError("monitoring.alertEmails", [],
                          "a production stack needs at least one address (or monitoring.httpsEndpoint): "
                          "alarms must reach someone")
    return MonitoringConfig(alert_emails=emails, https_endpoint=endpoint,
                            log_retention_days=r.retention("monitoring.logRetentionDays"),
                            dashboard=r.boolean("monitoring.dashboard"))


# ------------------------------------------------------- emrServerless.* (issue 18)

_S3_PREFIX = re.compile(r"[A-Za-z0-9_.=-]+(/[A-Za-z0-9_.=-]+)*/")


def _prefixes(r: Reader, key: str) -> tuple[str, ...]:
    prefixes = r.strings(key)
    if not prefixes:
        raise ConfigError(key, list(prefixes), "expected at least one prefix")
    for p in prefixes:
        if not _S3_PREFIX.fullmatch(p) or {".", ".."} & set(p.split("/")):
            raise ConfigError(key, list(prefixes),
                              f"expected data-bucket prefixes such as 'silver/stackexchange/' "
                              f"(no leading /, no wildcards, ending with /); {p!r} is not one")
    return prefixes


def _emr_serverless(r: Reader) -> EmrServerlessConfig:
    label = r.string("emrServerless.releaseLabel")
    m = re.fullmatch(r"emr-(\d+)\.(\d+)\.(\d+)", label)
    if not m or int(m.group(1)) < 7:
        raise ConfigError("emrServerless.releaseLabel", label,
                          "expected a pinned EMR release emr-<major>.<minor>.<patch>, 7.0.0 or later "
                          "(arm64 and job concurrency)")
    vcpu = r.integer("emrServerless.maxVcpu", lo=1, hi=400)
    memory = r.integer("emrServerless.maxMemoryGiB", lo=2, hi=3000)
    # EMR Serverless workers have 2 to 8 GiB per vCPU (the smallest worker is
    # 1 vCPU / 2 GiB); outside that band one of the two limits is unreachable.
    if not 2 * vcpu <= memory <= 8 * vcpu:
        raise ConfigError("emrServerless.maxMemoryGiB", memory,
                          f"expected 2 to 8 GiB per vCPU of emrServerless.maxVcpu ({vcpu}): "
                          f"{2 * vcpu} to {min(8 * vcpu, 3000)}")
    reads = _prefixes(r, "emrServerless.readPrefixes")
    writes = _prefixes(r, "emrServerless.writePrefixes")
    for p in writes:
        if p.startswith(EMR_SCRIPT_PREFIX) or EMR_SCRIPT_PREFIX.startswith(p):
            raise ConfigError("emrServerless.writePrefixes", list(writes),
                              f"a job must not write its own code: {p!r} overlaps {EMR_SCRIPT_PREFIX!r}")
    return EmrServerlessConfig(
        enabled=r.boolean("emrServerless.enabled"), release_label=label, max_vcpu=vcpu,
        max_memory_gib=memory,
        idle_timeout_minutes=r.integer("emrServerless.idleTimeoutMinutes", lo=1, hi=60),
        read_prefixes=reads, write_prefixes=writes)


def parse_stack_config(raw: Mapping[str, Any], *, stack: str,
                       decls: Mapping[str, Declaration] | None = None,
                       secret_keys: Sequence[str] | None = None,
                       catalog: RegionCatalog | None = None) -> StackConfig:
    """Validates raw config (as Pulumi passes it: full keys to values) into a StackConfig.

    ``secret_keys``: the keys set with ``--secret`` (None: not known, not checked).
    ``catalog``: what the region offers (None: zones and instance types are checked
    by form only). Raises one :class:`ConfigError` with every independent error."""
    decls = decls if decls is not None else load_declarations()
    r = Reader(raw, decls, secret_keys)
    _check_keys(r, raw, decls)
    r.check_secrets_encrypted()
    region = _region(r, raw)
    production = r.boolean("production")
    sso = r.run(_sso, r, raw) or SSO_OFF
    parts = dict(
        network=r.run(_network, r, region, production),
        cluster=r.run(_cluster, r, PROJECT, stack, production),
        database=r.run(_database, r, production),
        database_tls=r.run(_database_tls, r),
        buckets=r.run(lambda: BucketsConfig(
            task_log_retention_days=r.integer("buckets.taskLogRetentionDays", lo=1, hi=3650),
            noncurrent_version_retention_days=r.integer("buckets.noncurrentVersionRetentionDays",
                                                        lo=1, hi=3650),
            access_log_retention_days=r.integer("buckets.accessLogRetentionDays", lo=1, hi=3650))),
        airflow=r.run(_airflow, r),
        dags=r.run(_dags, r),
        ui=r.run(_ui, r, region, r.string("network.cidr"), sso),
        # Unknown secret keys (None): every value counts as encrypted here.
        secrets=r.run(_secrets, raw, raw.keys() if secret_keys is None else secret_keys),
        monitoring=r.run(_monitoring, r, raw, production,
                         raw.keys() if secret_keys is None else secret_keys),
        emr_serverless=r.run(_emr_serverless, r),
    )
    cfg = None
    if all(v is not None for v in parts.values()):
        cfg = StackConfig(project=PROJECT, stack=stack, region=region, production=production,
                          sso=sso, **parts)  # type: ignore[arg-type]
        if catalog is not None and region:
            r.run(_check_region_offers, r, cfg, catalog)
    if r.errors or cfg is None:
        raise ConfigError.of(r.errors, stack)
    return cfg


def runtime_config() -> dict[str, Any]:
    """All config the Pulumi engine handed to this program (full keys to raw values)."""
    merged = dict(pulumi.runtime.config.get_config_env() or {})
    merged.update(pulumi.runtime.config.CONFIG.get())
    return merged


def runtime_secret_keys(raw: Mapping[str, Any]) -> list[str]:
    """The keys whose values the engine holds as secrets (set with --secret)."""
    env = set(pulumi.runtime.config.get_config_secret_keys_env())
    return sorted(k for k in raw if k in env or pulumi.runtime.config.is_config_secret(k))


def load_stack_config() -> StackConfig:
    """Parses the running stack's config, checking zones and instance types with
    AWS. Called once, by __main__.py."""
    raw = runtime_config()
    return parse_stack_config(raw, stack=pulumi.get_stack(), secret_keys=runtime_secret_keys(raw),
                              catalog=AWS_CATALOG)
