"""The Assets that connect producer and consumer DAGs.

Defined once here, so a consumer never imports a producer's DAG file. Asset
URIs must be static, and the data bucket's name is only known at run time
(Variable ``data_bucket``), so a URI names a dataset inside the data bucket
(``x-data-bucket://<prefix>``); each event's extra names exactly what one
run wrote: ``bucket``, ``key`` and the partition (``ingest_date``). Consumers
read the key the event names, never "the latest" object.
"""

from __future__ import annotations

from airflow.sdk import Asset

STACKEXCHANGE_RAW_PREFIX = "raw/stackexchange"


def _data_bucket_asset(name: str, prefix: str, group: str) -> Asset:
    return Asset(name=name, uri=f"x-data-bucket://{prefix}", group=group)


def stackexchange_raw_key(ingest_date: str, member: str) -> str:
    """One partition per ingest: a later ingest never overwrites an earlier one."""
    return f"{STACKEXCHANGE_RAW_PREFIX}/ingest_date={ingest_date}/{member}"


STACKEXCHANGE_POSTS = _data_bucket_asset("stackexchange_raw_posts",
                                         f"{STACKEXCHANGE_RAW_PREFIX}/posts", "stackexchange")
STACKEXCHANGE_USERS = _data_bucket_asset("stackexchange_raw_users",
                                         f"{STACKEXCHANGE_RAW_PREFIX}/users", "stackexchange")
