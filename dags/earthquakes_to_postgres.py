"""Earthquakes to Postgres: a JSON API, staged in S3, full-refreshed into Postgres.

Pulls the USGS earthquake feed (GeoJSON, no key needed; the URL is the run's
``feed_url`` param, else the ``usgs_feed_url`` Variable, else the last day's
feed), keeps the response in the data bucket, and loads it into Postgres
through the ``analytics_db`` connection (param ``postgres_conn_id``). The DAG
holds no credentials: Airflow resolves the connection through the platform's
secrets backend, Secrets Manager ``airflow-eks/<stack>/connections/analytics_db``
(stack config ``connections``; README, "Connections and Variables as code").

Postgres schema (param ``schema``, default ``usgs``)::

    events            one row per event in the feed (base table)
    daily_summary     per UTC day: events, max and average magnitude
    magnitude_bands   events per magnitude band

``load`` replaces all three tables in ONE transaction: readers see the previous
load or the new one, never a mix, and a failed load leaves the previous one.
Loading the same feed twice leaves the same rows.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pendulum
from airflow.sdk import Param, dag, get_current_context, task
from include.platform import DEFAULT_ARGS, HTTP_TIMEOUT, DataBucket, run_date, setting

DEFAULT_FEED_URL = "https://earthquake.usgs.gov/earthquakes/feed/v1.0/summary/all_day.geojson"
FEED_URL_VARIABLE = "usgs_feed_url"
DEFAULT_CONN_ID = "analytics_db"

COLUMNS = ("id", "occurred_at", "magnitude", "magnitude_type", "place", "event_type",
           "network", "status", "longitude", "latitude", "depth_km")

DDL = """
CREATE SCHEMA IF NOT EXISTS {schema};
CREATE TABLE IF NOT EXISTS {schema}.events (
    id              text PRIMARY KEY,
    occurred_at     timestamptz NOT NULL,
    magnitude       double precision,
    magnitude_type  text,
    place           text,
    event_type      text NOT NULL,
    network         text,
    status          text,
    longitude       double precision NOT NULL,
    latitude        double precision NOT NULL,
    depth_km        double precision
);
CREATE TABLE IF NOT EXISTS {schema}.daily_summary (
    day             date PRIMARY KEY,
    events          integer NOT NULL,
    max_magnitude   double precision,
    avg_magnitude   numeric(4, 2)
);
CREATE TABLE IF NOT EXISTS {schema}.magnitude_bands (
    band            text PRIMARY KEY,
    events          integer NOT NULL
);
"""

REFRESH_SUMMARIES = """
DELETE FROM {schema}.daily_summary;
INSERT INTO {schema}.daily_summary (day, events, max_magnitude, avg_magnitude)
SELECT (occurred_at AT TIME ZONE 'UTC')::date, count(*), max(magnitude), round(avg(magnitude)::numeric, 2)
FROM {schema}.events GROUP BY 1;
DELETE FROM {schema}.magnitude_bands;
INSERT INTO {schema}.magnitude_bands (band, events)
SELECT CASE WHEN magnitude IS NULL THEN 'unknown'
            WHEN magnitude < 2 THEN '<2'
            WHEN magnitude < 4 THEN '2-4'
            WHEN magnitude < 6 THEN '4-6'
            ELSE '6+' END, count(*)
FROM {schema}.events GROUP BY 1;
"""


def feature_row(feature: dict[str, Any]) -> tuple:
    """One GeoJSON feature -> a row of COLUMNS. Fails loudly on a malformed one."""
    props, geometry = feature["properties"], feature["geometry"]
    longitude, latitude, *depth = geometry["coordinates"]
    return (
        feature["id"],
        datetime.fromtimestamp(props["time"] / 1000, tz=UTC),
        props.get("mag"),
        props.get("magType"),
        props.get("place"),
        props["type"],
        props.get("net"),
        props.get("status"),
        longitude,
        latitude,
        depth[0] if depth else None,
    )


@contextmanager
def transaction(conn_id: str) -> Iterator[Any]:
    """A cursor inside one transaction: committed if the block succeeds, rolled
    back on any error; the connection is closed either way."""
    from airflow.providers.postgres.hooks.postgres import PostgresHook
    conn = PostgresHook(postgres_conn_id=conn_id).get_conn()
    try:
        with conn, conn.cursor() as cur:
            yield cur
    finally:
        conn.close()


@dag(
    dag_id="earthquakes_to_postgres",
    description="USGS earthquake feed -> Postgres base table and summaries, full refresh",
    schedule="@hourly",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["example", "etl", "postgres", "api"],
    params={
        "feed_url": Param(None, type=["null", "string"],
                          description="GeoJSON feed. Empty: the usgs_feed_url Variable, else the last day."),
        "postgres_conn_id": Param(DEFAULT_CONN_ID, type="string", description="Target database connection."),
        "schema": Param("usgs", type="string", pattern=r"^[a-z_][a-z0-9_]{0,62}$",
                        description="Target Postgres schema, created if missing."),
    },
    doc_md=__doc__,
)
def earthquakes_to_postgres():
    @task
    def extract() -> str:
        """Keeps the API response as-is in landing/ so a load can be replayed."""
        import requests

        context = get_current_context()
        url = setting(context["params"].get("feed_url"), FEED_URL_VARIABLE, DEFAULT_FEED_URL)
        response = requests.get(url, timeout=HTTP_TIMEOUT)
        response.raise_for_status()
        feed = response.json()
        if feed.get("type") != "FeatureCollection":
            raise ValueError(f"{url} is not a GeoJSON FeatureCollection")
        run = re.sub(r"[^A-Za-z0-9._-]", "_", context["run_id"])
        key = f"landing/usgs/run_date={run_date(context)}/{run}.geojson"
        DataBucket().write_text(json.dumps(feed), key)
        return key

    @task
    def load(key: str) -> int:
        """Replaces events and rebuilds the summaries in one transaction."""
        # The postgres provider hands out psycopg 3 connections where SQLAlchemy
        # is 2.x, as in Airflow 3.3 (psycopg2 composables fail there).
        from psycopg import sql

        params = get_current_context()["params"]
        rows = [feature_row(f) for f in json.loads(DataBucket().read_text(key))["features"]]
        schema = sql.Identifier(params["schema"])
        with transaction(params["postgres_conn_id"]) as cur:
            cur.execute(sql.SQL(DDL).format(schema=schema))
            cur.execute(sql.SQL("DELETE FROM {schema}.events").format(schema=schema))
            cur.executemany(sql.SQL("INSERT INTO {schema}.events ({columns}) VALUES ({values})").format(
                schema=schema, columns=sql.SQL(", ").join(map(sql.Identifier, COLUMNS)),
                values=sql.SQL(", ").join(sql.Placeholder() * len(COLUMNS))), rows)
            cur.execute(sql.SQL(REFRESH_SUMMARIES).format(schema=schema))
        return len(rows)

    @task
    def check(loaded: int) -> None:
        """The summaries account for every event that was loaded."""
        from psycopg import sql

        params = get_current_context()["params"]
        query = sql.SQL("SELECT (SELECT count(*) FROM {s}.events), "
                        "(SELECT coalesce(sum(events), 0) FROM {s}.daily_summary), "
                        "(SELECT coalesce(sum(events), 0) FROM {s}.magnitude_bands)").format(
            s=sql.Identifier(params["schema"]))
        with transaction(params["postgres_conn_id"]) as cur:
            cur.execute(query)
            events, daily, bands = cur.fetchone()
        if not events == daily == bands == loaded:
            raise ValueError(f"loaded {loaded} events; table has {events}, "
                             f"daily_summary counts {daily}, magnitude_bands {bands}")

    check(load(extract()))


earthquakes_to_postgres()
