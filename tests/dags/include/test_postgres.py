"""dags/include/postgres.py: one transaction per block, on the real PostgreSQL."""

from __future__ import annotations

import pytest
from include.postgres import ANALYTICS_CONN_ID, transaction


@pytest.fixture
def table(postgres):
    conn = postgres.connect()
    with conn, conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS tx_test; CREATE TABLE tx_test (n integer)")
    conn.close()
    return "tx_test"


def test_a_block_that_succeeds_is_committed(table, postgres):
    with transaction(ANALYTICS_CONN_ID) as cur:
        cur.execute("INSERT INTO tx_test VALUES (1), (2)")
    assert postgres.query("SELECT count(*) FROM tx_test") == [(2,)]


def test_a_block_that_fails_leaves_nothing(table, postgres):
    with pytest.raises(RuntimeError), transaction(ANALYTICS_CONN_ID) as cur:
        cur.execute("INSERT INTO tx_test VALUES (1)")
        raise RuntimeError("half way")
    assert postgres.query("SELECT count(*) FROM tx_test") == [(0,)]
