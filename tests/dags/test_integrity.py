"""DAG integrity, per discovered DAG file: it imports, does no I/O while
parsing (no Variable or connection, no network to any host, no database, no
AIRFLOW_VAR_/AIRFLOW_CONN_ from os.environ), parses within a time budget, has
a static start_date, follows the house rules, and passes ruff's Airflow rules.

Every check is shown to fail on a DAG file planted in a temporary folder
(the negative controls at the end), with a message naming the file and cause.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.util
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from unittest import mock

import pytest

from tests.conftest import ROOT
from tests.dags.conftest import DAGS, dag_files, load_dagbag

FILES = dag_files()
# Airflow's guidance: a file's parse well under a second. Measured as
# scripts/bench_dag_parse.py measures it; DAG_PARSE_BUDGET_SECONDS overrides
# it on a slower machine.
PARSE_BUDGET = float(os.environ.get("DAG_PARSE_BUDGET_SECONDS", "1.0"))


def _bench():
    spec = importlib.util.spec_from_file_location("bench_dag_parse", ROOT / "scripts" / "bench_dag_parse.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


BENCH = _bench()


def test_dag_files_are_discovered():
    """No list to keep up to date: every .py at the top of dags/ is checked."""
    assert FILES and all(p.parent == DAGS for p in FILES)


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


@dataclass
class Parse:
    path: Path
    bag: object
    seconds: float
    calls: dict[str, list[str]] = field(default_factory=dict)
    start_dates: list[tuple[str, object, object]] = field(default_factory=list)
    """(what, start date at the first parse, at a parse three days later)."""

    def problems(self, kind: str) -> list[str]:
        return [f"{self.path.name}: {kind}: {c}" for c in self.calls.get(kind, [])]


@contextlib.contextmanager
def recording(calls: dict[str, list[str]]) -> Iterator[None]:
    """While parsing, every Variable/connection fetch, socket connection
    (127.0.0.1 too), database connection and AIRFLOW_VAR_/AIRFLOW_CONN_
    os.environ read is recorded and refused, so a file that swallows the
    error is still caught."""

    def refuse(kind: str, what: str):
        def call(*args, **kwargs):
            calls.setdefault(kind, []).append(f"{what}{args[-1:]!r}"[:200])
            raise OSError(f"{what} called while parsing a DAG file")
        return call

    environ_getitem = os._Environ.__getitem__  # type: ignore[attr-defined]

    def getitem(self, key):
        if isinstance(key, str) and key.startswith(("AIRFLOW_VAR_", "AIRFLOW_CONN_")):
            calls.setdefault("os.environ read", []).append(key)
        return environ_getitem(self, key)

    with contextlib.ExitStack() as stack:
        for target in FETCHES:
            stack.enter_context(mock.patch(target, side_effect=refuse("Variable or connection fetch", target)))
        for name in ("connect", "connect_ex"):
            stack.enter_context(mock.patch.object(socket.socket, name, refuse("network", f"socket.{name}")))
        for target in ("socket.create_connection", "socket.getaddrinfo"):
            stack.enter_context(mock.patch(target, refuse("network", target)))
        for target in ("psycopg2.connect", "psycopg.connect", "psycopg.Connection.connect",
                       "sqlalchemy.create_engine"):
            stack.enter_context(mock.patch(target, refuse("database connection", target)))
        stack.enter_context(mock.patch.object(os._Environ, "__getitem__", getitem))  # type: ignore[attr-defined]
        yield


class _ThreeDaysLater(dt.datetime):
    @classmethod
    def now(cls, tz=None):
        return super().now(tz) + dt.timedelta(days=3)

    @classmethod
    def utcnow(cls):
        return super().utcnow() + dt.timedelta(days=3)

    @classmethod
    def today(cls):
        return super().today() + dt.timedelta(days=3)


def _start_dates(bag) -> dict[str, object]:
    found = {}
    for dag in bag.dags.values():
        found[dag.dag_id] = dag.start_date
        found.update({f"{dag.dag_id}.{t.task_id}": t.start_date for t in dag.tasks})
    return found


def parse(path: Path) -> Parse:
    """Parses the file as the DAG processor does, timed as the benchmark
    times it, then again with the clock three days on: a start_date that
    moves with the clock (pendulum.now(), datetime.now()) differs."""
    import pendulum
    calls: dict[str, list[str]] = {}
    with recording(calls):
        bag, seconds = BENCH.timed_parse(path)
    real_now = pendulum.now
    with mock.patch("pendulum.now", lambda *a, **k: real_now(*a, **k).add(days=3)), \
            mock.patch("datetime.datetime", _ThreeDaysLater):
        later = BENCH.timed_parse(path)[0]
    first, second = _start_dates(bag), _start_dates(later)
    return Parse(path, bag, seconds, calls, [(k, first[k], second.get(k)) for k in first])


@pytest.fixture(scope="module", params=FILES, ids=lambda p: p.name)
def parsed(request, airflow_db) -> Parse:
    return parse(request.param)


def test_imports_without_errors(parsed):
    assert parsed.bag.import_errors == {}, f"{parsed.path.name}: {parsed.bag.import_errors}"
    assert len(parsed.bag.dags) == 1, f"{parsed.path.name}: one DAG per file, found {sorted(parsed.bag.dags)}"
    (dag_id,) = parsed.bag.dags
    assert dag_id == parsed.path.stem, "the DAG id is the file name, so either finds the other"


@pytest.mark.parametrize("kind", ["Variable or connection fetch", "network", "database connection",
                                  "os.environ read"])
def test_does_no_io_while_parsing(parsed, kind):
    assert parsed.problems(kind) == []


def test_parses_within_the_budget(parsed):
    assert parsed.seconds <= PARSE_BUDGET, \
        f"{parsed.path.name}: slow parse: {parsed.seconds:.2f} s > {PARSE_BUDGET} s (move work into tasks)"


def test_start_date_is_static(parsed):
    moved = [f"{what}: {a} -> {b}" for what, a, b in parsed.start_dates if a != b]
    assert moved == [], f"{parsed.path.name}: dynamic start_date (moves with the clock): {moved}"


def test_follows_the_house_rules(parsed):
    from include.platform import POOLS, PlatformFailureNotifier
    (dag,) = parsed.bag.dags.values()
    name = parsed.path.name
    assert dag.tags, f"{name}: tags make the DAG findable in the UI"
    assert dag.catchup is False, f"{name}: catchup"
    assert dag.doc_md, f"{name}: doc_md: what the DAG does, shown in the UI"
    assert dag.dagrun_timeout, f"{name}: dagrun_timeout: a stuck run must not hold the DAG"
    assert dag.tasks
    for t in dag.tasks:
        assert t.owner not in ("", "airflow"), f"{name}: {t.task_id}: set an owner"
        assert t.retries >= 2, f"{name}: {t.task_id}: retries={t.retries}"
        assert t.pool in {"default_pool", *POOLS}, f"{name}: {t.task_id}: pool {t.pool!r} is not the platform's"
        callbacks = t.on_failure_callback if isinstance(t.on_failure_callback, list) else [t.on_failure_callback]
        assert any(isinstance(c, PlatformFailureNotifier) for c in callbacks), \
            f"{name}: {t.task_id}: no platform failure notifier (DEFAULT_ARGS)"


def test_defines_its_dag_with_the_task_sdk(parsed):
    """Airflow 3's authoring interface is airflow.sdk; airflow.models and
    airflow.decorators are the scheduler's internals or deprecated."""
    import ast
    path = parsed.path
    imported = {node.module for node in ast.walk(ast.parse(path.read_text()))
                if isinstance(node, ast.ImportFrom) and node.module}
    assert "airflow.sdk" in imported
    assert not imported & {"airflow.models", "airflow.decorators", "airflow.models.dag"}


def test_ruff_airflow_rules_are_clean(parsed):
    path = parsed.path
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--select", "AIR",
                             str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


# --------------------------------------------- the checks can fail (they do)

HEADER = """
import pendulum
from airflow.sdk import dag, task
"""
FOOTER = """

@dag(schedule=None, start_date=START, tags=["x"])
def planted():
    @task
    def t():
        return 1

    t()


planted()
"""
STATIC = "START = pendulum.datetime(2026, 1, 1, tz='UTC')\n"

PLANTED = {
    "Variable or connection fetch": "from airflow.sdk import Variable\nBUCKET = Variable.get('data_bucket')\n",
    "network": ("import socket\ntry:\n    socket.create_connection(('127.0.0.1', 9), timeout=1)\n"
                "except OSError:\n    pass\n"),
    "network (raw socket)": ("import socket\ntry:\n    socket.socket().connect(('127.0.0.1', 9))\n"
                             "except OSError:\n    pass\n"),
    "database connection": ("import psycopg2\ntry:\n    psycopg2.connect('host=127.0.0.1 dbname=x')\n"
                            "except Exception:\n    pass\n"),
    "database connection (SQLAlchemy)": "import sqlalchemy\nENGINE = sqlalchemy.create_engine('sqlite://')\n",
    "os.environ read": "import os\nBUCKET = os.environ.get('AIRFLOW_VAR_DATA_BUCKET')\n",
}


def plant(tmp_path: Path, body: str, start: str = STATIC) -> Path:
    path = tmp_path / "planted_dag.py"
    path.write_text(HEADER + body + start + FOOTER)
    return path


@pytest.mark.parametrize("cause", PLANTED)
def test_parse_time_io_is_caught(tmp_path, airflow_db, cause):
    kind = cause.split(" (")[0]
    found = parse(plant(tmp_path, PLANTED[cause])).problems(kind)
    assert found and all(p.startswith(f"planted_dag.py: {kind}: ") for p in found), found


def test_a_clean_planted_file_passes(tmp_path, airflow_db):
    """The control for the controls: the same file without the harm."""
    result = parse(plant(tmp_path, ""))
    assert result.calls == {} and result.bag.import_errors == {}
    assert all(a == b for _, a, b in result.start_dates)


def test_a_slow_parse_is_caught(tmp_path, airflow_db):
    result = parse(plant(tmp_path, f"import time\ntime.sleep({PARSE_BUDGET + 0.5})\n"))
    assert result.seconds > PARSE_BUDGET


@pytest.mark.parametrize("start", ["START = pendulum.now('UTC').subtract(days=1)\n",
                                   "import datetime\nSTART = datetime.datetime.now(datetime.timezone.utc)\n",
                                   "START = pendulum.today('UTC')\n"])
def test_a_dynamic_start_date_is_caught(tmp_path, airflow_db, start):
    result = parse(plant(tmp_path, "", start=start))
    assert any(a != b for _, a, b in result.start_dates), result.start_dates


def test_a_broken_file_fails_alone(tmp_path, airflow_db):
    """The e2e tests' DagBag keeps every good DAG when one file is broken."""
    (tmp_path / "broken.py").write_text("from airflow.sdk import dag\nimport this_module_does_not_exist\n")
    plant(tmp_path, "")
    bag = load_dagbag(tmp_path)
    assert "planted" in bag.dags
    assert any("broken.py" in f for f in bag.import_errors)


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
