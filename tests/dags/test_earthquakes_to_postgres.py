"""End to end: earthquakes_to_postgres, from a fixture feed on 127.0.0.1 into a
real PostgreSQL through the analytics_db connection, staged on moto S3."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from tests.dags.conftest import run_dag

DATE = "2026-11-20"
SUCCESS = {"extract": "success", "load": "success", "check": "success"}


@pytest.fixture(scope="module")
def loaded(dagbag, s3, postgres, sources):
    """One run; returns its conf and what it staged in the bucket."""
    conf = {"feed_url": sources.url("usgs/all_day.geojson")}
    before = s3.objects("landing/usgs/")
    assert run_dag(dagbag, "earthquakes_to_postgres", date=DATE, conf=conf) == SUCCESS
    staged = {k: v for k, v in s3.objects("landing/usgs/").items() if k not in before}
    return conf, staged


def test_the_feed_is_kept_in_the_data_bucket(loaded, sources):
    _, staged = loaded
    (key, body), = staged.items()
    assert key.startswith(f"landing/usgs/run_date={DATE}/")
    assert json.loads(body) == json.loads((sources.root / "usgs/all_day.geojson").read_text())


def test_every_event_is_loaded(loaded, postgres):
    assert postgres.query("SELECT count(*) FROM usgs.events") == [(6,)]
    assert postgres.query(
        "SELECT id, occurred_at AT TIME ZONE 'UTC', magnitude, event_type, network, longitude, "
        "latitude, depth_km FROM usgs.events WHERE id IN ('ak50001', 'uu70001') ORDER BY id") == [
        ("ak50001", *postgres.query("SELECT timestamp '2025-11-20 10:00:00'")[0],
         4.1, "earthquake", "ak", -152.4, 56.9, 30.0),
        ("uu70001", *postgres.query("SELECT timestamp '2025-11-21 01:23:20'")[0],
         None, "earthquake", "uu", -110.7, 44.6, None),
    ]


def test_summaries(loaded, postgres):
    assert postgres.query("SELECT day::text, events, max_magnitude, avg_magnitude "
                          "FROM usgs.daily_summary ORDER BY day") == [
        ("2025-11-20", 3, 4.1, Decimal("2.60")),
        ("2025-11-21", 3, 6.3, Decimal("3.55")),
    ]
    assert dict(postgres.query("SELECT band, events FROM usgs.magnitude_bands")) == {
        "<2": 2, "2-4": 1, "4-6": 1, "6+": 1, "unknown": 1}


def snapshot(postgres) -> dict[str, list[tuple]]:
    return {t: postgres.query(f"SELECT * FROM usgs.{t} ORDER BY 1")
            for t in ("events", "daily_summary", "magnitude_bands")}


def test_a_second_load_leaves_the_same_rows(loaded, dagbag, postgres):
    before = snapshot(postgres)
    assert run_dag(dagbag, "earthquakes_to_postgres", date=DATE, conf=loaded[0]) == SUCCESS
    assert snapshot(postgres) == before


def test_a_failed_load_leaves_the_previous_load(loaded, dagbag, postgres, sources):
    before = snapshot(postgres)
    states = run_dag(dagbag, "earthquakes_to_postgres", date="2026-11-21", expect_failure=True,
                     conf={"feed_url": sources.url("usgs/duplicate_event.geojson")})
    assert states == {"extract": "success", "load": "failed", "check": "upstream_failed"}
    assert snapshot(postgres) == before


@pytest.mark.parametrize("schema", ["usgs; DROP TABLE usgs.events", "Usgs", "1usgs", ""])
def test_the_schema_param_only_takes_a_plain_identifier(dagbag, schema):
    import copy

    from airflow.exceptions import ParamValidationError
    params = copy.deepcopy(dagbag.get_dag("earthquakes_to_postgres").params)
    with pytest.raises(ParamValidationError):
        params["schema"] = schema


def test_the_default_params_are_the_platform_defaults(dagbag):
    params = dagbag.get_dag("earthquakes_to_postgres").params
    assert params["postgres_conn_id"] == "analytics_db"
    assert params["schema"] == "usgs"
    assert params["feed_url"] is None


def test_without_a_param_the_feed_url_comes_from_the_variable(loaded, dagbag, postgres, sources,
                                                              monkeypatch):
    monkeypatch.setenv("AIRFLOW_VAR_USGS_FEED_URL", sources.url("usgs/one_event.geojson"))
    feed = json.loads((sources.root / "usgs/all_day.geojson").read_text())
    feed["features"] = feed["features"][:1]
    (sources.root / "usgs/one_event.geojson").write_text(json.dumps(feed))
    assert run_dag(dagbag, "earthquakes_to_postgres", date="2026-11-22") == SUCCESS
    assert postgres.query("SELECT id FROM usgs.events") == [("ci40001",)]
    assert postgres.query("SELECT band, events FROM usgs.magnitude_bands") == [("<2", 1)]


def test_analytics_db_came_from_secrets_manager(loaded, secrets_manager):
    """The run above found analytics_db only in Secrets Manager."""
    import os
    assert "AIRFLOW_CONN_ANALYTICS_DB" not in os.environ
    value = secrets_manager.client().get_secret_value(
        SecretId=f"{secrets_manager.prefix}/connections/analytics_db")["SecretString"]
    assert json.loads(value)["conn_type"] == "postgres"
