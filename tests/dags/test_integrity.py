"""DAG integrity, per DAG file: it imports, touches no Variable or connection
while parsing, follows the house rules, and passes ruff's Airflow rules."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import pytest

from tests.dags.conftest import DAGS, dag_files

FILES = dag_files()


def test_every_dag_file_is_checked():
    assert {p.stem for p in FILES} == {
        "stackexchange_ingest", "stackexchange_transform",
        "earthquakes_to_postgres", "kubernetes_pod_overrides"}


# What a parse could call to read a Variable or a connection: the Task SDK
# entry points, the ORM models, and every secrets backend (env vars included).
FETCHES = [
    "airflow.sdk.execution_time.context._get_variable",
    "airflow.sdk.execution_time.context._get_connection",
    "airflow.models.variable.Variable.get",
    "airflow.models.connection.Connection.get_connection_from_secrets",
    "airflow.secrets.environment_variables.EnvironmentVariablesBackend.get_variable",
    "airflow.secrets.environment_variables.EnvironmentVariablesBackend.get_conn_value",
    "airflow.secrets.metastore.MetastoreBackend.get_variable",
    "airflow.secrets.metastore.MetastoreBackend.get_connection",
]


@contextlib.contextmanager
def recording_fetches() -> Iterator[list[str]]:
    calls: list[str] = []

    def patched(target: str):
        def fetch(*args, **kwargs):
            calls.append(f"{target.rsplit('.', 1)[-1]}{args[-1:]!r}")
            raise RuntimeError(f"{target} called while parsing")
        return mock.patch(target, side_effect=fetch)

    with contextlib.ExitStack() as stack:
        for target in FETCHES:
            stack.enter_context(patched(target))
        yield calls


def parse(path: Path):
    from airflow.dag_processing.dagbag import DagBag
    with recording_fetches() as calls:
        bag = DagBag(dag_folder=str(path), safe_mode=False)
    return bag, calls


@pytest.fixture(scope="module", params=FILES, ids=lambda p: p.name)
def parsed(request, airflow_db):
    bag, calls = parse(request.param)
    return request.param, bag, calls


def test_imports_without_errors(parsed):
    path, bag, _ = parsed
    assert bag.import_errors == {}
    assert len(bag.dags) == 1, f"{path.name}: one DAG per file, found {sorted(bag.dags)}"
    (dag_id,) = bag.dags
    assert dag_id == path.stem, "the DAG id is the file name, so either finds the other"


def test_fetches_no_variable_or_connection_while_parsing(parsed):
    _, _, calls = parsed
    assert calls == []


def test_follows_the_house_rules(parsed):
    path, bag, _ = parsed
    (dag,) = bag.dags.values()
    assert dag.tags, "tags make the DAG findable in the UI"
    assert dag.catchup is False
    assert dag.doc_md, "doc_md: what the DAG does, shown in the UI"
    assert dag.tasks
    for t in dag.tasks:
        assert t.owner not in ("", "airflow"), f"{t.task_id}: set an owner"
        assert t.retries >= 2, f"{t.task_id}: retries={t.retries}"


def test_defines_its_dag_with_the_task_sdk(parsed):
    """Airflow 3's authoring interface is airflow.sdk; airflow.models and
    airflow.decorators are the scheduler's internals or deprecated."""
    import ast
    path, _, _ = parsed
    imported = {node.module for node in ast.walk(ast.parse(path.read_text()))
                if isinstance(node, ast.ImportFrom) and node.module}
    assert "airflow.sdk" in imported
    assert not imported & {"airflow.models", "airflow.decorators", "airflow.models.dag"}


def test_ruff_airflow_rules_are_clean(parsed):
    path, _, _ = parsed
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--select", "AIR",
                             str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


# --------------------------------------------- the checks can fail (they do)

BAD_DAG = '''
import pendulum
from airflow.sdk import Variable, dag, task

BUCKET = Variable.get("data_bucket")


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1), tags=["x"])
def bad():
    @task
    def t():
        return BUCKET

    t()


bad()
'''


@pytest.fixture
def bad_dag(tmp_path) -> Path:
    path = tmp_path / "bad.py"
    path.write_text(BAD_DAG)
    return path


def test_a_top_level_variable_fetch_is_caught(bad_dag, airflow_db):
    bag, calls = parse(bad_dag)
    assert calls, "the parse read a Variable and nothing noticed"
    assert bag.import_errors


AIRFLOW_2_DAG = '''
from datetime import datetime

from airflow import DAG
from airflow.operators.bash import BashOperator

with DAG("old", schedule_interval="@daily", start_date=datetime(2026, 1, 1)):
    BashOperator(task_id="hello", bash_command="echo hello")
'''


def test_ruff_flags_airflow_2_idioms(tmp_path):
    (tmp_path / "old.py").write_text(AIRFLOW_2_DAG)
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--isolated",
                             "--select", "AIR", str(tmp_path / "old.py")], capture_output=True, text=True)
    assert result.returncode == 1
    assert {"AIR301", "AIR311", "AIR312"} <= set(result.stdout.split()), result.stdout


def test_the_dag_processor_parses_exactly_the_dag_files():
    """What Airflow's own file discovery keeps: include/ is hidden by .airflowignore."""
    from airflow.utils.file import list_py_file_paths
    found = {Path(p) for p in list_py_file_paths(DAGS, safe_mode=False)}
    assert found == set(FILES)
