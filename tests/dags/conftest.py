"""Local stand-ins for the services the DAGs use, and a throwaway Airflow.

- Airflow: real Airflow (the image's version), its metadata DB in SQLite under
  a temporary AIRFLOW_HOME, the DAG folder pointing at dags/.
- S3: a moto server on 127.0.0.1, reached through the ``aws_default``
  connection's endpoint_url, with the data bucket created as the platform does.
- Secrets Manager: the same moto server, read by Airflow's SecretsManagerBackend
  configured as helm/values.yaml configures it (prefixes of a stack "test").
- PostgreSQL: Debian's server, initialised and started here on 127.0.0.1 with
  a password, reached through the ``analytics_db`` connection, which lives in
  Secrets Manager as the platform keeps it (not in an env var).
- The public sources: fixture files served over HTTP on 127.0.0.1, and a fake
  of the USGS FDSN event service that answers a time-window query from
  fixtures/usgs/catalogue.geojson as the real one does.
- Pools: the platform's (dags/include/platform.py POOLS).

Fixture files go in tests/dags/fixtures/<source>/; `run_dag` runs one DAG with
dag.test() (no retries unless asked, a time limit per task);
`run_asset_triggered` runs a consumer the way the scheduler does when its
Asset events arrive. Both run a deferred task's trigger in-process (dag.test()),
so deferrable operators run as they do with a triggerer; ``adjust`` changes the
parsed DAG first (a shorter polling period, say).

Airflow reads its configuration when first imported, so the environment is set
here, before any test module imports it.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT
from tests.dags.postgres_server import Postgres, PostgresNotInstalled, postgres_bin, postgres_server

DAGS = ROOT / "dags"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
DATA_BUCKET = "airflow-eks-dev-data-test"

if "airflow" in sys.modules:  # pragma: no cover - a wiring error, not a test result
    raise RuntimeError("airflow was imported before tests/dags/conftest.py could configure it")

_HOME = tempfile.mkdtemp(prefix="airflow-home-")
os.environ.update({
    "AIRFLOW_HOME": _HOME,
    "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    # Asset events queue runs of unpaused consumers only, as in a deployment.
    "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_HOME}/airflow.db",
    "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
    # moto accepts any key; these never reach AWS (the endpoint is moto's).
    "AWS_ACCESS_KEY_ID": "moto",
    "AWS_SECRET_ACCESS_KEY": "moto",
    "AWS_DEFAULT_REGION": "us-east-1",
})
for _proxy in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
    os.environ.pop(_proxy, None)
# As Airflow 3 does for the dags-folder bundle (dag processor, task runner):
# its root on sys.path, so `include` imports.
sys.path.insert(0, str(DAGS))


def dag_files() -> list[Path]:
    """Every DAG file: the .py files at the top of dags/ (helpers live in include/)."""
    return sorted(p for p in DAGS.glob("*.py"))


# ------------------------------------------------------------------ Airflow


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """An empty metadata DB, created from the ORM (what `airflow db reset` does)."""
    from airflow.utils.db import resetdb
    resetdb(skip_init=False)


def load_dagbag(folder: Path):
    """Parses a DAG folder and records what parsed, as the DAG processor does.

    A file that fails to import is only an import error here: its own
    integrity checks fail, every other DAG's tests still run."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db
    bag = DagBag(dag_folder=str(folder))
    # What the DAG processor does: record the DAGs and activate their Assets.
    DagBundlesManager().sync_bundles_to_db()
    sync_bag_to_db(bag, "dags-folder", None)
    return bag


@pytest.fixture(scope="session")
def dagbag(airflow_db):
    import include.platform as platform
    from airflow.models.pool import Pool
    for name, slots in platform.POOLS.items():
        Pool.create_or_update_pool(name, slots, f"{name} (as the platform creates it)", include_deferred=False)
    return load_dagbag(DAGS)


# ----------------------------------------------------------------------- S3


@dataclass(frozen=True)
class S3:
    endpoint: str
    bucket: str

    def client(self):
        import boto3
        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1")

    def objects(self, prefix: str = "") -> dict[str, bytes]:
        """Every object under a prefix, key -> content."""
        client = self.client()
        keys = [o["Key"] for page in client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix) for o in page.get("Contents", [])]
        return {k: client.get_object(Bucket=self.bucket, Key=k)["Body"].read() for k in keys}


@pytest.fixture(scope="session")
def s3() -> Iterator[S3]:
    """moto in server mode; the DAGs reach it through the aws_default connection."""
    from moto.server import ThreadedMotoServer
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    store = S3(endpoint, DATA_BUCKET)
    store.client().create_bucket(Bucket=DATA_BUCKET)
    os.environ["AIRFLOW_CONN_AWS_DEFAULT"] = json.dumps(
        {"conn_type": "aws", "extra": {"region_name": "us-east-1", "endpoint_url": endpoint}})
    os.environ["AIRFLOW_VAR_DATA_BUCKET"] = DATA_BUCKET  # as components/airflow.py sets it
    yield store
    server.stop()


# ---------------------------------------------------------- Secrets Manager

SECRETS_PREFIX = "airflow-eks/test"  # airflow-eks/<stack>, as components/secrets.py names it


def platform_secrets_backend() -> tuple[str, dict]:
    """[secrets] backend and backend_kwargs as helm/values.yaml sets them (the
    prefixes and region are computed per stack by components/airflow.py)."""
    import yaml
    cfg = yaml.safe_load((ROOT / "helm" / "values.yaml").read_text())["config"]["secrets"]
    return cfg["backend"], json.loads(cfg["backend_kwargs"])


@dataclass(frozen=True)
class SecretsManager:
    endpoint: str
    prefix: str

    def client(self):
        import boto3
        return boto3.client("secretsmanager", endpoint_url=self.endpoint, region_name="us-east-1")

    def backend_kwargs(self) -> dict:
        _, kwargs = platform_secrets_backend()
        return dict(kwargs, connections_prefix=f"{self.prefix}/connections",
                    variables_prefix=f"{self.prefix}/variables", region_name="us-east-1",
                    endpoint_url=self.endpoint)

    def put(self, name: str, value: str) -> None:
        """Creates or replaces ``<prefix>/<name>``, as someone outside the program would."""
        client, full = self.client(), f"{self.prefix}/{name}"
        try:
            client.create_secret(Name=full, SecretString=value)
        except client.exceptions.ResourceExistsException:
            client.put_secret_value(SecretId=full, SecretString=value)


@pytest.fixture(scope="session")
def secrets_manager(s3) -> SecretsManager:
    """moto's Secrets Manager, and Airflow's secrets backend pointed at it. Set
    here, not at import: Airflow looks the backend up again until one is set."""
    sm = SecretsManager(s3.endpoint, SECRETS_PREFIX)
    backend, _ = platform_secrets_backend()
    os.environ["AIRFLOW__SECRETS__BACKEND"] = backend
    os.environ["AIRFLOW__SECRETS__BACKEND_KWARGS"] = json.dumps(sm.backend_kwargs())
    return sm


# --------------------------------------------------------------- PostgreSQL


@pytest.fixture(scope="session")
def postgres(secrets_manager) -> Iterator[Postgres]:
    """A real PostgreSQL server on 127.0.0.1, password auth, an `analytics` database,
    its connection ``analytics_db`` in Secrets Manager."""
    try:
        postgres_bin()
    except PostgresNotInstalled as e:
        pytest.fail(str(e))
    with postgres_server("analytics", "analytics") as pg:
        secrets_manager.put("connections/analytics_db", json.dumps({
            "conn_type": "postgres", "host": pg.host, "port": pg.port, "login": pg.user,
            "password": pg.password, "schema": pg.dbname}))
        yield pg


# ---------------------------------------------------------- public sources


@dataclass(frozen=True)
class Sources:
    root: Path
    base_url: str
    queries: list[dict[str, str]]
    """Every query the fake FDSN service answered, newest last."""

    def url(self, name: str) -> str:
        return f"{self.base_url}/{name}"

    @property
    def fdsn_url(self) -> str:
        return self.url(FDSN_PATH.lstrip("/"))


FDSN_PATH = "/fdsnws/event/1/query"


def build_stackexchange_archive(target: Path) -> Path:
    """A 7z dump like the real ones: the site's XML files at the archive's root."""
    import py7zr
    with py7zr.SevenZipFile(target, "w") as z:
        for name in ("Posts.xml", "Users.xml", "Tags.xml"):
            z.write(FIXTURES / "stackexchange" / name, arcname=name)
    return target


@pytest.fixture(scope="session")
def sources() -> Iterator[Sources]:
    """Fixture files over HTTP on 127.0.0.1, standing in for the public sources."""
    root = Path(tempfile.mkdtemp(prefix="sources-"))
    shutil.copytree(FIXTURES, root, dirs_exist_ok=True)
    build_stackexchange_archive(root / "tiny.stackexchange.com.7z")
    queries: list[dict[str, str]] = []
    handler = functools.partial(_SourcesHandler, directory=str(root), queries=queries)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield Sources(root, f"http://127.0.0.1:{server.server_address[1]}", queries)
    server.shutdown()
    shutil.rmtree(root, ignore_errors=True)


class _SourcesHandler(http.server.SimpleHTTPRequestHandler):
    """Files as they are, and the FDSN event query: the catalogue's events whose
    origin time is within [starttime, endtime] (both inclusive, as USGS's)."""

    def __init__(self, *args, queries: list[dict[str, str]], **kwargs):
        self.queries = queries
        super().__init__(*args, **kwargs)

    def do_GET(self):  # noqa: N802 - the base class's name
        from urllib.parse import parse_qsl, urlsplit

        import pendulum
        url = urlsplit(self.path)
        if url.path != FDSN_PATH:
            return super().do_GET()
        query = dict(parse_qsl(url.query))
        self.queries.append(query)
        catalogue = json.loads((Path(self.directory) / "usgs" / "catalogue.geojson").read_text())
        start, end = (pendulum.parse(query[k]).timestamp() * 1000 for k in ("starttime", "endtime"))
        catalogue["features"] = [f for f in catalogue["features"] if start <= f["properties"]["time"] <= end]
        body = json.dumps(catalogue).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass


# ------------------------------------------------------------------ running

STACKEXCHANGE_DATE = "2026-11-20"
STACKEXCHANGE_ARCHIVE = "tiny.stackexchange.com.7z"


def stackexchange_objects(s3: S3) -> dict[str, bytes]:
    """The Stack Exchange pipeline's objects; other DAGs' tests share the bucket."""
    return {k: v for k, v in s3.objects().items() if "/stackexchange/" in f"/{k}"}


@pytest.fixture(scope="session")
def stackexchange_ingested(dagbag, s3, sources) -> dict[str, bytes]:
    """One run of stackexchange_ingest; the transform's tests start from it."""
    states = run_dag(dagbag, "stackexchange_ingest", date=STACKEXCHANGE_DATE,
                     conf={"archive_url": sources.url(STACKEXCHANGE_ARCHIVE)})
    assert states == {"download_archive": "success", "extract_members": "success"}
    return stackexchange_objects(s3)


TASK_TIME_LIMIT = timedelta(seconds=120)


def parse_dag(dag_id: str):
    """A fresh parse of the DAG's own file (the DAG id is the file name): a
    run resolves its conf into the DAG's Param objects, which even a deep
    copy shares, so the next run would inherit it. Fails with the file's
    import error if it has one."""
    from airflow.dag_processing.dagbag import DagBag
    path = DAGS / f"{dag_id}.py"
    bag = DagBag(dag_folder=str(path))
    if dag_id not in bag.dags:
        pytest.fail(f"{path.name} does not define {dag_id}: {bag.import_errors}")
    return bag.dags[dag_id]


def _prepare(dag, *, retries: bool, task_ids: list[str] | None, adjust: Callable[[Any], None] | None = None):
    """No retries unless asked (a task bug shows in seconds, not after the
    retry backoff); when asked, a 1 s delay. A time limit on every task."""
    if adjust:
        adjust(dag)
    if task_ids:
        dag = dag.partial_subset(task_ids=task_ids, include_upstream=False)
    # dag.test() starts a run at its logical date, often long past, so the
    # DAG's dagrun_timeout would fail it before its first task.
    dag.dagrun_timeout = None
    for t in dag.tasks:
        if retries:
            t.retry_delay = t.max_retry_delay = timedelta(seconds=1)
        else:
            t.retries = 0
        t.execution_timeout = min(t.execution_timeout or TASK_TIME_LIMIT, TASK_TIME_LIMIT)
    return dag


def _states(dr) -> dict[str, str]:
    """{task_id: state}; a mapped task's instances as task_id[i]."""
    return {ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]": str(ti.state)
            for ti in dr.get_task_instances()}


def run_dag(dagbag, dag_id: str, *, date: str, conf: dict | None = None, retries: bool = False,
            task_ids: list[str] | None = None, adjust: Callable[[Any], None] | None = None) -> dict[str, str]:
    """dag.test() for one DAG, logical date ``date`` 06:00 UTC; returns {task_id: state}.

    ``dagbag`` makes sure the DAGs and pools are recorded first."""
    import pendulum
    dag = _prepare(parse_dag(dag_id), retries=retries, task_ids=task_ids, adjust=adjust)
    started = time.monotonic()
    dr = dag.test(logical_date=pendulum.parse(date).add(hours=6), run_conf=conf)
    states = _states(dr)
    print(f"{dag_id}: {states} in {time.monotonic() - started:.1f} s")
    return states


def sns_topic_with_queue(s3, name: str = "alarms"):
    """An SNS topic on moto (the ``s3`` fixture's server) with an SQS queue
    subscribed: (topic ARN, a function returning the messages published since)."""
    import boto3
    sns = boto3.client("sns", endpoint_url=s3.endpoint, region_name="us-east-1")
    sqs = boto3.client("sqs", endpoint_url=s3.endpoint, region_name="us-east-1")
    topic = sns.create_topic(Name=name)["TopicArn"]
    queue = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)

    def received() -> list[str]:
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(m["Body"])["Message"] for m in messages]
    return topic, received


def try_numbers(dag_id: str) -> dict[str, int]:
    """{task_id: try_number} of the DAG's newest run."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    with create_session() as session:
        dr = session.query(DagRun).filter(DagRun.dag_id == dag_id).order_by(DagRun.id.desc()).first()
        return {ti.task_id: ti.try_number for ti in dr.get_task_instances(session=session)}


@dataclass(frozen=True)
class AssetRun:
    states: dict[str, str]
    consumed: list[dict]
    """The extras of the Asset events the run consumed."""
    run_id: str = ""


def queued_asset_runs(dag_id: str) -> list[str]:
    """The Assets whose events wait to trigger ``dag_id`` (the scheduler's queue)."""
    from airflow.models.asset import AssetDagRunQueue, AssetModel
    from airflow.utils.session import create_session
    with create_session() as session:
        return sorted(name for (name,) in session.query(AssetModel.name).join(
            AssetDagRunQueue, AssetDagRunQueue.asset_id == AssetModel.id).filter(
            AssetDagRunQueue.target_dag_id == dag_id))


def run_asset_triggered(dagbag, dag_id: str, *, retries: bool = False,
                        adjust: Callable[[Any], None] | None = None) -> AssetRun | None:
    """Runs ``dag_id`` as the scheduler does once its Asset condition is met:
    an ASSET_TRIGGERED run that consumes the queued events (the events of its
    Assets since its previous asset-triggered run), which the tasks read as
    ``triggering_asset_events``. None if the condition is not met: no run."""
    from unittest import mock

    import airflow.models.dagrun as dagrun_module
    from airflow.models.asset import AssetDagRunQueue, AssetEvent, AssetModel
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.types import DagRunType

    dag = _prepare(parse_dag(dag_id), retries=retries, task_ids=None, adjust=adjust)
    condition = dag.timetable.asset_condition
    # One Asset, or an all-of/any-of of Assets (``a & b``).
    names = sorted(a.name for a in getattr(condition, "objects", [condition]))
    if queued_asset_runs(dag_id) != names:
        return None
    with create_session() as session:
        previous = session.query(DagRun).filter(DagRun.dag_id == dag_id,
                                                DagRun.run_type == DagRunType.ASSET_TRIGGERED).all()
        seen = {e.id for r in previous for e in r.consumed_asset_events}
        event_ids = [e.id for e in session.query(AssetEvent).join(AssetModel, AssetEvent.asset_id == AssetModel.id)
                     .filter(AssetModel.name.in_(names)).order_by(AssetEvent.timestamp) if e.id not in seen]
        session.query(AssetDagRunQueue).filter(AssetDagRunQueue.target_dag_id == dag_id).delete()

    create = dagrun_module.get_or_create_dagrun

    def asset_triggered(**kwargs):
        # dag.test() creates a manual run; make it the run the scheduler makes.
        session = kwargs["session"]
        dr = create(**kwargs)
        dr.run_type = DagRunType.ASSET_TRIGGERED
        dr.consumed_asset_events.extend(session.query(AssetEvent).filter(AssetEvent.id.in_(event_ids)))
        session.commit()
        return dr

    with mock.patch.object(dagrun_module, "get_or_create_dagrun", asset_triggered):
        dr = dag.test(logical_date=None)
    with create_session() as session:
        consumed = [e.extra for e in session.get(DagRun, dr.id).consumed_asset_events]
    return AssetRun(_states(dr), consumed, dr.run_id)


@pytest.fixture(scope="session")
def stackexchange_transformed(stackexchange_ingested, dagbag) -> AssetRun:
    """stackexchange_transform run on the ingest's two Asset events, as the
    scheduler runs it; the transform's tests and those of the DAG on its gold
    Asset (the asset chain) start from it."""
    assert queued_asset_runs("stackexchange_transform") == ["stackexchange_raw_posts",
                                                            "stackexchange_raw_users"]
    run = run_asset_triggered(dagbag, "stackexchange_transform")
    assert run is not None, "the ingest's events did not satisfy the transform's schedule"
    return run
