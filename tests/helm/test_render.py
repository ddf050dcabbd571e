"""The real chart 1.22.0, rendered with the program's values, asserted on.

Four configurations: dev, prod (HA), an SSH-key repository and an HTTPS-token
repository. Each is one render (cached for the session); the package comes
from tests/helm/chart.py, and these tests skip with one line where it is not
available.
"""

from __future__ import annotations

import base64
import json

import kubernetes_validate
import pytest

from components.airflow import (
    LOGS_CONN_ID,
    LOGS_PREFIX,
    PGBOUNCER_CA_FILE,
    RELEASE,
    SERVICE_ACCOUNTS,
    pgbouncer_checksum,
    static_values,
)
from components.config import load_declarations
from plan.engine import Secret
from tests.conftest import FAKE_SSH_KEY, policy_of, statements
from tests.helm.render import Rendered, release_inputs, render_stack, render_values

P = "airflow-eks:"
SSH = {P + "dags.repo": "git@github.com:org/dags.git", P + "dags.sshPrivateKey": Secret(FAKE_SSH_KEY)}
# The same overrides as tests/components/test_airflow.py: one program run for both.
HTTPS = {P + "dags.httpsToken": Secret("ghp_not_a_real_token")}
CASES = {"dev": ("dev", None), "prod": ("prod", None), "ssh": ("dev", SSH), "https": ("dev", HTTPS)}


@pytest.fixture(scope="module", params=list(CASES))
def case(request, engine) -> tuple[str, Rendered]:
    stack, overrides = CASES[request.param]
    return request.param, render_stack(engine, stack, overrides)


def rendered(engine, name: str) -> Rendered:
    stack, overrides = CASES[name]
    return render_stack(engine, stack, overrides)


def container(spec, name):
    (found,) = [c for c in spec.get("initContainers", []) + spec["containers"] if c["name"] == name]
    return found


def env_of(c) -> dict:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in c.get("env", [])}


# ------------------------------------------------ Airflow 3.3.2 on chart 1.22.0


def test_the_chart_renders_its_airflow_3_branches_for_3_3_2(case):
    """The chart's templates branch on airflowVersion (semverCompare): 3.3.2
    gets the API server, a standalone dag processor and the execution API URL,
    and no Airflow 2 webserver."""
    _, r = case
    assert r.values["airflowVersion"] == "3.3.2"
    deployments = set(r.names("Deployment"))
    assert {"airflow-api-server", "airflow-dag-processor", "airflow-scheduler", "airflow-triggerer"} <= deployments
    assert "airflow-webserver" not in deployments
    cfg = r.airflow_cfg()
    assert cfg["core"]["execution_api_server_url"] == "http://airflow-api-server:8080/execution/"
    assert cfg["scheduler"]["standalone_dag_processor"] == "True"
    api = container(r.one("Deployment", "airflow-api-server")["spec"]["template"]["spec"], "api-server")
    assert api["args"][-1].endswith("airflow api-server")


# ------------------------------------------------------------ identity (IRSA)


def test_each_airflow_service_account_carries_its_irsa_role(engine, case):
    name, r = case
    stack, overrides = CASES[name]
    rec = engine.program(stack, overrides)
    for component, sa in SERVICE_ACCOUNTS.items():
        arn = r.one("ServiceAccount", sa)["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
        (role,) = [x for x in rec.of_type("aws:iam/role:Role") if x.outputs["arn"] == arn]
        (trust,) = statements(policy_of(role, "assumeRolePolicy"))
        assert [f"system:serviceaccount:airflow:{sa}"] in trust["Condition"]["StringEquals"].values(), component
    # ...and the pods run as those accounts.
    workloads = {"scheduler": "airflow-scheduler", "apiServer": "airflow-api-server",
                 "triggerer": "airflow-triggerer", "dagProcessor": "airflow-dag-processor"}
    for component, deployment in workloads.items():
        spec = r.one("Deployment", deployment)["spec"]["template"]["spec"]
        assert spec["serviceAccountName"] == SERVICE_ACCOUNTS[component]
    assert r.pod_template()["spec"]["serviceAccountName"] == SERVICE_ACCOUNTS["workers"]


# ------------------------------------------------------------ task pod template


def test_task_pod_template(case):
    _, r = case
    spec = r.pod_template()["spec"]
    assert spec["nodeSelector"] == {"airflow-eks/node-group": "tasks"}
    assert {"key": "airflow-eks/tasks", "operator": "Equal", "value": "true",
            "effect": "NoSchedule"} in spec["tolerations"]
    base = container(spec, "base")
    assert base["resources"] == {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}}
    assert base["image"] == "apache/airflow:3.3.2-python3.11"
    init = [c for c in spec["initContainers"] if c["name"] == "git-sync-init"]
    assert len(init) == 1 and env_of(init[0])["GITSYNC_ONE_TIME"] == "true"
    assert not [c for c in spec["containers"] if c["name"] == "git-sync"], "one-shot only in task pods"


# ------------------------------------------------------------------ git-sync


def git_sync(r: Rendered):
    return container(r.one("Deployment", "airflow-dag-processor")["spec"]["template"]["spec"], "git-sync")


def test_git_sync_period_and_revision(case):
    name, r = case
    env = env_of(git_sync(r))
    # The shipped default (Pulumi.yaml), measured in README "DAG latency".
    assert env["GITSYNC_PERIOD"] == f"{load_declarations()['dags.syncPeriodSeconds'].default}s"
    revision = "v1.0.0" if name == "prod" else "main"
    assert (env["GITSYNC_REF"], env["GIT_SYNC_BRANCH"], env["GIT_SYNC_REV"]) == (revision, revision, "HEAD")
    assert "GITSYNC_GIT" not in env and "GIT_SYNC_GIT" not in env


def test_ssh_repo_mounts_key_and_pinned_known_hosts(engine):
    r = rendered(engine, "ssh")
    pod = r.one("Deployment", "airflow-dag-processor")["spec"]["template"]["spec"]
    c = container(pod, "git-sync")
    env = env_of(c)
    assert env["GITSYNC_REPO"] == "git@github.com:org/dags.git"
    assert env["GITSYNC_SSH_KNOWN_HOSTS"] == "true" and env["GITSYNC_SSH_KEY_FILE"] == "/etc/git-secret/ssh"
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    known_hosts = mounts["/etc/git-secret/known_hosts"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes[known_hosts["name"]]["configMap"]["name"] == "airflow-config"
    assert r.config_map_data("airflow-config", known_hosts["subPath"]).startswith("github.com ssh-ed25519 ")
    assert volumes[mounts["/etc/git-secret/ssh"]["name"]]["secret"]["secretName"] == "airflow-git-ssh"


def test_https_repo_reads_credentials_from_the_secret(engine):
    r = rendered(engine, "https")
    env = env_of(git_sync(r))
    for var in ("GITSYNC_USERNAME", "GITSYNC_PASSWORD"):
        assert env[var] == {"secretKeyRef": {"name": "airflow-git-credentials", "key": var}}
    assert "ghp_not_a_real_token" not in json.dumps(r.objects)


# -------------------------------------------------------------- airflow.cfg


def test_airflow_cfg(engine, case):
    name, r = case
    stack, overrides = CASES[name]
    cfg = r.airflow_cfg()
    assert cfg["core"]["executor"] == "KubernetesExecutor"
    logs_bucket = engine.program(stack, overrides).exports["logsBucket"]
    assert cfg["logging"]["remote_logging"] == "True"
    assert cfg["logging"]["remote_base_log_folder"] == f"s3://{logs_bucket}/{LOGS_PREFIX}"
    assert cfg["logging"]["remote_log_conn_id"] == LOGS_CONN_ID
    shipped = static_values(False)["config"]  # helm/values.yaml, measured in README "DAG latency"
    for section, key in (("dag_processor", "refresh_interval"),
                         ("dag_processor", "min_file_process_interval"),
                         ("dag_processor", "parsing_processes"),
                         ("core", "min_serialized_dag_update_interval")):
        assert cfg[section][key] == shipped[section][key], (section, key)


def test_dag_processor_loads_the_shipped_local_settings(case):
    """helm/values.yaml's airflowLocalSettings (the dag processor's parser
    pre-imports, README "DAG latency") reaches the dag processor as
    airflow_local_settings.py on Airflow's config path, unchanged by `tpl`."""
    _, r = case
    shipped = static_values(False)["airflowLocalSettings"]
    assert "import airflow.sdk.definitions.decorators" in shipped
    assert r.config_map_data(f"{RELEASE}-config", "airflow_local_settings.py") == shipped
    spec = r.one("Deployment", f"{RELEASE}-dag-processor")["spec"]["template"]["spec"]
    mounts = {m["mountPath"]: m for m in container(spec, "dag-processor")["volumeMounts"]}
    mount = mounts["/opt/airflow/config/airflow_local_settings.py"]
    assert mount["subPath"] == "airflow_local_settings.py"


# ----------------------------------------------------------------- secrets


def test_no_rendered_secret_holds_a_key_the_chart_generated(case):
    name, r = case
    names = r.names("Secret")
    # The Secrets the chart renders: the (unused) Celery broker URL, from
    # values, empty here, and with RDS the public CA certificate pgbouncer
    # verifies it with (no key: test_pgbouncer_mounts_the_rds_ca_its_config_names).
    # Fernet, API and JWT keys, the metadata connection, pgbouncer's config:
    # all Pulumi's Secrets, referenced by name.
    rds = name == "prod"
    assert sorted(names) == ["airflow-broker-url", *(["airflow-pgbouncer-certificates"] if rds else [])], names
    assert base64.b64decode(r.one("Secret", "airflow-broker-url")["data"]["connection"]) == b"%!s(<nil>)"
    if rds:
        assert set(r.one("Secret", "airflow-pgbouncer-certificates")["data"]) == {"root.crt"}
    standard = env_of(container(r.one("Deployment", "airflow-scheduler")["spec"]["template"]["spec"],
                                "scheduler"))
    refs = {k: v["secretKeyRef"]["name"] for k, v in standard.items()
            if isinstance(v, dict) and "secretKeyRef" in v}
    assert refs["AIRFLOW__CORE__FERNET_KEY"] == "airflow-fernet-key"
    assert refs["AIRFLOW__API_AUTH__JWT_SECRET"] == "airflow-jwt-secret"
    assert refs["AIRFLOW__API__SECRET_KEY"] == "airflow-api-secret-key"
    assert refs["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == "airflow-metadata"


# ----------------------------------------------------------- HA and shape


def test_prod_replicas_and_pdbs(engine):
    r = rendered(engine, "prod")
    replicas = {d["metadata"]["name"]: d["spec"]["replicas"] for d in r.of("Deployment")}
    assert replicas == {"airflow-api-server": 2, "airflow-scheduler": 2, "airflow-triggerer": 2,
                        "airflow-pgbouncer": 2, "airflow-dag-processor": 1, "airflow-statsd": 1}
    pdbs = {p["metadata"]["name"]: p["spec"] for p in r.of("PodDisruptionBudget")}
    assert set(pdbs) == {"airflow-scheduler-pdb", "airflow-api-server-pdb", "airflow-triggerer-pdb",
                         "airflow-pgbouncer-pdb", "airflow-dag-processor-pdb"}
    assert all(spec["maxUnavailable"] == 1 for spec in pdbs.values())
    dev = rendered(engine, "dev")
    assert not dev.of("PodDisruptionBudget")
    assert {d["spec"]["replicas"] for d in dev.of("Deployment")} == {1}


def test_ha_never_runs_two_dag_processors(engine):
    """Each dag processor deactivates DAGs missing from its own checkout
    (README, "Day-2"): one replica, the old pod stopped before a new one."""
    d = rendered(engine, "prod").one("Deployment", "airflow-dag-processor")["spec"]
    assert d["replicas"] == 1
    assert d["strategy"]["rollingUpdate"]["maxSurge"] == 0


def test_pods_get_no_service_links(case):
    _, r = case
    specs = dict(r.pod_specs())
    assert len(specs) >= 10
    assert {k: s.get("enableServiceLinks") for k, s in specs.items()
            if s.get("enableServiceLinks") is not False} == {}


def test_database_cleanup_runs_with_the_stacks_retention(engine):
    for name, days in (("dev", 30), ("prod", 365)):
        cron = rendered(engine, name).one("CronJob", "airflow-database-cleanup")
        (c,) = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
        assert f'date -d "-{days} days"' in c["args"][-1] and "airflow db clean" in c["args"][-1]


# --------------------------------------------------- the cluster's schema


def test_every_object_validates_against_the_clusters_kubernetes(engine, case):
    name, r = case
    stack, overrides = CASES[name]
    version = engine.stack_config(stack, overrides).cluster.kubernetes_version
    errors = []
    for o in r.objects:
        try:
            kubernetes_validate.validate(o, f"{version}.0", strict=True)
        except kubernetes_validate.ValidationError as e:
            errors.append(f"{o['kind']}/{o['metadata']['name']}: {e.message} at {list(e.path)}")
    assert not errors, "\n".join(errors[:10])


def test_validation_can_fail(engine):
    """The check above is not vacuous: a misspelt field is refused."""
    bad = json.loads(json.dumps(rendered(engine, "dev").one("Deployment", "airflow-scheduler")))
    bad["spec"]["template"]["spec"]["nodeSelecter"] = {"a": "b"}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, "1.35.0", strict=True)


# ------------------------------------------------------------------ day-2


def test_jobs_are_named_after_their_content(engine):
    """A changed image renames both Jobs (Helm creates new ones instead of
    patching an immutable pod template); the same values keep the names."""
    values = release_inputs(engine.program("dev"))["values"]
    first = render_values(values)
    again = render_values(json.loads(json.dumps(values)), "./scripts/helm_postrender.py")
    bumped = dict(values, images={"airflow": {"repository": "apache/airflow", "tag": "3.3.2-python3.12"}})
    second = render_values(bumped)
    for prefix in ("airflow-run-airflow-migrations", "airflow-create-user"):
        assert first.job(prefix)["metadata"]["name"] == again.job(prefix)["metadata"]["name"]
        assert first.job(prefix)["metadata"]["name"] != second.job(prefix)["metadata"]["name"]
        assert second.job(prefix)["spec"]["template"]["spec"]["containers"][0]["image"].endswith("3.12")


def test_migration_job_rotates_the_fernet_key_after_migrating(engine):
    job = rendered(engine, "dev").job("airflow-run-airflow-migrations")
    (c,) = job["spec"]["template"]["spec"]["containers"]
    script = c["args"][-1]
    assert script.index("airflow db migrate") < script.index("airflow rotate-fernet-key")
    # Every pool a DAG names exists, or its tasks are never scheduled.
    assert script.index("airflow rotate-fernet-key") < script.index("airflow pools set analytics_db 4 ")
    for pool in ("usgs_api 2", "stackexchange_archive 1"):
        assert f"airflow pools set {pool} " in script
    assert env_of(c)["AIRFLOW__CORE__FERNET_KEY"] == {"secretKeyRef": {"name": "airflow-fernet-key",
                                                                       "key": "fernet-key"}}


def test_user_job_waits_for_migrations_and_sets_the_exported_password(engine):
    job = rendered(engine, "dev").job("airflow-create-user")
    (c,) = job["spec"]["template"]["spec"]["containers"]
    script = c["args"][-1]
    steps = ["airflow db check-migrations", "airflow users create", "airflow users reset-password"]
    assert [script.index(s) for s in steps] == sorted(script.index(s) for s in steps)
    assert script.count("&&") == 2, "each step only after the previous one succeeded"
    assert '--password "$ADMIN_PASSWORD"' in script.split("reset-password", 1)[1]
    assert env_of(c)["ADMIN_PASSWORD"] == {"secretKeyRef": {"name": "airflow-admin", "key": "password"}}


def test_pgbouncer_rolls_when_its_config_secret_changes(engine):
    rec = engine.program("dev")
    data = rec.one("kubernetes:core/v1:Secret", "pgbouncer-config").plain_inputs["stringData"]
    pod = rendered(engine, "dev").one("Deployment", "airflow-pgbouncer")["spec"]["template"]
    annotation = pod["metadata"]["annotations"]["airflow-eks/pgbouncer-config-sha256"]
    assert annotation == pgbouncer_checksum(data["pgbouncer.ini"], data["users.txt"])
    assert annotation != pgbouncer_checksum(data["pgbouncer.ini"] + " ", data["users.txt"])


# ------------------------------------------------- TLS from pgbouncer to RDS


def test_pgbouncer_mounts_the_rds_ca_its_config_names(engine):
    """RDS (prod): the chart's certificates Secret holds the CA the program
    verified, mounted where pgbouncer.ini's server_tls_ca_file points."""
    rec = engine.program("prod")
    ini = rec.one("kubernetes:core/v1:Secret", "pgbouncer-config").plain_inputs["stringData"]["pgbouncer.ini"]
    r = rendered(engine, "prod")
    secret = r.one("Secret", "airflow-pgbouncer-certificates")
    ca = base64.b64decode(secret["data"]["root.crt"]).decode()
    assert ca == release_inputs(rec)["values"]["pgbouncer"]["ssl"]["ca"]
    assert ca.startswith("-----BEGIN CERTIFICATE-----") and set(secret["data"]) == {"root.crt"}
    spec = r.one("Deployment", "airflow-pgbouncer")["spec"]["template"]["spec"]
    (mount,) = [m for m in container(spec, "pgbouncer")["volumeMounts"] if m["name"] == "pgbouncer-certificates"]
    assert (mount["mountPath"], mount["subPath"]) == (PGBOUNCER_CA_FILE, "root.crt")
    assert f"server_tls_ca_file = {mount['mountPath']}\n" in ini and "server_tls_sslmode = verify-full\n" in ini
    (volume,) = [v for v in spec["volumes"] if v["name"] == "pgbouncer-certificates"]
    assert volume["secret"]["secretName"] == "airflow-pgbouncer-certificates"


def test_in_cluster_database_has_no_certificates_secret(engine):
    r = rendered(engine, "dev")
    assert "airflow-pgbouncer-certificates" not in r.names("Secret")
    spec = r.one("Deployment", "airflow-pgbouncer")["spec"]["template"]["spec"]
    assert all(m["name"] != "pgbouncer-certificates" for m in container(spec, "pgbouncer")["volumeMounts"])


def test_only_pgbouncer_connects_to_rds(engine):
    """No rendered object names the RDS instance, and of the program's Secrets
    only pgbouncer's config does: every Airflow pod (migration and user Jobs,
    the cleanup CronJob and task pods included) connects through pgbouncer."""
    rec = engine.program("prod")
    address = rec.one("aws:rds/instance:Instance").outputs["address"]
    assert not [o["metadata"]["name"] for o in rendered(engine, "prod").objects if address in json.dumps(o)]
    holders = {s.name for s in rec.of_type("kubernetes:core/v1:Secret")
               if address in json.dumps(s.plain_inputs, default=repr)}
    assert holders == {"airflow-eks-prod-airflow-pgbouncer-config"}
    metadata = rec.one("kubernetes:core/v1:Secret", "airflow-metadata").plain_inputs["stringData"]["connection"]
    assert "@airflow-pgbouncer.airflow:6543/" in metadata
