"""Earthquakes to Postgres: the USGS catalogue, one data interval per run.

Each run asks the USGS FDSN event service (GeoJSON, no key needed) for the
events of its data interval (one UTC day: ``starttime`` and ``endtime`` are
the interval's bounds), keeps the response in the data bucket, and upserts it
into Postgres through the ``analytics_db`` connection (param
``postgres_conn_id``). The service URL is the run's ``fdsn_url`` param, else
the ``usgs_fdsn_url`` Variable, else USGS's. The DAG holds no credentials:
Airflow resolves the connection through the platform's secrets backend,
Secrets Manager ``airflow-eks/<stack>/connections/analytics_db`` (stack config
``connections``; README, "Connections and Variables as code").

Postgres schema (param ``schema``, default ``usgs``)::

    events                  one row per event id (upserted; newest ``updated`` wins)
    daily_summary           per UTC day: events, max and average magnitude
    daily_magnitude_bands   per UTC day and magnitude band: events

Idempotent per data interval: ``load`` upserts the interval's events and
rebuilds the summaries of the days it touched (the interval's days, and the
days the upserted events were on before), all in ONE transaction. Re-running an
old interval reproduces it; a run never deletes another interval's rows.
Data-quality checks (common.sql operators) fail the run on a violation.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pendulum
from airflow.providers.common.sql.operators.sql import SQLColumnCheckOperator, SQLTableCheckOperator
from airflow.sdk import CronDataIntervalTimetable, Param, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException
from include.platform import DAGRUN_TIMEOUT, DEFAULT_ARGS, HTTP_TIMEOUT, DataBucket, setting
from include.postgres import ANALYTICS_CONN_ID, transaction

DEFAULT_FDSN_URL = "https://earthquake.usgs.gov/fdsnws/event/1/query"
FDSN_URL_VARIABLE = "usgs_fdsn_url"

COLUMNS = ("id", "occurred_at", "updated_at", "magnitude", "magnitude_type", "place", "event_type",
           "network", "status", "longitude", "latitude", "depth_km")

DDL = """
CREATE SCHEMA IF NOT EXISTS {schema};
CREATE TABLE IF NOT EXISTS {schema}.events (
    id              text PRIMARY KEY,
    occurred_at     timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
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
CREATE TABLE IF NOT EXISTS {schema}.daily_magnitude_bands (
    day             date NOT NULL,
    band            text NOT NULL,
    events          integer NOT NULL,
    PRIMARY KEY (day, band)
);
"""

UPSERT = """
INSERT INTO {schema}.events ({columns}) VALUES ({values})
ON CONFLICT (id) DO UPDATE SET {updates}
WHERE {schema}.events.updated_at <= EXCLUDED.updated_at
"""

# The days that the rows and the previous versions of the same ids fall on:
# an event whose time was revised moves from one day to another.
OLD_DAYS = """
SELECT DISTINCT (occurred_at AT TIME ZONE 'UTC')::date FROM {schema}.events WHERE id = ANY(%s)
"""

# One statement each: psycopg 3 sends parameters with the extended protocol,
# which takes a single statement.
REBUILD_DAYS = (
    "DELETE FROM {schema}.daily_summary WHERE day = ANY(%(days)s)",
    """INSERT INTO {schema}.daily_summary (day, events, max_magnitude, avg_magnitude)
    SELECT (occurred_at AT TIME ZONE 'UTC')::date, count(*), max(magnitude), round(avg(magnitude)::numeric, 2)
    FROM {schema}.events WHERE (occurred_at AT TIME ZONE 'UTC')::date = ANY(%(days)s) GROUP BY 1""",
    "DELETE FROM {schema}.daily_magnitude_bands WHERE day = ANY(%(days)s)",
    """INSERT INTO {schema}.daily_magnitude_bands (day, band, events)
    SELECT (occurred_at AT TIME ZONE 'UTC')::date,
           CASE WHEN magnitude IS NULL THEN 'unknown'
                WHEN magnitude < 2 THEN '<2'
                WHEN magnitude < 4 THEN '2-4'
                WHEN magnitude < 6 THEN '4-6'
                ELSE '6+' END, count(*)
    FROM {schema}.events WHERE (occurred_at AT TIME ZONE 'UTC')::date = ANY(%(days)s) GROUP BY 1, 2""",
)


def _ms(value: Any) -> datetime:
    return datetime.fromtimestamp(value / 1000, tz=UTC)


def feature_row(feature: dict[str, Any]) -> tuple:
    """One GeoJSON feature -> a row of COLUMNS. A malformed feature is a
    validation error: the source sent it, so retrying cannot fix it."""
    try:
        props, geometry = feature["properties"], feature["geometry"]
        longitude, latitude, *depth = geometry["coordinates"]
        return (
            str(feature["id"]),
            _ms(props["time"]),
            _ms(props.get("updated") or props["time"]),
            props.get("mag"),
            props.get("magType"),
            props.get("place"),
            str(props["type"]),
            props.get("net"),
            props.get("status"),
            float(longitude),
            float(latitude),
            float(depth[0]) if depth and depth[0] is not None else None,
        )
    except (KeyError, TypeError, ValueError) as e:
        raise AirflowFailException(f"malformed feature {feature.get('id')!r}: {e!r}") from e


def latest_per_id(rows: list[tuple]) -> list[tuple]:
    """One row per event id: the one with the newest ``updated`` (the last of
    equals), as the catalogue itself keeps only the newest version."""
    kept: dict[str, tuple] = {}
    for row in rows:
        if row[0] not in kept or kept[row[0]][2] <= row[2]:
            kept[row[0]] = row
    return [kept[i] for i in sorted(kept)]


def interval_days(start: datetime, end: datetime) -> set:
    days, day = set(), pendulum.instance(start).in_timezone("UTC").start_of("day")
    while day < end:
        days.add(day.date())
        day = day.add(days=1)
    return days


@dag(
    dag_id="earthquakes_to_postgres",
    description="USGS earthquakes of each day -> Postgres base table and daily summaries, upserted",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=DAGRUN_TIMEOUT,
    default_args=DEFAULT_ARGS,
    tags=["example", "etl", "postgres", "api"],
    params={
        "fdsn_url": Param(None, type=["null", "string"],
                          description="FDSN event query URL. Empty: the usgs_fdsn_url Variable, else USGS's."),
        "postgres_conn_id": Param(ANALYTICS_CONN_ID, type="string", description="Target database connection."),
        "schema": Param("usgs", type="string", pattern=r"^[a-z_][a-z0-9_]{0,62}$",
                        description="Target Postgres schema, created if missing."),
    },
    doc_md=__doc__,
)
def earthquakes_to_postgres():
    @task(pool="usgs_api")
    def extract() -> dict[str, str]:
        """Queries the interval's events; keeps the response as-is in landing/."""
        import requests

        context = get_current_context()
        start, end = context["data_interval_start"], context["data_interval_end"]
        if start is None or end is None or not start < end:
            raise AirflowFailException(f"needs a data interval, got {start} .. {end}: "
                                       "trigger with a logical date")
        url = setting(context["params"].get("fdsn_url"), FDSN_URL_VARIABLE, DEFAULT_FDSN_URL)
        query = {"format": "geojson", "orderby": "time-asc",
                 "starttime": start.isoformat(), "endtime": end.isoformat()}
        response = requests.get(url, params=query, timeout=HTTP_TIMEOUT)
        response.raise_for_status()
        feed = response.json()
        if feed.get("type") != "FeatureCollection":
            raise AirflowFailException(f"{url} did not answer a GeoJSON FeatureCollection")
        key = f"landing/usgs/interval={start:%Y%m%dT%H%M%SZ}_{end:%Y%m%dT%H%M%SZ}.geojson"
        DataBucket().write_text(json.dumps(feed), key)
        return {"key": key, "start": start.isoformat(), "end": end.isoformat()}

    @task(pool="analytics_db")
    def load(landed: dict[str, str]) -> list[str]:
        """Upserts the interval's events, rebuilds the touched days' summaries;
        one transaction. Returns the touched days."""
        from psycopg import sql

        params = get_current_context()["params"]
        start, end = pendulum.parse(landed["start"]), pendulum.parse(landed["end"])
        features = json.loads(DataBucket().read_text(landed["key"]))["features"]
        # The interval is half-open; the service's endtime is inclusive.
        rows = latest_per_id([r for r in map(feature_row, features) if start <= r[1] < end])
        ids = [r[0] for r in rows]
        schema = sql.Identifier(params["schema"])
        columns = [sql.Identifier(c) for c in COLUMNS]
        upsert = sql.SQL(UPSERT).format(
            schema=schema, columns=sql.SQL(", ").join(columns),
            values=sql.SQL(", ").join(sql.Placeholder() * len(COLUMNS)),
            updates=sql.SQL(", ").join(sql.SQL("{c} = EXCLUDED.{c}").format(c=c) for c in columns[1:]))
        with transaction(params["postgres_conn_id"]) as cur:
            cur.execute(sql.SQL(DDL).format(schema=schema))
            cur.execute(sql.SQL(OLD_DAYS).format(schema=schema), (ids,))
            days = interval_days(start, end) | {d for (d,) in cur.fetchall()}
            days |= {r[1].date() for r in rows}
            if rows:
                cur.executemany(upsert, rows)
            for statement in REBUILD_DAYS:
                cur.execute(sql.SQL(statement).format(schema=schema), {"days": sorted(days)})
        return [d.isoformat() for d in sorted(days)]

    check_events = SQLColumnCheckOperator(
        task_id="check_events",
        conn_id="{{ params.postgres_conn_id }}",
        table="{{ params.schema }}.events",
        column_mapping={
            "id": {"null_check": {"equal_to": 0}, "unique_check": {"equal_to": 0}},
            "occurred_at": {"null_check": {"equal_to": 0}},
            "event_type": {"null_check": {"equal_to": 0}},
        },
        pool="analytics_db",
    )
    check_summaries = SQLTableCheckOperator(
        task_id="check_summaries",
        conn_id="{{ params.postgres_conn_id }}",
        table="{{ params.schema }}.daily_summary",
        checks={
            "summaries_count_every_event": {
                "check_statement": "COALESCE(SUM(events), 0) = (SELECT count(*) FROM {{ params.schema }}.events)"},
            "bands_count_every_event": {
                "check_statement": "COALESCE(SUM(events), 0) = "
                                   "(SELECT COALESCE(SUM(events), 0) FROM {{ params.schema }}.daily_magnitude_bands)"},
        },
        pool="analytics_db",
    )
    load(extract()) >> [check_events, check_summaries]


earthquakes_to_postgres()
