"""End to end: stackexchange_to_databricks against a Databricks REST fake on
127.0.0.1 (tests/dags/databricks_fake.py), with the real provider's operator
and trigger (deferred runs are polled in-process, as a triggerer would).

``databricks_default`` and Variable ``databricks_gold_job_id`` come from
Secrets Manager (moto) through Airflow's SecretsManagerBackend, as on the
platform; no environment variable holds them. The fake speaks plain HTTP, so
the connection sets ``schema: http`` and ``port``: the hook builds its URL
as ``<schema or https>://<host>:<port>/api/...`` (``_endpoint_url``); a real
workspace's connection leaves both unset and gets https.
"""

from __future__ import annotations

import json
import os
import secrets

import pytest

from tests.dags.conftest import STACKEXCHANGE_DATE as DATE
from tests.dags.conftest import queued_asset_runs, run_asset_triggered, run_dag, sns_topic_with_queue
from tests.dags.databricks_fake import RUN_NOW, Job, databricks_fake

DAG_ID = "stackexchange_to_databricks"
TASK = "run_databricks_job"
GOLD_JOB = Job(101)
SLOW_JOB = Job(102, running_reads=4)
FAILING_STATE = "Task gold failed with message: Workload failed, see run output for details."
TASK_ERROR = "AnalysisException: [DELTA_REPLACE_WHERE_MISMATCH] Written data does not conform"


def gold_parameters(bucket: str, date: str = DATE) -> dict[str, str]:
    return {"ingest_date": date,
            "top_tags_uri": f"s3://{bucket}/gold/stackexchange/top_tags/run_date={date}/top_tags.csv",
            "posts_per_user_uri": f"s3://{bucket}/gold/stackexchange/posts_per_user/run_date={date}/posts_per_user.csv"}


@pytest.fixture(scope="module")
def databricks(secrets_manager):
    """The fake workspace; its connection and the job Variable in Secrets Manager only."""
    assert "AIRFLOW_CONN_DATABRICKS_DEFAULT" not in os.environ
    assert "AIRFLOW_VAR_DATABRICKS_GOLD_JOB_ID" not in os.environ
    token = secrets.token_urlsafe(24)
    with databricks_fake(token) as fake:
        secrets_manager.put("connections/databricks_default", json.dumps(
            {"conn_type": "databricks", "host": fake.host, "port": fake.port, "schema": "http",
             "password": token}))
        secrets_manager.put("variables/databricks_gold_job_id", str(GOLD_JOB.job_id))
        for job in (GOLD_JOB, SLOW_JOB):
            fake.add_job(job)
        yield fake


def fast_polling(dag) -> None:
    """The trigger polls every 0.1 s instead of every 30 s."""
    dag.get_task(TASK).polling_period_seconds = 0.1


def task_instance_id(dag_id: str, task_id: str) -> str:
    """The id of the task's instance in the DAG's newest run."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    with create_session() as session:
        dr = session.query(DagRun).filter(DagRun.dag_id == dag_id).order_by(DagRun.id.desc()).first()
        return str(dr.get_task_instance(task_id, session=session).id)


def run_now_requests(fake, job_id: int) -> list[dict]:
    return [r.body for r in fake.requests if r.path == RUN_NOW and r.body.get("job_id") == str(job_id)]


@pytest.fixture(scope="module")
def chained(stackexchange_transformed, dagbag, databricks):
    """ingest -> transform -> this DAG, each run by the previous one's Asset
    events; returns this DAG's run and the run-now request the fake received."""
    assert stackexchange_transformed.states["publish_gold"] == "success"
    assert "stackexchange_gold" in queued_asset_runs(DAG_ID)
    run = run_asset_triggered(dagbag, DAG_ID)
    assert run is not None and run.states == {"run_now_request": "success", TASK: "success"}, run
    (request,) = run_now_requests(databricks, GOLD_JOB.job_id)
    return run, request


def test_the_asset_chain_hands_the_gold_partition_to_the_job(chained, s3, databricks):
    """The job the Variable names runs with the chain's gold partition: the
    keys the transform wrote, which exist."""
    run, request = chained
    assert run.consumed and all(e["ingest_date"] == DATE for e in run.consumed)
    assert request["job_parameters"] == gold_parameters(s3.bucket)
    assert set(request) == {"job_id", "job_parameters", "idempotency_token"}
    assert request["job_id"] == str(GOLD_JOB.job_id)  # the Variable's, from Secrets Manager
    objects = s3.objects("gold/stackexchange/")
    for uri in (request["job_parameters"]["top_tags_uri"], request["job_parameters"]["posts_per_user_uri"]):
        assert uri.removeprefix(f"s3://{s3.bucket}/") in objects
    assert all(r.authorized for r in databricks.requests), "the token of the Secrets Manager connection"


def test_a_rerun_of_the_partition_sends_the_same_parameters_as_a_new_run(chained, dagbag, databricks):
    """Safe because the job replaces its output for ingest_date (the contract);
    each try has its own idempotency token, so a rerun is a new run."""
    _, first = chained
    assert run_dag(dagbag, DAG_ID, date="2026-11-27", conf={"ingest_date": DATE}) == {
        "run_now_request": "success", TASK: "success"}
    rerun = run_now_requests(databricks, GOLD_JOB.job_id)[-1]
    assert rerun["job_parameters"] == first["job_parameters"]
    assert rerun["idempotency_token"] != first["idempotency_token"]
    assert len(databricks.runs_of(GOLD_JOB.job_id)) == 2
    # The token is the task instance's id, which Airflow renews for every try
    # (TaskInstance.prepare_db_for_next_try): a retry starts a new run too.
    assert rerun["idempotency_token"] == task_instance_id(DAG_ID, TASK)


def test_a_run_still_running_is_awaited_by_the_trigger(stackexchange_transformed, dagbag, databricks):
    """RUNNING when the operator checks, and on the trigger's first poll: the
    task defers, the trigger polls until SUCCESS, the task succeeds."""
    states = run_dag(dagbag, DAG_ID, date="2026-11-29", conf={"ingest_date": DATE, "job_id": SLOW_JOB.job_id},
                     adjust=fast_polling)
    assert states == {"run_now_request": "success", TASK: "success"}
    (run,) = databricks.runs_of(SLOW_JOB.job_id)
    reads = [(r.caller, r.answered_state) for r in databricks.requests_for(run.run_id)]
    operator = [state for caller, state in reads if caller == "DatabricksRunNowOperator"]
    trigger = [state for caller, state in reads if caller == "DatabricksExecutionTrigger"]
    assert operator and set(operator) == {"RUNNING"}, reads  # so it deferred
    assert trigger[0] == "RUNNING" and trigger[-1] == "TERMINATED", reads
    # The trigger's aiohttp GETs carry the run id as a JSON body, the operator's as a query.
    assert all(isinstance(r.body, dict) for r in databricks.requests_for(run.run_id)
               if r.caller == "DatabricksExecutionTrigger")


def test_a_failed_run_fails_the_task_with_its_state_message(stackexchange_transformed, dagbag, s3, databricks,
                                                            monkeypatch):
    """Failed after the task deferred: the platform's failure alarm carries
    the run's state message and its failed task's error (runs/get-output)."""
    job = databricks.add_job(Job(200, result="FAILED", running_reads=4, state_message=FAILING_STATE,
                                 task_error=TASK_ERROR))
    topic, received = sns_topic_with_queue(s3, "databricks-alarms")
    monkeypatch.setenv("AIRFLOW_VAR_ALERTS_TOPIC_ARN", topic)
    states = run_dag(dagbag, DAG_ID, date="2026-11-30", conf={"ingest_date": DATE, "job_id": job.job_id},
                     adjust=fast_polling)
    assert states == {"run_now_request": "success", TASK: "failed"}
    (run,) = databricks.runs_of(job.job_id)
    assert "DatabricksExecutionTrigger" in {r.caller for r in databricks.requests_for(run.run_id)}
    (message,) = received()
    assert f"{DAG_ID}, task {TASK}" in message and FAILING_STATE in message and TASK_ERROR in message, message


def test_a_partition_without_gold_fails_before_calling_databricks(dagbag, databricks):
    before = len(databricks.requests)
    states = run_dag(dagbag, DAG_ID, date="2026-12-01", conf={"ingest_date": "2020-01-01"})
    assert states == {"run_now_request": "failed", TASK: "upstream_failed"}
    assert len(databricks.requests) == before


def test_an_unknown_job_fails_the_task(stackexchange_transformed, dagbag, databricks):
    states = run_dag(dagbag, DAG_ID, date="2026-12-02", conf={"ingest_date": DATE, "job_id": 999})
    assert states == {"run_now_request": "success", TASK: "failed"}
    assert databricks.runs_of(999) == []
    assert len(run_now_requests(databricks, 999)) == 1, "a 400 is not retried"


@pytest.mark.parametrize("value", [None, "", "abc", "0", "-3", "12.5"])
def test_a_missing_or_malformed_job_id_fails_naming_the_variable(value):
    from airflow.sdk.exceptions import AirflowFailException
    from stackexchange_to_databricks import job_id  # dags/ is on sys.path, as in Airflow
    with pytest.raises(AirflowFailException, match="databricks_gold_job_id"):
        job_id(value)


def test_a_job_id_is_sent_as_the_integer_it_names():
    from stackexchange_to_databricks import job_id
    assert job_id(" 123456789 ") == 123456789 and job_id(42) == 42
