"""Airflow: secrets by name, per-component IRSA, values that the official schema accepts."""

from __future__ import annotations

import base64
import json

import jsonschema
import pytest
from cryptography import x509

from components.airflow import (
    CHART_SHA256,
    CHART_VERSION,
    PGBOUNCER_CA_FILE,
    SERVICE_ACCOUNTS,
    deep_merge,
    fernet_from_base64,
    fernet_key_list,
    fernet_slot_revisions,
    pgbouncer_ini,
    pgbouncer_users,
    static_values,
)
from plan.engine import MOCK_SECRET_PREFIX, PLACEHOLDER_CA_ORG, Secret, placeholder_ca, walk
from tests.conftest import FAKE_SSH_KEY, ROOT, module_constants, policy_of, statements
from tests.helm.chart import require_schema

P = "airflow-eks:"
SECRETS_SIDS = {"ReadAirflowSecrets", "DecryptAirflowSecrets"}  # tests/components/test_secrets.py


def release(rec):
    return rec.one("kubernetes:helm.sh/v3:Release", "airflow-release")


def values_of(rec):
    return release(rec).plain_inputs["values"]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_values_validate_against_the_official_schema(engine, stack):
    schema = require_schema()
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(values_of(engine.program(stack))),
                    key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:10])


def test_schema_rejects_what_it_should(engine):
    """The check above can fail: a typo'd key is refused by the same schema."""
    schema = require_schema()
    bad = deep_merge(values_of(engine.program("dev")), {"scheduler": {"replicaz": 2}})
    assert list(jsonschema.Draft7Validator(schema).iter_errors(bad))


def test_release_is_pinned_atomic_and_waits_for_migrations(engine):
    r = release(engine.program("dev")).plain_inputs
    assert r["chart"] == "airflow" and r["version"] == CHART_VERSION == "1.22.0"
    assert CHART_SHA256 == "1f7d1dfe3d58e2c54899950aba907a43625a18c8b6fb3c54760c21592129a5b6"
    assert r["postrender"] == "./scripts/helm_postrender.py"
    assert (ROOT / r["postrender"]).stat().st_mode & 0o111, "Helm executes the post-renderer"
    assert r["repositoryOpts"]["repo"] == "https://airflow.apache.org"
    assert r["atomic"] is True and r["cleanupOnFail"] is True and r["waitForJobs"] is True
    assert r["timeout"] >= 900
    v = r["values"]
    assert v["airflowVersion"] == "3.3.2" and v["images"]["airflow"]["tag"].startswith("3.3.2-")
    assert v["migrateDatabaseJob"]["useHelmHooks"] is False


def test_executor_databases_and_logging(engine):
    rec = engine.program("dev")
    v = values_of(rec)
    assert v["executor"] == "KubernetesExecutor"
    assert v["postgresql"]["enabled"] is False and v["redis"]["enabled"] is False
    assert v["pgbouncer"]["enabled"] is True
    logs_bucket = rec.exports["logsBucket"]
    assert v["config"]["logging"]["remote_logging"] == "True"
    assert v["config"]["logging"]["remote_base_log_folder"] == f"s3://{logs_bucket}/task-logs"
    env = {e["name"]: e.get("value") for e in v["env"]}
    conn = json.loads(env["AIRFLOW_CONN_AWS_LOGS"])
    assert conn == {"conn_type": "aws", "extra": {"region_name": "us-east-1"}}  # no keys: IRSA
    assert env["AIRFLOW_VAR_DATA_BUCKET"] == rec.exports["dataBucket"]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_config_key_the_release_sets_is_in_the_static_files(engine, stack):
    """tests/helm checks the config keys of helm/values*.yaml against Airflow's
    own reference; a key added only by computed_values would escape that check."""
    static = static_values(stack == "prod")["config"]
    rendered = values_of(engine.program(stack))["config"]
    escaped = [f"{s}.{k}" for s, keys in rendered.items() for k in keys if k not in static.get(s, {})]
    assert not escaped


def test_dag_latency_settings_are_the_ones_the_readme_measured(engine):
    """README, "DAG latency" gives figures measured with these settings
    (scripts/bench_dag_latency.py reads them from the same files)."""
    v = values_of(engine.program("dev"))
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## DAG latency"):readme.index("## Cost")]
    shipped = {
        "dags.syncPeriodSeconds": v["dags"]["gitSync"]["period"].removesuffix("s"),
        "[dag_processor] refresh_interval": v["config"]["dag_processor"]["refresh_interval"],
        "[dag_processor] min_file_process_interval":
            v["config"]["dag_processor"]["min_file_process_interval"],
        "[dag_processor] parsing_processes": v["config"]["dag_processor"]["parsing_processes"],
        "[core] min_serialized_dag_update_interval":
            v["config"]["core"]["min_serialized_dag_update_interval"],
    }
    missing = [f"`{name}` = {value}" for name, value in shipped.items()
               if f"`{name}` = {value} " not in section]
    assert not missing


@pytest.mark.parametrize("stack,branch,ref", [("dev", "main", "main"), ("prod", "v1.0.0", "v1.0.0")])
def test_git_sync_follows_exactly_one_revision(engine, stack, branch, ref):
    g = values_of(engine.program(stack))["dags"]["gitSync"]
    assert (g["branch"], g["ref"], g["rev"]) == (branch, ref, "HEAD")
    assert g["repo"] == "https://github.com/airflow-eks/airflow-eks.git" and g["subPath"] == "dags"
    assert "GITSYNC_GIT" not in json.dumps(g) and "GIT_SYNC_GIT" not in json.dumps(g)


def test_ssh_repo_uses_key_secret_and_pinned_known_hosts(engine):
    rec = engine.program("dev", {P + "dags.repo": "git@github.com:org/dags.git",
                                 P + "dags.sshPrivateKey": Secret(FAKE_SSH_KEY)})
    g = values_of(rec)["dags"]["gitSync"]
    assert g["sshKeySecret"] == "airflow-git-ssh"
    assert g["knownHosts"].startswith("github.com ssh-ed25519 ")
    secret = rec.one("kubernetes:core/v1:Secret", "git-ssh")
    (path, value, is_secret), = [w for w in walk(secret.inputs) if w[0] == "stringData.gitSshKey"]
    assert is_secret and value.endswith("-----END OPENSSH PRIVATE KEY-----\n")
    assert "PRIVATE KEY" not in json.dumps(values_of(rec))


def test_https_token_goes_to_a_credentials_secret(engine):
    rec = engine.program("dev", {P + "dags.httpsToken": Secret("ghp_not_a_real_token")})
    assert values_of(rec)["dags"]["gitSync"]["credentialsSecret"] == "airflow-git-credentials"
    secret = rec.one("kubernetes:core/v1:Secret", "git-credentials")
    assert all(s for p, v, s in walk(secret.inputs) if p.startswith("stringData."))
    assert "ghp_not_a_real_token" not in json.dumps(values_of(rec))


def test_task_pods_land_on_the_tasks_group_with_default_resources(engine):
    w = values_of(engine.program("dev"))["workers"]["kubernetes"]
    assert w["nodeSelector"] == {"airflow-eks/node-group": "tasks"}
    assert w["tolerations"] == [{"key": "airflow-eks/tasks", "operator": "Equal", "value": "true",
                                 "effect": "NoSchedule"}]
    assert w["resources"]["requests"] and w["resources"]["limits"]


COMPONENTS = ["scheduler", "apiServer", "dagProcessor", "triggerer", "workers.kubernetes", "pgbouncer",
              "statsd", "migrateDatabaseJob", "createUserJob", "databaseCleanup"]


@pytest.mark.parametrize("component", COMPONENTS)
def test_every_component_has_resources_and_locked_down_security_context(engine, component):
    v = values_of(engine.program("dev"))
    c = v
    for part in component.split("."):
        c = c[part]
    assert c["resources"]["requests"] and c["resources"]["limits"]["memory"]
    pod = c.get("securityContexts", {}).get("pod") or v["securityContexts"]["pod"]
    container = (c.get("securityContexts", {}).get("container")
                 or v["securityContexts"]["containers"])
    assert pod["runAsNonRoot"] is True and pod["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["allowPrivilegeEscalation"] is False
    assert container["capabilities"] == {"drop": ["ALL"]}
    assert v["dags"]["gitSync"]["securityContexts"]["container"] == container


def test_production_runs_two_schedulers_with_pdbs(engine):
    v = values_of(engine.program("prod"))
    assert v["scheduler"]["replicas"] == 2 and v["apiServer"]["replicas"] == 2
    for component in ("scheduler", "apiServer", "pgbouncer", "triggerer", "dagProcessor"):
        assert v[component]["podDisruptionBudget"]["enabled"] is True
    dev = values_of(engine.program("dev"))
    assert dev["scheduler"]["replicas"] == 1 and "podDisruptionBudget" not in dev["scheduler"]


def test_secrets_are_referenced_by_name_and_exist(engine):
    rec = engine.program("dev")
    v = values_of(rec)
    names = {s.plain_inputs["metadata"]["name"] for s in rec.of_type("kubernetes:core/v1:Secret")}
    referenced = {v["fernetKeySecretName"], v["apiSecretKeySecretName"], v["jwtSecretName"],
                  v["data"]["metadataSecretName"],
                  v["pgbouncer"]["configSecretName"], v["pgbouncer"]["metricsExporterSidecar"]["statsSecretName"]}
    assert referenced <= names
    for key in ("fernetKey", "apiSecretKey", "jwtSecret", "webserverSecretKey"):
        assert key not in v
    admin_env = {e["name"]: e for e in v["createUserJob"]["env"]}
    assert admin_env["ADMIN_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] in names
    assert "defaultUser" not in v.get("apiServer", {}) and "defaultUser" not in v.get("webserver", {})


def test_no_secret_value_appears_in_values(engine):
    rec = engine.program("dev")
    text = json.dumps(values_of(rec))
    assert MOCK_SECRET_PREFIX not in text
    for resource in rec.of_type("random:index/randomPassword:RandomPassword"):
        result = resource.outputs["result"]
        assert getattr(result, "value", result) not in text
    assert not any(secret for _, _, secret in walk(release(rec).inputs))


def test_every_component_gets_its_own_least_privilege_role(engine):
    rec = engine.program("dev")
    v = values_of(rec)
    logs, data = rec.exports["logsBucket"], rec.exports["dataBucket"]
    docs = {}
    for component, sa in SERVICE_ACCOUNTS.items():
        account = v["workers"]["kubernetes"] if component == "workers" else v[component]
        arn = account["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"]
        role = [r for r in rec.of_type("aws:iam/role:Role") if r.outputs["arn"] == arn][0]
        (trust,) = statements(policy_of(role, "assumeRolePolicy"))
        assert [f"system:serviceaccount:airflow:{sa}"] in trust["Condition"]["StringEquals"].values()
        policy = [p for p in rec.of_type("aws:iam/rolePolicy:RolePolicy")
                  if p.name == role.name.removesuffix("-role") + "-policy"][0]
        docs[component] = statements(policy_of(policy))
    # Secrets Manager reads: test_only_the_secret_readers_read_the_prefixes_and_nothing_else.
    docs = {c: [s for s in st if s["Sid"] not in SECRETS_SIDS] for c, st in docs.items()}
    actions = {c: {a for s in st for a in s["Action"]} for c, st in docs.items()}
    assert actions["apiServer"] == {"s3:ListBucket", "s3:GetObject", "kms:Decrypt"}
    for c in ("scheduler", "triggerer", "dagProcessor"):
        assert actions[c] == {"s3:ListBucket", "s3:GetObject", "s3:PutObject", "kms:Decrypt",
                              "kms:GenerateDataKey"}
    assert "s3:DeleteObject" in actions["workers"]
    # A log writer's HeadObject on a missing key must get 404, not 403: that
    # needs ListBucket on the bucket, and HeadObject carries no s3:prefix.
    logs_arn = f"arn:aws:s3:::{logs}"
    for c, st in docs.items():
        (listing,) = [s for s in st if "s3:ListBucket" in s["Action"] and s["Resource"] == [logs_arn]]
        if c == "apiServer":
            assert listing["Condition"] == {"StringLike": {"s3:prefix": ["task-logs/*"]}}
        else:
            assert "Condition" not in listing, c
    for c, st in docs.items():
        resources = {r for s in st for r in s["Resource"]}
        assert all(r.startswith((f"arn:aws:s3:::{logs}", "arn:aws:kms:")) or
                   (c == "workers" and r.startswith(f"arn:aws:s3:::{data}")) or
                   (c == "workers" and r == rec.exports["alertsTopicArn"]) for r in resources), c
        assert "*" not in resources


def test_two_evaluations_give_identical_release_inputs(engine):
    first = release(engine.program("prod", fresh=True)).inputs
    second = release(engine.program("prod", fresh=True)).inputs
    assert json.dumps(first, sort_keys=True, default=repr) == json.dumps(second, sort_keys=True, default=repr)


def test_pgbouncer_config_uses_scram_and_verifies_rds():
    url = "postgresql://airflow_owner:pw@db.c1.us-east-1.rds.amazonaws.com:5432/airflow?sslmode=verify-full"
    ini = pgbouncer_ini(url, 10, 200)
    assert "auth_type = scram-sha-256" in ini
    # verify-full: the chain against the RDS CA the chart mounts, and the name
    # against host=, which must be the instance's DNS name.
    assert "server_tls_sslmode = verify-full\n" in ini
    assert f"server_tls_ca_file = {PGBOUNCER_CA_FILE}\n" in ini and PGBOUNCER_CA_FILE == "/etc/pgbouncer/root.crt"
    assert ("airflow-metadata = host=db.c1.us-east-1.rds.amazonaws.com dbname=airflow port=5432 pool_size=10"
            in ini)
    assert "pw" not in ini
    assert pgbouncer_users(url) == '"airflow_owner" "pw"\n'


def test_pgbouncer_drops_server_tls_only_for_the_in_cluster_database(engine):
    url = "postgresql://airflow_owner:pw@postgresql.airflow-metadata.svc.cluster.local:5432/airflow"
    ini = pgbouncer_ini(url, 10, 200, server_tls=False)
    assert "server_tls_sslmode = disable" in ini and "verify" not in ini and "server_tls_ca_file" not in ini
    for stack, mode in (("dev", "disable"), ("prod", "verify-full")):
        config = engine.program(stack).one("kubernetes:core/v1:Secret", "airflow-pgbouncer-config")
        assert f"server_tls_sslmode = {mode}\n" in config.plain_inputs["stringData"]["pgbouncer.ini"], stack


def test_pgbouncer_verifies_the_rds_instance_against_its_ca(engine):
    """prod (RDS): pgbouncer connects to the instance's DNS name, verify-full,
    with the CA the RDS API names for the instance's caCertIdentifier as the
    chart's pgbouncer.ssl.ca; dev (in-cluster database): no CA at all."""
    rec = engine.program("prod")  # the other identifiers: tests/components/test_database.py
    instance = rec.one("aws:rds/instance:Instance").outputs
    assert rec.one("aws:rds/instance:Instance").plain_inputs["caCertIdentifier"] == "rds-ca-rsa2048-g1"
    ini = rec.one("kubernetes:core/v1:Secret", "airflow-pgbouncer-config").plain_inputs["stringData"]["pgbouncer.ini"]
    assert f"host={instance['address']} " in ini and instance["address"].endswith(".rds.amazonaws.com")
    ca = values_of(rec)["pgbouncer"]["ssl"]["ca"]
    cert = x509.load_pem_x509_certificate(ca.encode())
    # The offline plan's stand-in for the RDS CA (plan/engine.py), picked by thumbprint.
    assert cert == placeholder_ca("rds-ca-rsa2048-g1", "us-east-1")
    assert cert.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)[0].value == PLACEHOLDER_CA_ORG
    assert "ssl" not in values_of(engine.program("dev"))["pgbouncer"]


def test_fernet_key_is_urlsafe_base64_of_32_bytes():
    key = fernet_from_base64(base64.b64encode(bytes(range(250, 256)) * 5 + b"\xfb\xff").decode())
    assert "+" not in key and "/" not in key
    assert len(base64.urlsafe_b64decode(key)) == 32


def test_secrets_revision_rolls_pods_and_keys(engine):
    rec = engine.program("dev", {P + "airflow.secretsRevision": 2})
    assert values_of(rec)["airflowPodAnnotations"] == {"airflow-eks/secrets-revision": "2"}
    keepers = rec.one("random:index/randomPassword:RandomPassword", "jwt-secret").plain_inputs["keepers"]
    assert keepers == {"secretsRevision": "2"}


def fernet_state(engine, revision: int) -> tuple[dict[str, str], dict[str, str], str]:
    """(slot -> keeper revision, slot -> key, the Fernet Secret's value) at a revision."""
    rec = engine.program("dev", {P + "airflow.secretsRevision": revision})
    slots = {slot: rec.one("random:index/randomBytes:RandomBytes", f"fernet-key-{slot}") for slot in ("odd", "even")}
    keepers = {slot: r.plain_inputs["keepers"]["secretsRevision"] for slot, r in slots.items()}
    keys = {slot: fernet_from_base64(r.outputs["base64"]) for slot, r in slots.items()}
    secret = rec.one("kubernetes:core/v1:Secret", "fernet-key").plain_inputs["stringData"]["fernet-key"]
    return keepers, keys, secret


def test_a_secrets_revision_bump_keeps_the_old_fernet_key_for_one_revision(engine):
    """Airflow's rotation: the new key first, the old one kept (MultiFernet),
    `rotate-fernet-key` in between (tests/airflow), the old one dropped at the
    next bump. A slot whose keeper does not change is not regenerated."""
    keepers1, keys, secret1 = fernet_state(engine, 1)
    keepers2, _, secret2 = fernet_state(engine, 2)
    keepers3, _, secret3 = fernet_state(engine, 3)
    assert keepers1["odd"] == keepers2["odd"] == "1" and keepers2["even"] == keepers3["even"] == "2"
    assert keepers3["odd"] == "3"
    assert secret1 == keys["odd"]                      # revision 1: one key
    assert secret2 == f"{keys['even']},{keys['odd']}"  # new (even slot), old (revision 1's)
    assert secret3 == f"{keys['odd']},{keys['even']}"  # odd slot regenerated; revision 1's key gone
    assert fernet_slot_revisions(10) == {"odd": 9, "even": 10}
    assert fernet_key_list(10, "O", "E") == "E,O" and fernet_key_list(1, "O", "E") == "O"


def test_the_release_provides_what_the_dags_read(engine):
    names = module_constants(ROOT / "dags" / "include" / "platform.py", "DATA_BUCKET_VARIABLE", "AWS_CONN_ID")
    rec = engine.program("dev")
    env = {e["name"]: e.get("value") for e in values_of(rec)["env"]}
    assert env[f"AIRFLOW_VAR_{names['DATA_BUCKET_VARIABLE'].upper()}"] == rec.exports["dataBucket"]
    assert json.loads(env[f"AIRFLOW_CONN_{names['AWS_CONN_ID'].upper()}"]) == {
        "conn_type": "aws", "extra": {"region_name": "us-east-1"}}
