"""The platform's secrets backend, for real: Airflow's SecretsManagerBackend,
configured as helm/values.yaml configures it, against moto's Secrets Manager.
The secrets are written with boto3, as a secret made outside Pulumi would be;
the JSON is the form components/config.py stores."""

from __future__ import annotations

import json

from tests.conftest import ROOT, module_constants
from tests.dags.conftest import platform_secrets_backend

CONN_JSON = {"conn_type": "postgres", "extra": {"sslmode": "require"}, "host": "db.example",
             "login": "analytics", "password": "p@ss/word", "port": 5432, "schema": "analytics"}


def test_the_platform_configures_the_amazon_providers_backend():
    backend, kwargs = platform_secrets_backend()
    assert backend == module_constants(ROOT / "components" / "airflow.py", "SECRETS_BACKEND")[
        "SECRETS_BACKEND"]
    assert kwargs["config_prefix"] is None  # config lookups would leave the granted prefixes


def test_the_backend_resolves_connections_and_variables(secrets_manager):
    from airflow.providers.amazon.aws.secrets.secrets_manager import SecretsManagerBackend
    secrets_manager.put("connections/sm_json_db", json.dumps(CONN_JSON, sort_keys=True,
                                                             separators=(",", ":")))
    secrets_manager.put("connections/sm_uri_db", "postgresql://etl:s%40cret@wh.example:6543/wh")
    secrets_manager.put("variables/sm_feed_url", "https://example.com/feed.geojson")

    backend = SecretsManagerBackend(**secrets_manager.backend_kwargs())
    conn = backend.get_connection("sm_json_db")
    assert conn is not None
    assert (conn.conn_type, conn.host, conn.port, conn.login, conn.password, conn.schema) == (
        "postgres", "db.example", 5432, "analytics", "p@ss/word", "analytics")
    assert conn.extra_dejson == {"sslmode": "require"}
    uri = backend.get_connection("sm_uri_db")
    assert uri is not None and (uri.host, uri.port, uri.login, uri.password) == (
        "wh.example", 6543, "etl", "s@cret")
    assert backend.get_variable("sm_feed_url") == "https://example.com/feed.geojson"
    assert backend.get_connection("not_there") is None and backend.get_variable("not_there") is None


def test_airflow_reads_them_through_the_configured_backend(secrets_manager):
    """No backend object here: Airflow builds it from [secrets] backend/backend_kwargs."""
    from airflow.sdk import Connection, Variable
    secrets_manager.put("connections/sm_configured_db", "postgresql://u:pw@db.example:5432/d")
    secrets_manager.put("variables/sm_configured_var", "from-secrets-manager")
    assert Connection.get("sm_configured_db").host == "db.example"
    assert Variable.get("sm_configured_var") == "from-secrets-manager"
