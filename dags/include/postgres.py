"""The one way DAGs write to PostgreSQL: one transaction per block.

The postgres provider hands out psycopg 3 connections where SQLAlchemy is 2.x
(Airflow 3.3), so compose statements with ``psycopg.sql``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

# The platform's analytics database connection, and the pool that bounds how
# many tasks hold a connection to it at once (include/platform.py POOLS).
ANALYTICS_CONN_ID = "analytics_db"


@contextmanager
def transaction(conn_id: str) -> Iterator[Any]:
    """A cursor inside one transaction: committed if the block succeeds, rolled
    back on any error (readers never see half a load); the connection is
    closed either way. Call it inside a task, never at parse time."""
    from airflow.providers.postgres.hooks.postgres import PostgresHook
    conn = PostgresHook(postgres_conn_id=conn_id).get_conn()
    try:
        with conn, conn.cursor() as cur:
            yield cur
    finally:
        conn.close()
