"""Airflow: the official Apache Airflow Helm chart, installed on the cluster.

Creates:
- the ``airflow`` namespace (Pod Security: baseline enforced, restricted warned);
- Kubernetes Secrets that the chart references by name, never as values:
  the metadata DB connection (through pgbouncer), pgbouncer's config and
  stats connection (scram-sha-256; to RDS, TLS verifying the server's
  certificate and name against the RDS CA, which the chart mounts from
  ``pgbouncer.ssl.ca``), a Fernet key, the API secret
  key, the JWT secret, the admin password, and the git credentials (an SSH
  deploy key, or an HTTPS token), and with single sign-on the OIDC client
  secret and the group -> role mapping (``airflow-sso``). The keys are generated once (pulumi-random)
  and live in the state as secrets; ``airflow.secretsRevision`` rotates them
  on purpose and rolls the pods;
- one IRSA role per Airflow component, each with the least it needs on the
  logs and data buckets, and, for the components that resolve Connections and
  Variables, read access to the stack's Secrets Manager prefixes
  (:func:`secrets_statements`);
- a ``helm.v3.Release`` of the pinned chart (components/helm.py): real Helm,
  so that the chart's jobs run, with a timeout that covers the first DB
  migration, and ``scripts/helm_postrender.py`` as post-renderer (Jobs named
  after their content). Values are ``helm/values.yaml`` (+ ``values-ha.yaml``)
  deep-merged with the computed ones from :func:`computed_values`, among them
  the SecretsManagerBackend's prefixes (``[secrets] backend_kwargs``).

Fernet keys come in two slots, one for odd and one for even
``secretsRevision`` values: a bump regenerates the other slot only, so the
Secret holds "new,old" (Airflow's MultiFernet), the migration Job's
``airflow rotate-fernet-key`` re-encrypts everything with "new", and the next
bump replaces "old".

The API server's ``webserver_config.py`` is ``helm/api_server_config.py`` as
is (FAB auth manager: password login, or OIDC single sign-on from its
environment, :func:`sso_values`).
"""

from __future__ import annotations

import hashlib
import json
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.config import AIRFLOW_VERSION, AirflowConfig, DagsConfig, SsoConfig, read_yaml
from components.helm import pinned_release
from components.iam import Condition, Statement, StatementArgs
from components.irsa import IrsaRole, IrsaRoleArgs

CHART = "airflow"
CHART_REPO = "https://airflow.apache.org"
# Pinned by version (what Helm installs from CHART_REPO) and by the package's
# sha256 (what the tests render: tests/helm/chart.py refuses another digest).
# Bumping it: README, "Versions and upgrades".
CHART_VERSION = "1.22.0"
CHART_SHA256 = "1f7d1dfe3d58e2c54899950aba907a43625a18c8b6fb3c54760c21592129a5b6"
# Run by Helm over the rendered manifests; relative to the project directory,
# where Pulumi starts the Kubernetes provider (no machine-specific path in the
# Release's inputs).
POSTRENDER = "./scripts/helm_postrender.py"
RELEASE = "airflow"
NAMESPACE = "airflow"
API_PORT = 8080
PGBOUNCER_PORT = 6543
# Where chart 1.22.0 mounts `pgbouncer.ssl.ca` (Secret <release>-pgbouncer-certificates,
# key root.crt) in the pgbouncer container.
PGBOUNCER_CA_FILE = "/etc/pgbouncer/root.crt"
LOGS_PREFIX = "task-logs"
LOGS_CONN_ID = "aws_logs"
HELM_DIR = Path(__file__).resolve().parent.parent / "helm"
API_SERVER_CONFIG = HELM_DIR / "api_server_config.py"
SSO_SECRET = f"{RELEASE}-sso"

# Service accounts as the chart names them (release "airflow"); the chart
# creates them and binds its RBAC to these names, so we only annotate them.
SERVICE_ACCOUNTS = {
    # The KubernetesExecutor's pods: workers.kubernetes.serviceAccount.
    "workers": f"{RELEASE}-worker-kubernetes",
    "scheduler": f"{RELEASE}-scheduler",
    "apiServer": f"{RELEASE}-api-server",
    "triggerer": f"{RELEASE}-triggerer",
    "dagProcessor": f"{RELEASE}-dag-processor",
}
_IRSA_SUFFIX = {"workers": "worker", "scheduler": "scheduler", "apiServer": "api-server",
                "triggerer": "triggerer", "dagProcessor": "dag-processor"}


@dataclass(frozen=True, kw_only=True)
class AirflowArgs:
    """Inputs of :class:`Airflow`."""

    provider: k8s.Provider
    """Kubernetes provider of the cluster."""
    oidc_provider_arn: pulumi.Input[str]
    """Cluster OIDC provider ARN, for IRSA."""
    oidc_provider_url: pulumi.Input[str]
    """Cluster OIDC issuer URL, for IRSA."""
    region: str
    """AWS region of the buckets."""
    settings: AirflowConfig
    """Validated Airflow settings."""
    dags: DagsConfig
    """Validated git-sync settings."""
    metadata_connection_url: pulumi.Output[str]
    """Secret URL of the metadata database; only pgbouncer connects to it."""
    logs_bucket_name: pulumi.Input[str]
    """Bucket for remote task logs."""
    logs_bucket_arn: pulumi.Input[str]
    """ARN of the logs bucket."""
    data_bucket_name: pulumi.Input[str]
    """Bucket DAGs read and write."""
    data_bucket_arn: pulumi.Input[str]
    """ARN of the data bucket."""
    kms_key_arn: pulumi.Input[str]
    """Key of the buckets' SSE-KMS encryption."""
    system_node_selector: dict[str, str]
    """Where Airflow's long-running components run."""
    tasks_node_selector: dict[str, str]
    """Where task pods run."""
    tasks_taint_key: str
    """Taint of the tasks node group, tolerated by task pods only."""
    connections_prefix: str
    """Secrets Manager prefix of Airflow Connections (``airflow-eks/<stack>/connections``)."""
    variables_prefix: str
    """Secrets Manager prefix of Airflow Variables (``airflow-eks/<stack>/variables``)."""
    secrets_read_arns: Sequence[pulumi.Input[str]]
    """ARN patterns of the two prefixes, the only secrets Airflow may read."""
    extra_values: Mapping[str, Any] | None = None
    """Values merged last (the UI's ALB Ingress, components/lb_controller.py); None: none."""
    release_depends_on: Sequence[pulumi.Resource] = ()
    """What must be in place before the release (the Load Balancer Controller, an issued certificate)."""
    metadata_server_tls: bool = True
    """pgbouncer -> database over TLS, verifying the server (RDS). False only for
    ``database.engine: inCluster`` (dev): plaintext to a Service of the cluster's
    own network, admitted by a NetworkPolicy from Airflow's namespace only."""
    metadata_server_ca: pulumi.Input[str] | None = None
    """PEM of the CA certificate that signs the RDS server certificate
    (``Database.ca_certificate``); required with ``metadata_server_tls``."""
    sso: SsoConfig | None = None
    """Single sign-on through the identity provider; None or disabled: password login."""
    extra_env: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """More environment for every Airflow container, task pods included
    (StatsD settings, ``AIRFLOW_VAR_ALERTS_TOPIC_ARN``)."""
    alerts_topic_arn: pulumi.Input[str] | None = None
    """The stack's alarm topic: task pods may publish failure notices to it."""
    worker_statements: Sequence[pulumi.Output[StatementArgs]] = ()
    """More permissions for the task pods' role (e.g. EmrServerless.task_statements)."""
    worker_variables: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """More Airflow Variables for every pod, name -> value (``AIRFLOW_VAR_<NAME>``)."""


# ------------------------------------------------------------- pure helpers


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Helm's merge: maps merge recursively, anything else in ``override`` wins."""
    # Maps are copied level by level; leaves are shared, as they may be
    # Outputs (which cannot be deep-copied) and are never mutated.
    merged = {k: deep_merge(v, {}) if isinstance(v, Mapping) else v for k, v in base.items()}
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def static_values(high_availability: bool) -> dict[str, Any]:
    """helm/values.yaml, with helm/values-ha.yaml over it for HA stacks."""
    values = read_yaml(HELM_DIR / "values.yaml")
    if high_availability:
        values = deep_merge(values, read_yaml(HELM_DIR / "values-ha.yaml"))
    return values


@dataclass(frozen=True)
class _Url:
    username: str
    password: str
    host: str
    port: int
    database: str


def _parse(url: str) -> _Url:
    parts = urlsplit(url)
    return _Url(unquote(parts.username or ""), unquote(parts.password or ""),
                parts.hostname or "", parts.port or 5432, parts.path.lstrip("/"))


def pgbouncer_ini(url: str, pool_size: int, max_client_conn: int, server_tls: bool = True,
                  ca_file: str = PGBOUNCER_CA_FILE) -> str:
    """pgbouncer.ini: scram-sha-256 from clients; to RDS, TLS that verifies the
    server's certificate chain against ``ca_file`` (the RDS CA) and its name
    against the ``host=`` of [databases], the instance's DNS name
    (``verify-full``). ``server_tls=False``: the in-cluster dev database, no TLS."""
    db = _parse(url)
    return "\n".join([
        "[databases]",
        f"{RELEASE}-metadata = host={db.host} dbname={db.database} port={db.port} pool_size={pool_size}",
        "",
        "[pgbouncer]",
        "pool_mode = transaction",
        f"listen_port = {PGBOUNCER_PORT}",
        "listen_addr = *",
        "auth_type = scram-sha-256",
        "auth_file = /etc/pgbouncer/users.txt",
        f"stats_users = {db.username}",
        "ignore_startup_parameters = extra_float_digits",
        f"max_client_conn = {max_client_conn}",
        "verbose = 0",
        "log_disconnections = 0",
        "log_connections = 0",
        *(["server_tls_sslmode = verify-full", f"server_tls_ca_file = {ca_file}",
           "server_tls_ciphers = normal"] if server_tls
          else ["server_tls_sslmode = disable"]),
        "",
    ])


def pgbouncer_users(url: str) -> str:
    """pgbouncer's auth_file: the one user, quoted as pgbouncer expects."""
    db = _parse(url)
    return f'"{db.username}" "{db.password}"\n'


def metadata_via_pgbouncer(url: str) -> str:
    """What Airflow connects to: pgbouncer's service, in-cluster."""
    db = _parse(url)
    return (f"postgresql://{db.username}:{db.password}@{RELEASE}-pgbouncer.{NAMESPACE}:"
            f"{PGBOUNCER_PORT}/{RELEASE}-metadata?sslmode=disable")


def pgbouncer_stats(url: str) -> str:
    """Connection of pgbouncer's metrics exporter sidecar (same pod)."""
    db = _parse(url)
    return f"postgresql://{db.username}:{db.password}@127.0.0.1:{PGBOUNCER_PORT}/pgbouncer?sslmode=disable"


def fernet_from_base64(b64: str) -> str:
    """A Fernet key is 32 random bytes in URL-safe base64."""
    return b64.replace("+", "-").replace("/", "_")


def fernet_slot_revisions(revision: int) -> dict[str, int]:
    """The revision each Fernet key slot was last generated at: ``odd`` and
    ``even``. Bumping ``revision`` by one regenerates only the slot of the new
    parity; the other keeps the key everything is encrypted with."""
    return {"odd": revision if revision % 2 else revision - 1,
            "even": revision if revision % 2 == 0 else revision - 1}


def fernet_key_list(revision: int, odd: str, even: str) -> str:
    """``fernet_key`` for ``revision``: the current slot's key first (Airflow
    encrypts with it), the previous revision's key after it (Airflow still
    decrypts with it until ``rotate-fernet-key`` has run). Revision 1 has no
    previous key."""
    current, previous = (odd, even) if revision % 2 else (even, odd)
    return current if revision == 1 else f"{current},{previous}"


def pgbouncer_checksum(ini: str, users: str) -> str:
    """Annotation value that rolls pgbouncer when its config Secret changes:
    the chart's own checksum hashes its template, not a Secret passed by name."""
    return hashlib.sha256(f"{ini}\0{users}".encode()).hexdigest()


# Waits for the migration Job (the user Job is a plain Job too, created at the
# same time, and `users create` fails on an unmigrated DB), creates the admin,
# then sets its password from the Secret: `users create` exits 0 and changes
# nothing when the user exists, and the exported airflowAdminPassword must be
# the one that works after a rotation.
CREATE_USER_SCRIPT = (
    "airflow db check-migrations --migration-wait-timeout=900 && "
    'airflow users create --role Admin --username "$ADMIN_USERNAME" --email "$ADMIN_EMAIL" '
    '--firstname Platform --lastname Admin --password "$ADMIN_PASSWORD" && '
    'exec airflow users reset-password --username "$ADMIN_USERNAME" --password "$ADMIN_PASSWORD"'
)


def migration_script(base: str, pools: Sequence[tuple[str, int]]) -> str:
    """The migration Job's script: helm/values.yaml's (migrate, then re-encrypt
    with the first Fernet key), then create or resize the platform's pools
    (``airflow.pools``): a task that names a missing pool is never scheduled.
    ``pools set`` is idempotent, so a re-run changes nothing."""
    steps = [base] + [f"airflow pools set {shlex.quote(name)} {slots} "
                      f"{shlex.quote('airflow-eks: airflow.pools')} >/dev/null" for name, slots in pools]
    return " && ".join(steps)


def role_statements(component: str, *, logs_arn: pulumi.Input[str], data_arn: pulumi.Input[str],
                    key_arn: pulumi.Input[str], region: str,
                    alerts_topic_arn: pulumi.Input[str] | None = None) -> list[pulumi.Output[StatementArgs]]:
    """Least privilege per component: the API server reads logs; the scheduler,
    triggerer and dag processor write them (S3 log writes read the old object
    to append); task pods write logs and read/write the data bucket.

    Writers get ``s3:ListBucket`` on the logs bucket without an ``s3:prefix``
    condition: S3TaskHandler.write() asks HeadObject whether the log exists
    before its first upload, and S3 answers a missing key with 404 only to a
    caller allowed ListBucket on the bucket, else 403 (S3 API reference,
    HeadObject, "Permissions"); the hook raises on 403 and the handler skips
    the upload. HeadObject carries no ``s3:prefix``, so a prefix-conditioned
    grant does not apply to it. ListBucket shows key names, never content;
    reads and writes stay on the task-logs/ prefix. The API server only lists
    with a prefix (the log reader), so its grant keeps the condition."""
    logs_objects = pulumi.Output.concat(logs_arn, f"/{LOGS_PREFIX}/*")
    writes_logs = component != "apiServer"
    statements = [
        Statement(sid="ListLogsBucketSoMissingKeysAre404", actions=["s3:ListBucket"], resources=[logs_arn])
        if writes_logs else
        Statement(sid="ListTaskLogs", actions=["s3:ListBucket"], resources=[logs_arn],
                  conditions=[Condition(test="StringLike", variable="s3:prefix",
                                        values=[f"{LOGS_PREFIX}/*"])]),
        Statement(sid="WriteTaskLogs" if writes_logs else "ReadTaskLogs",
                  actions=["s3:GetObject", "s3:PutObject"] if writes_logs else ["s3:GetObject"],
                  resources=[logs_objects]),
    ]
    if component == "workers":
        statements += [
            Statement(sid="ListData", actions=["s3:ListBucket"], resources=[data_arn]),
            Statement(sid="ReadWriteData",
                      actions=["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                      resources=[pulumi.Output.concat(data_arn, "/*")]),
        ]
    statements.append(Statement(
        sid="UseBucketKeyThroughS3",
        actions=["kms:Decrypt", "kms:GenerateDataKey"] if writes_logs else ["kms:Decrypt"],
        resources=[key_arn],
        conditions=[Condition(test="StringEquals", variable="kms:ViaService",
                              values=[f"s3.{region}.amazonaws.com"])]))
    if component == "workers" and alerts_topic_arn is not None:
        # The DAGs' failure notifier publishes to the KMS-encrypted alarm topic.
        statements += [
            Statement(sid="PublishFailureNotices", actions=["sns:Publish"], resources=[alerts_topic_arn]),
            Statement(sid="UseTopicKeyThroughSns", actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                      resources=[key_arn],
                      conditions=[Condition(test="StringEquals", variable="kms:ViaService",
                                            values=[f"sns.{region}.amazonaws.com"])]),
        ]
    return statements


# Who resolves Connections and Variables through [secrets] backend in Airflow
# 3.3 (airflow/sdk/execution_time/supervisor.py ensure_secrets_backend_loaded):
# - task pods: the task runner tries the backend itself, before the env vars
#   and before asking the API server (DEFAULT_SECRETS_SEARCH_PATH_WORKERS);
# - the API server: its execution API routes /connections and /variables call
#   Connection.get_connection_from_secrets / Variable.get, backend first;
# - the triggerer: triggers look up in their subprocess, and its supervisor
#   answers their requests with an in-process execution API (same routes);
# - the dag processor: parsing subprocesses, and DAG callbacks (on_failure...,
#   run by the dag processor in Airflow 3), through its in-process API.
# The scheduler runs no DAG code and gets nothing. Only GetSecretValue:
# the backend calls nothing else (no DescribeSecret, no ListSecrets).
SECRETS_READERS = ("workers", "apiServer", "triggerer", "dagProcessor")
SECRETS_BACKEND = "airflow.providers.amazon.aws.secrets.secrets_manager.SecretsManagerBackend"


def secrets_statements(component: str, *, read_arns: Sequence[pulumi.Input[str]],
                       key_arn: pulumi.Input[str], region: str) -> list[pulumi.Output[StatementArgs]]:
    """Read the stack's Connections and Variables, for :data:`SECRETS_READERS` only:
    GetSecretValue under the two prefixes, and the KMS decrypt it needs, only
    when Secrets Manager asks KMS on the caller's behalf."""
    if component not in SECRETS_READERS:
        return []
    return [
        Statement(sid="ReadAirflowSecrets", actions=["secretsmanager:GetSecretValue"],
                  resources=list(read_arns)),
        Statement(sid="DecryptAirflowSecrets", actions=["kms:Decrypt"], resources=[key_arn],
                  conditions=[Condition(test="StringEquals", variable="kms:ViaService",
                                        values=[f"secretsmanager.{region}.amazonaws.com"])]),
    ]


def secrets_backend_kwargs(args: AirflowArgs) -> str:
    """[secrets] backend_kwargs: the stack's prefixes, and no config lookups
    (the provider's default config_prefix, airflow/config, is outside the
    granted prefixes: every config read would be a denied call)."""
    return json.dumps({
        "connections_prefix": args.connections_prefix,
        "variables_prefix": args.variables_prefix,
        "config_prefix": None,
        "region_name": args.region,
    })


def git_sync_values(dags: DagsConfig, secret_name: str | None) -> dict[str, Any]:
    """dags.gitSync. One revision per stack: ``ref`` and ``branch`` both carry
    it and ``rev`` stays HEAD, so git-sync v4's legacy --branch/--rev handling
    cannot pick another revision than ``ref`` (apache/airflow#42918)."""
    values: dict[str, Any] = {
        "repo": dags.repo,
        "ref": dags.revision,
        "branch": dags.revision,
        "rev": "HEAD",
        "subPath": dags.sub_path,
        "period": f"{dags.sync_period_seconds}s",
    }
    if dags.uses_ssh:
        values["sshKeySecret"] = secret_name
        values["knownHosts"] = dags.known_hosts
    elif secret_name:
        values["credentialsSecret"] = secret_name
    return values


def sso_values(sso: SsoConfig | None, *, break_glass_user: str, secret_name: str | None) -> dict[str, Any]:
    """The API server's webserver_config.py (helm/api_server_config.py, the
    same text with or without single sign-on) and the environment it reads.
    The client secret and the role mapping come from the Secret
    ``secret_name``, never from values; the admin account is the one
    break-glass password login."""
    env: list[dict[str, Any]] = [{"name": "AIRFLOW_EKS_BREAK_GLASS_USER", "value": break_glass_user}]
    api_server: dict[str, Any] = {"apiServerConfig": API_SERVER_CONFIG.read_text(), "env": env}
    if sso is not None and sso.enabled:
        # The mapping lives in the Secret: its digest rolls the API server
        # when it changes (env from a Secret is read only at pod start).
        digest = hashlib.sha256(json.dumps(sso.roles_by_group(), sort_keys=True).encode()).hexdigest()
        api_server["podAnnotations"] = {"airflow-eks/sso-role-mapping": digest[:16]}
        def from_secret(key: str) -> dict[str, Any]:
            return {"secretKeyRef": {"name": secret_name, "key": key}}
        env += [
            {"name": "AIRFLOW_EKS_SSO_ISSUER_URL", "value": sso.issuer_url},
            {"name": "AIRFLOW_EKS_SSO_CLIENT_ID", "value": sso.client_id},
            {"name": "AIRFLOW_EKS_SSO_DEFAULT_ROLE", "value": sso.default_role},
            {"name": "AIRFLOW_EKS_SSO_CLIENT_SECRET", "valueFrom": from_secret("client-secret")},
            {"name": "AIRFLOW_EKS_SSO_ROLE_MAPPING", "valueFrom": from_secret("role-mapping")},
        ]
    return {"apiServer": api_server}


def computed_values(args: AirflowArgs, *, role_arns: Mapping[str, pulumi.Input[str]],
                    git_secret: str | None, admin_secret: str,
                    pgbouncer_config_secret: str, pgbouncer_stats_secret: str,
                    pgbouncer_config_sha256: pulumi.Input[str] = "") -> dict[str, Any]:
    """The values that depend on the stack; merged over helm/values.yaml."""
    s = args.settings
    job_args = static_values(s.high_availability)["migrateDatabaseJob"]["args"]
    aws_conn = json.dumps({"conn_type": "aws", "extra": {"region_name": args.region}})
    values: dict[str, Any] = {
        "airflowVersion": AIRFLOW_VERSION,
        "defaultAirflowRepository": s.image_repository,
        "defaultAirflowTag": s.image_tag,
        "images": {"airflow": {"repository": s.image_repository, "tag": s.image_tag}},
        "nodeSelector": args.system_node_selector,
        # Bumping secretsRevision rotates the keys and changes this annotation,
        # so every Airflow pod rolls with the new Secrets.
        "airflowPodAnnotations": {"airflow-eks/secrets-revision": str(s.secrets_revision)},
        "env": [
            # Key-less AWS connections: boto3 picks up the IRSA web-identity token.
            {"name": f"AIRFLOW_CONN_{LOGS_CONN_ID.upper()}", "value": aws_conn},
            {"name": "AIRFLOW_CONN_AWS_DEFAULT", "value": aws_conn},
            {"name": "AIRFLOW_VAR_DATA_BUCKET", "value": args.data_bucket_name},
            *({"name": k, "value": v} for k, v in args.extra_env.items()),
            *({"name": f"AIRFLOW_VAR_{var.upper()}", "value": value}
              for var, value in sorted(args.worker_variables.items())),
        ],
        "config": {"logging": {
            "remote_base_log_folder": pulumi.Output.concat("s3://", args.logs_bucket_name,
                                                           f"/{LOGS_PREFIX}"),
        }, "secrets": {"backend_kwargs": secrets_backend_kwargs(args)}},
        "workers": {"kubernetes": {
            "nodeSelector": args.tasks_node_selector,
            "tolerations": [{"key": args.tasks_taint_key, "operator": "Equal", "value": "true",
                             "effect": "NoSchedule"}],
        }},
        "databaseCleanup": {"retentionDays": s.database_cleanup_retention_days},
        "dags": {"gitSync": git_sync_values(args.dags, git_secret)},
        "pgbouncer": {"configSecretName": pgbouncer_config_secret,
                      "podAnnotations": {"airflow-eks/pgbouncer-config-sha256": pgbouncer_config_sha256},
                      "metricsExporterSidecar": {"statsSecretName": pgbouncer_stats_secret},
                      # Public data: the chart puts it in the Secret it mounts
                      # at PGBOUNCER_CA_FILE, and rolls pgbouncer when it changes.
                      **({"ssl": {"ca": args.metadata_server_ca}} if args.metadata_server_tls else {})},
        "migrateDatabaseJob": {"args": [*job_args[:-1], migration_script(job_args[-1], s.pools)]},
        "createUserJob": {
            # The password reaches the job from a Secret; the chart's own
            # defaultUser would put it in the values and the Job spec.
            "command": None,
            "args": ["bash", "-c", CREATE_USER_SCRIPT],
            "env": [
                {"name": "ADMIN_USERNAME", "value": s.admin_username},
                {"name": "ADMIN_EMAIL", "value": s.admin_email},
                {"name": "ADMIN_PASSWORD",
                 "valueFrom": {"secretKeyRef": {"name": admin_secret, "key": "password"}}},
            ],
        },
    }
    for component, arn in role_arns.items():
        account = {"create": True, "annotations": {"eks.amazonaws.com/role-arn": arn}}
        if component == "workers":
            values["workers"]["kubernetes"]["serviceAccount"] = account
        else:
            values.setdefault(component, {})["serviceAccount"] = account
    return values


# ---------------------------------------------------------------- component


class Airflow(pulumi.ComponentResource):
    """Airflow 3 on EKS through the official chart."""

    admin_password: pulumi.Output[str]
    """Generated password of the break-glass admin user (secret)."""
    role_arns: dict[str, pulumi.Output[str]]
    """IRSA role ARN of each Airflow component, by component name."""
    port_forward_command: str
    """kubectl command that forwards the API server (the UI) to localhost."""
    ui_url: str
    """The UI's URL through that port-forward."""
    release: k8s.helm.v3.Release
    """The chart's Helm release: what waits for Airflow to be installed."""

    def __init__(self, name: str, args: AirflowArgs, opts: pulumi.ResourceOptions | None = None):
        if args.metadata_server_tls and args.metadata_server_ca is None:
            raise ValueError("AirflowArgs.metadata_server_ca is required with metadata_server_tls: "
                             "pgbouncer verifies the database's certificate")
        super().__init__("airflow-eks:index:Airflow", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        k8s_opts = pulumi.ResourceOptions(parent=self, provider=args.provider)
        static = static_values(args.settings.high_availability)

        namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=NAMESPACE, labels={
                "pod-security.kubernetes.io/enforce": "baseline",
                "pod-security.kubernetes.io/warn": "restricted",
                "pod-security.kubernetes.io/audit": "restricted",
            }),
            opts=k8s_opts,
        )
        ns = namespace.metadata.apply(lambda m: m.name or NAMESPACE)
        secrets: list[k8s.core.v1.Secret] = []

        def secret(suffix: str, secret_name: str, data: Mapping[str, pulumi.Input[str]]) -> str:
            secrets.append(k8s.core.v1.Secret(
                f"{name}-{suffix}",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=secret_name, namespace=ns),
                type="Opaque",
                string_data={k: pulumi.Output.secret(v) for k, v in data.items()},
                opts=k8s_opts,
            ))
            return secret_name

        # Generated once, kept in the state; only a secretsRevision bump replaces them.
        revision = args.settings.secrets_revision
        keepers = {"secretsRevision": str(revision)}
        # Two Fernet slots (module docstring). The slot of the current
        # revision's parity takes over the single key of earlier versions of
        # this program (alias), so upgrading the program rotates nothing.
        slots = fernet_slot_revisions(revision)
        fernet = {
            slot: random.RandomBytes(
                f"{name}-fernet-key-{slot}", length=32,
                keepers={"secretsRevision": str(slots[slot])},
                opts=pulumi.ResourceOptions(
                    parent=self,
                    aliases=[pulumi.Alias(name=f"{name}-fernet-key")]
                    if (slot == "odd") == bool(revision % 2) else None))
            for slot in ("odd", "even")
        }
        api_key = random.RandomPassword(f"{name}-api-secret-key", length=64, special=False,
                                        keepers=keepers, opts=child)
        jwt = random.RandomPassword(f"{name}-jwt-secret", length=64, special=False,
                                    keepers=keepers, opts=child)
        admin = random.RandomPassword(f"{name}-admin-password", length=32, special=False,
                                      keepers=keepers, opts=child)

        url = args.metadata_connection_url
        pool = int(static["pgbouncer"]["metadataPoolSize"])
        max_conn = int(static["pgbouncer"]["maxClientConn"])
        secret("metadata", static["data"]["metadataSecretName"],
               {"connection": url.apply(metadata_via_pgbouncer)})
        ini = url.apply(lambda u: pgbouncer_ini(u, pool, max_conn, args.metadata_server_tls))
        users = url.apply(pgbouncer_users)
        pgb_config = secret("pgbouncer-config", f"{RELEASE}-pgbouncer-config", {
            "pgbouncer.ini": ini, "users.txt": users,
        })
        # A digest, not the content: safe to show (the password in users.txt
        # is 32+ random characters), and it must be plain for Helm's values.
        pgb_checksum = pulumi.Output.unsecret(pulumi.Output.all(ini, users).apply(
            lambda iu: pgbouncer_checksum(iu[0], iu[1])))
        pgb_stats = secret("pgbouncer-stats", f"{RELEASE}-pgbouncer-stats",
                           {"connection": url.apply(pgbouncer_stats)})
        secret("fernet-key", static["fernetKeySecretName"], {
            "fernet-key": pulumi.Output.all(fernet["odd"].base64, fernet["even"].base64).apply(
                lambda keys: fernet_key_list(revision, fernet_from_base64(keys[0]),
                                             fernet_from_base64(keys[1])))})
        secret("api-secret-key", static["apiSecretKeySecretName"], {"api-secret-key": api_key.result})
        secret("jwt-secret", static["jwtSecretName"], {"jwt-secret": jwt.result})
        admin_secret = secret("admin", f"{RELEASE}-admin", {"password": admin.result})

        sso_secret = None
        if args.sso is not None and args.sso.enabled and args.sso.client_secret is not None:
            sso_secret = secret("sso", SSO_SECRET, {
                "client-secret": args.sso.client_secret,
                "role-mapping": json.dumps(args.sso.roles_by_group(), sort_keys=True)})

        git_secret = None
        if args.dags.ssh_private_key is not None:
            git_secret = secret("git-ssh", f"{RELEASE}-git-ssh",
                                {"gitSshKey": args.dags.ssh_private_key})
        elif args.dags.https_token is not None:
            user, token = args.dags.https_username, args.dags.https_token
            git_secret = secret("git-credentials", f"{RELEASE}-git-credentials", {
                # git-sync v4 and v3 names; the chart's image is v4.
                "GITSYNC_USERNAME": user, "GITSYNC_PASSWORD": token,
                "GIT_SYNC_USERNAME": user, "GIT_SYNC_PASSWORD": token,
            })

        roles = {
            component: IrsaRole(f"{name}-{_IRSA_SUFFIX[component]}", IrsaRoleArgs(
                oidc_provider_arn=args.oidc_provider_arn,
                oidc_provider_url=args.oidc_provider_url,
                namespace=NAMESPACE,
                service_account=sa,
                statements=role_statements(component, logs_arn=args.logs_bucket_arn,
                                           data_arn=args.data_bucket_arn,
                                           key_arn=args.kms_key_arn, region=args.region,
                                           alerts_topic_arn=args.alerts_topic_arn)
                + secrets_statements(component, read_arns=args.secrets_read_arns,
                                     key_arn=args.kms_key_arn, region=args.region)
                + list(args.worker_statements if component == "workers" else ()),
            ), opts=child)
            for component, sa in SERVICE_ACCOUNTS.items()
        }

        values = deep_merge(static, computed_values(
            args, role_arns={c: r.arn for c, r in roles.items()}, git_secret=git_secret,
            admin_secret=admin_secret, pgbouncer_config_secret=pgb_config,
            pgbouncer_stats_secret=pgb_stats, pgbouncer_config_sha256=pgb_checksum))
        values = deep_merge(values, sso_values(args.sso, break_glass_user=args.settings.admin_username,
                                               secret_name=sso_secret))
        values = deep_merge(values, args.extra_values or {})

        self.release = pinned_release(
            f"{name}-release", chart=CHART, version=CHART_VERSION, repo=CHART_REPO,
            release_name=RELEASE, namespace=NAMESPACE, values=values, postrender=POSTRENDER,
            # First install: image pulls, the DB migration of an empty
            # metadata DB (3-5 min), then the deployments' readiness.
            timeout=1200, wait_for_jobs=True,
            provider=args.provider, parent=self,
            depends_on=[namespace, *secrets, *args.release_depends_on])

        self.admin_password = pulumi.Output.secret(admin.result)
        self.role_arns = {c: r.arn for c, r in roles.items()}
        self.port_forward_command = (f"kubectl -n {NAMESPACE} port-forward "
                                     f"svc/{RELEASE}-api-server {API_PORT}:{API_PORT}")
        self.ui_url = f"http://localhost:{API_PORT}"
        self.register_outputs({
            "portForwardCommand": self.port_forward_command,
            "uiUrl": self.ui_url,
            "adminPassword": self.admin_password,
            "roleArns": self.role_arns,
        })
