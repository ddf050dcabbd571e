"""AirflowSecrets and its wiring: one KMS-encrypted secret per id under the
stack's prefixes, the backend reading those prefixes, and only the components
that resolve Connections and Variables allowed to read them."""

from __future__ import annotations

import json

import pytest

from components.airflow import SECRETS_BACKEND, SECRETS_READERS, SERVICE_ACCOUNTS
from plan.engine import Secret, walk
from tests.conftest import policy_of, statements

P = "airflow-eks:"
SECRET_KEYS = (P + "connections", P + "variables")
PASSWORD = "pw-must-stay-secret-0815"
CONNECTIONS = {
    "analytics_db": {"conn_type": "postgres", "host": "db.example", "login": "analytics",
                     "password": PASSWORD, "schema": "analytics", "port": 5432},
    "warehouse": f"postgresql://etl:{PASSWORD}@wh.example:5432/wh",
}
VARIABLES = {"usgs_feed_url": f"https://example.com/feed?token={PASSWORD}"}
SECRET = "aws:secretsmanager/secret:Secret"
VERSION = "aws:secretsmanager/secretVersion:SecretVersion"


def program(engine, stack="dev", connections=CONNECTIONS, variables=VARIABLES):
    return engine.program(stack, {P + "connections": connections, P + "variables": variables},
                          secret_keys=SECRET_KEYS)


def secrets_by_name(rec):
    return {r.name: r for r in rec.of_type(SECRET) + rec.of_type(VERSION)}


@pytest.mark.parametrize("stack,window", [("dev", 0), ("prod", 7)])
def test_one_kms_encrypted_secret_per_id_under_the_stack_prefix(engine, stack, window):
    rec = program(engine, stack)
    key_arn = rec.one("aws:kms/key:Key").outputs["arn"]
    secrets = {r.plain_inputs["name"]: r for r in rec.of_type(SECRET)}
    assert set(secrets) == {f"airflow-eks/{stack}/connections/analytics_db",
                            f"airflow-eks/{stack}/connections/warehouse",
                            f"airflow-eks/{stack}/variables/usgs_feed_url"}
    for s in secrets.values():
        assert s.plain_inputs["kmsKeyId"] == key_arn
        assert s.plain_inputs["recoveryWindowInDays"] == window
    versions = {r.name: r for r in rec.of_type(VERSION)}
    assert set(versions) == {f"{s.name}-value" for s in secrets.values()}
    by_urn = {s.urn: n for n, s in secrets.items()}
    values = {by_urn[v.property_dependencies["secretId"][0]]: v.plain_inputs["secretString"]
              for v in versions.values()}
    assert json.loads(values[f"airflow-eks/{stack}/connections/analytics_db"]) == \
        CONNECTIONS["analytics_db"]
    assert values[f"airflow-eks/{stack}/connections/warehouse"] == CONNECTIONS["warehouse"]
    assert rec.exports["connectionsPrefix"] == f"airflow-eks/{stack}/connections"
    assert rec.exports["variablesPrefix"] == f"airflow-eks/{stack}/variables"


def test_changing_one_updates_only_it_and_removing_one_deletes_only_it(engine):
    before = secrets_by_name(program(engine))
    changed = dict(CONNECTIONS, warehouse=f"postgresql://etl:{PASSWORD}-2@wh.example:5432/wh")
    after = secrets_by_name(program(engine, connections=changed))
    assert set(after) == set(before)  # names follow ids: nothing renamed or replaced by position
    differs = {n for n in before if before[n].plain_inputs != after[n].plain_inputs}
    assert differs == {"airflow-eks-dev-secrets-conn-warehouse-value"}

    removed = secrets_by_name(program(engine, connections={"warehouse": CONNECTIONS["warehouse"]}))
    assert set(before) - set(removed) == {"airflow-eks-dev-secrets-conn-analytics_db",
                                          "airflow-eks-dev-secrets-conn-analytics_db-value"}
    assert all(removed[n].plain_inputs == before[n].plain_inputs for n in removed)


def test_no_secret_value_in_any_non_secret_input_or_export(engine):
    rec = program(engine)
    leaks = [f"{r.name}.{path}" for r in rec.resources for path, value, secret in walk(r.inputs)
             if not secret and PASSWORD in json.dumps(value)]
    leaks += [k for k, v in rec.exports.items() if not isinstance(v, Secret) and PASSWORD in str(v)]
    assert not leaks
    carried = [r.name for r in rec.resources for _, value, secret in walk(r.inputs)
               if secret and PASSWORD in str(value)]
    assert sorted(carried) == sorted(f"{r.name}" for r in rec.of_type(VERSION))  # not vacuous


def role_policies(rec):
    """Component -> statements of its IRSA role's inline policy."""
    values = rec.one("kubernetes:helm.sh/v3:Release", "airflow-release").plain_inputs["values"]
    docs = {}
    for component in SERVICE_ACCOUNTS:
        # Task pods: the KubernetesExecutor pod template's account (workers.kubernetes).
        account = values["workers"]["kubernetes"] if component == "workers" else values[component]
        arn = account["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"]
        role = [r for r in rec.of_type("aws:iam/role:Role") if r.outputs["arn"] == arn][0]
        policy = [p for p in rec.of_type("aws:iam/rolePolicy:RolePolicy")
                  if p.name == role.name.removesuffix("-role") + "-policy"][0]
        docs[component] = statements(policy_of(policy))
    return docs


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_only_the_secret_readers_read_the_prefixes_and_nothing_else(engine, stack):
    rec = engine.program(stack)  # no connections in config: secrets made elsewhere are read too
    prefix = f"arn:aws:secretsmanager:us-east-1:123456789012:secret:airflow-eks/{stack}"
    key_arn = rec.one("aws:kms/key:Key").outputs["arn"]
    for component, sts in role_policies(rec).items():
        actions = [a for s in sts for a in s["Action"]]
        assert not [a for a in actions if a.startswith("secretsmanager:")
                    and a != "secretsmanager:GetSecretValue"], component  # no List/Describe
        reads = [s for s in sts if "secretsmanager:GetSecretValue" in s["Action"]]
        decrypts = [s for s in sts if s.get("Condition", {}).get("StringEquals", {}).get(
            "kms:ViaService") == ["secretsmanager.us-east-1.amazonaws.com"]]
        if component not in SECRETS_READERS:
            assert not reads and not decrypts, component
            continue
        (read,) = reads
        assert read["Action"] == ["secretsmanager:GetSecretValue"]
        assert sorted(read["Resource"]) == [f"{prefix}/connections/*", f"{prefix}/variables/*"]
        (decrypt,) = decrypts
        assert decrypt["Action"] == ["kms:Decrypt"] and decrypt["Resource"] == [key_arn]
    assert set(SECRETS_READERS) == {"workers", "apiServer", "triggerer", "dagProcessor"}


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_backend_reads_the_stack_prefixes(engine, stack):
    rec = engine.program(stack)
    cfg = rec.one("kubernetes:helm.sh/v3:Release", "airflow-release").plain_inputs["values"]["config"]
    assert cfg["secrets"]["backend"] == SECRETS_BACKEND
    assert json.loads(cfg["secrets"]["backend_kwargs"]) == {
        "connections_prefix": rec.exports["connectionsPrefix"],
        "variables_prefix": rec.exports["variablesPrefix"],
        "config_prefix": None, "region_name": "us-east-1"}
    assert rec.exports["connectionsPrefix"] == f"airflow-eks/{stack}/connections"
