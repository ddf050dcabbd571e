"""Bumping airflow.secretsRevision keeps every encrypted Connection and Variable.

On real Airflow (the DAG test environment): a metadata DB (SQLite) holds a
Connection and a Variable encrypted with the old Fernet key; then the
migration Job's own command (helm/values.yaml ``migrateDatabaseJob.args``)
runs with the Fernet Secret as the program writes it after a bump ("new,old",
tests/components/test_airflow.py); then both are read back with the new key
alone, as after the next bump. Each step is a separate Airflow process, as
each is a separate pod.

Airflow is only imported in those subprocesses: tests/dags/conftest.py
configures the in-process Airflow and must import it first.
"""

from __future__ import annotations

import base64
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

pytestmark = pytest.mark.skipif(importlib.util.find_spec("airflow") is None,
                                reason="needs Airflow: run in .venv-dags (make test-airflow)")

OLD = base64.urlsafe_b64encode(b"o" * 32).decode()
NEW = base64.urlsafe_b64encode(b"n" * 32).decode()

SETUP = """
import os
from airflow.utils.db import resetdb
resetdb(skip_init=False)
from airflow.models import Connection, Variable
from airflow.utils.session import create_session
with create_session() as s:
    s.add(Connection(conn_id="analytics_db", conn_type="postgres", host="db", password="pw-1",
                     extra='{"sslmode": "verify-full"}'))
Variable.set("api_token", "token-1")
# Without the rotation, the new key alone cannot read them: what replacing the
# key did before (the reason for "new,old" and rotate-fernet-key).
from cryptography.fernet import Fernet, InvalidToken
with create_session() as s:
    stored = s.query(Variable).filter_by(key="api_token").one()._val
try:
    Fernet(os.environ["NEW_KEY"]).decrypt(stored.encode())
except InvalidToken:
    print("new key alone: InvalidToken")
"""

READ = """
from airflow.models import Connection, Variable
from airflow.utils.session import create_session
with create_session() as s:
    c = s.query(Connection).filter_by(conn_id="analytics_db").one()
    assert c.is_encrypted and c.is_extra_encrypted
    print(c.password, c.extra_dejson["sslmode"], Variable.get("api_token"))
"""


def airflow_env(home: Path, fernet_key: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__FERNET_KEY": fernet_key,
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "ERROR",
        # The Job's `airflow` is the venv's, as the image's is on its PATH.
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
    })
    return env


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, env=env, text=True, capture_output=True, timeout=600)


def python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run([sys.executable, "-c", code], env)


def test_rotation_keeps_connections_and_variables_readable(tmp_path):
    setup = python(SETUP, airflow_env(tmp_path, OLD) | {"NEW_KEY": NEW})
    assert setup.returncode == 0, setup.stderr[-2000:]
    assert "new key alone: InvalidToken" in setup.stdout, setup.stdout + setup.stderr[-2000:]

    job_args = yaml.safe_load((ROOT / "helm" / "values.yaml").read_text())["migrateDatabaseJob"]["args"]
    job = run(job_args, airflow_env(tmp_path, f"{NEW},{OLD}"))
    assert job.returncode == 0, job.stderr[-2000:]

    after = python(READ, airflow_env(tmp_path, NEW))
    assert after.returncode == 0, after.stderr[-2000:]
    assert after.stdout.split() == ["pw-1", "verify-full", "token-1"]
