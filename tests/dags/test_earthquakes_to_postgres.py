"""End to end: earthquakes_to_postgres, from a fake USGS FDSN service on
127.0.0.1 into a real PostgreSQL through the analytics_db connection, staged on
moto S3. The catalogue fixture reports two events twice (the newer version
first for ci40002, last for us60001), so a de-duplication that keeps the
wrong row fails."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from tests.dags.conftest import run_dag, try_numbers

DAG = "earthquakes_to_postgres"
SUCCESS = {"extract": "success", "load": "success", "check_events": "success",
           "check_summaries": "success"}


def run_interval(dagbag, sources, day: str, **kwargs) -> dict[str, str]:
    """The run whose data interval is the UTC day ``day`` (a daily interval
    ends at the next midnight; run_dag's logical date is that day + 06:00)."""
    import pendulum
    after = pendulum.parse(day).add(days=1).to_date_string()
    return run_dag(dagbag, DAG, date=after, conf={"fdsn_url": sources.fdsn_url}, **kwargs)


def snapshot(postgres) -> dict[str, list[tuple]]:
    return {t: postgres.query(f"SELECT * FROM usgs.{t} ORDER BY 1, 2")
            for t in ("events", "daily_summary", "daily_magnitude_bands")}


@pytest.fixture(scope="module")
def first_day(dagbag, s3, postgres, sources):
    """The 2025-11-20 interval, loaded; returns what it staged and queried."""
    before = s3.objects("landing/usgs/")
    assert run_interval(dagbag, sources, "2025-11-20") == SUCCESS
    staged = {k: v for k, v in s3.objects("landing/usgs/").items() if k not in before}
    return staged, sources.queries[-1], snapshot(postgres)


def test_queries_the_service_for_its_data_interval(first_day):
    _, query, _ = first_day
    assert query == {"format": "geojson", "orderby": "time-asc",
                     "starttime": "2025-11-20T00:00:00+00:00", "endtime": "2025-11-21T00:00:00+00:00"}


def test_keeps_the_response_per_interval(first_day):
    staged, _, _ = first_day
    ((key, body),) = staged.items()
    assert key == "landing/usgs/interval=20251120T000000Z_20251121T000000Z.geojson"
    assert [f["id"] for f in json.loads(body)["features"]] == ["ci40001", "ci40002", "ci40002", "ak50001"]


def test_loads_the_interval_keeping_the_newest_version_of_each_event(first_day):
    _, _, tables = first_day
    assert [(r[0], r[3], r[8]) for r in tables["events"]] == [
        ("ak50001", 4.1, "reviewed"), ("ci40001", 1.2, "reviewed"), ("ci40002", 2.9, "reviewed-2")]
    assert tables["daily_summary"] == [(tables["daily_summary"][0][0], 3, 4.1, Decimal("2.73"))]
    assert [r[1:] for r in tables["daily_magnitude_bands"]] == [("2-4", 1), ("4-6", 1), ("<2", 1)]


def test_a_later_interval_adds_its_days_and_keeps_history(first_day, dagbag, postgres, sources):
    assert run_interval(dagbag, sources, "2025-11-21") == SUCCESS
    tables = snapshot(postgres)
    assert {r[0] for r in tables["events"]} == {"ak50001", "ci40001", "ci40002", "us60001", "uu70001",
                                                "nc80001"}
    assert dict((r[0], r[3]) for r in tables["events"])["us60001"] == 6.5, "the newer version, listed last"
    assert [(str(r[0]), r[1]) for r in tables["daily_summary"]] == [("2025-11-20", 3), ("2025-11-21", 3)]
    assert [r for r in tables["daily_summary"] if str(r[0]) == "2025-11-20"] == first_day[2]["daily_summary"]


def test_rerunning_an_old_interval_reproduces_it(first_day, dagbag, postgres, sources):
    before = snapshot(postgres)
    assert run_interval(dagbag, sources, "2025-11-20") == SUCCESS
    assert snapshot(postgres) == before


def test_the_checks_fail_the_run_on_a_violation(first_day, dagbag, postgres):
    """The check tasks alone, on summaries that no longer count every event."""
    conn = postgres.connect()
    try:
        with conn, conn.cursor() as cur:
            cur.execute("UPDATE usgs.daily_summary SET events = events + 1 WHERE day = '2025-11-20'")
        states = run_dag(dagbag, DAG, date="2025-11-21", task_ids=["check_events", "check_summaries"])
        assert states == {"check_events": "success", "check_summaries": "failed"}
    finally:
        with conn, conn.cursor() as cur:
            cur.execute("UPDATE usgs.daily_summary SET events = events - 1 WHERE day = '2025-11-20'")
        conn.close()


def test_a_malformed_feed_fails_at_once_and_leaves_the_previous_load(first_day, dagbag, postgres, sources):
    """A validation error is not retried, even with retries on, and nothing is written."""
    before = snapshot(postgres)
    path = sources.root / "usgs" / "catalogue.geojson"
    good = path.read_text()
    catalogue = json.loads(good)
    catalogue["features"][0]["geometry"] = None
    path.write_text(json.dumps(catalogue))
    try:
        states = run_interval(dagbag, sources, "2025-11-20", retries=True)
    finally:
        path.write_text(good)
    assert states == {"extract": "success", "load": "failed", "check_events": "upstream_failed",
                      "check_summaries": "upstream_failed"}
    assert try_numbers(DAG)["load"] == 1, "a malformed feature was retried"
    assert snapshot(postgres) == before


@pytest.mark.parametrize("schema", ["usgs; DROP TABLE usgs.events", "Usgs", "1usgs", ""])
def test_the_schema_param_only_takes_a_plain_identifier(dagbag, schema):
    import copy

    from airflow.exceptions import ParamValidationError
    params = copy.deepcopy(dagbag.get_dag(DAG).params)
    with pytest.raises(ParamValidationError):
        params["schema"] = schema


def test_the_default_params_are_the_platform_defaults(dagbag):
    params = dagbag.get_dag(DAG).params
    assert params["postgres_conn_id"] == "analytics_db"
    assert params["schema"] == "usgs"
    assert params["fdsn_url"] is None


def test_the_checks_are_common_sql_check_operators(dagbag):
    from airflow.providers.common.sql.operators.sql import SQLColumnCheckOperator, SQLTableCheckOperator
    dag = dagbag.get_dag(DAG)
    assert isinstance(dag.get_task("check_events"), SQLColumnCheckOperator)
    assert isinstance(dag.get_task("check_summaries"), SQLTableCheckOperator)
    assert {t.task_id for t in dag.get_task("load").downstream_list} == {"check_events", "check_summaries"}


def test_analytics_db_came_from_secrets_manager(first_day, secrets_manager):
    """The run above found analytics_db only in Secrets Manager."""
    import os
    assert "AIRFLOW_CONN_ANALYTICS_DB" not in os.environ
    value = secrets_manager.client().get_secret_value(
        SecretId=f"{secrets_manager.prefix}/connections/analytics_db")["SecretString"]
    assert json.loads(value)["conn_type"] == "postgres"
