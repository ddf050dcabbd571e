"""The Assets that connect producer and consumer DAGs.

Defined once here, so a consumer never imports a producer's DAG file. Asset
URIs must be static, and the data bucket's name is only known at run time
(Variable ``data_bucket``), so a URI names a dataset inside the data bucket
(``x-data-bucket://<prefix>``); each event's extra names exactly what one
run wrote: ``bucket``, ``key`` (or ``keys``, one per table, for the gold
layer) and the partition (``ingest_date``). Consumers read the keys the event
names, never "the latest" object (``newest_event_extra``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from airflow.sdk import Asset
from airflow.sdk.exceptions import AirflowFailException

STACKEXCHANGE_RAW_PREFIX = "raw/stackexchange"
STACKEXCHANGE_GOLD_PREFIX = "gold/stackexchange"
# The gold tables stackexchange_transform writes, table -> file name.
STACKEXCHANGE_GOLD_TABLES = {"top_tags": "top_tags.csv", "posts_per_user": "posts_per_user.csv"}


def _data_bucket_asset(name: str, prefix: str, group: str) -> Asset:
    return Asset(name=name, uri=f"x-data-bucket://{prefix}", group=group)


def stackexchange_raw_key(ingest_date: str, member: str) -> str:
    """One partition per ingest: a later ingest never overwrites an earlier one."""
    return f"{STACKEXCHANGE_RAW_PREFIX}/ingest_date={ingest_date}/{member}"


def stackexchange_gold_keys(ingest_date: str) -> dict[str, str]:
    """The gold objects of one ingest, table -> key (one partition per ingest date)."""
    return {table: f"{STACKEXCHANGE_GOLD_PREFIX}/{table}/run_date={ingest_date}/{file}"
            for table, file in STACKEXCHANGE_GOLD_TABLES.items()}


def newest_event_extra(events: Any, asset: Asset, fields: Iterable[str]) -> dict[str, Any] | None:
    """The extra of the newest event of ``asset`` among a run's triggering
    Asset events (``context["triggering_asset_events"]``); None when the run
    has none (a manual run). An event whose extra lacks one of ``fields`` is a
    producer bug: it fails the task without a retry."""
    received = list(events[asset]) if events else []
    if not received:
        return None
    extra = dict(received[-1].extra or {})
    if not all(extra.get(f) for f in fields):
        raise AirflowFailException(f"the {asset.name} event names no {' or '.join(fields)}: {extra!r}")
    return extra


STACKEXCHANGE_POSTS = _data_bucket_asset("stackexchange_raw_posts",
                                         f"{STACKEXCHANGE_RAW_PREFIX}/posts", "stackexchange")
STACKEXCHANGE_USERS = _data_bucket_asset("stackexchange_raw_users",
                                         f"{STACKEXCHANGE_RAW_PREFIX}/users", "stackexchange")
# One event per transform run, once both gold tables of its ingest are written.
STACKEXCHANGE_GOLD = _data_bucket_asset("stackexchange_gold", STACKEXCHANGE_GOLD_PREFIX, "stackexchange")
