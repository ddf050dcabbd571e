"""The Assets that connect producer and consumer DAGs.

Defined once here, so a consumer never imports a producer's DAG file. Asset
URIs must be static, and the data bucket's name is only known at run time
(Variable ``data_bucket``), so the URIs name a key inside the data bucket
(``x-data-bucket://<key>``); each event's extra carries the bucket and key.
"""

from __future__ import annotations

from airflow.sdk import Asset

STACKEXCHANGE_RAW_PREFIX = "raw/stackexchange"


def _data_bucket_asset(name: str, key: str, group: str) -> Asset:
    return Asset(name=name, uri=f"x-data-bucket://{key}", group=group)


STACKEXCHANGE_POSTS = _data_bucket_asset("stackexchange_raw_posts",
                                         f"{STACKEXCHANGE_RAW_PREFIX}/Posts.xml", "stackexchange")
STACKEXCHANGE_USERS = _data_bucket_asset("stackexchange_raw_users",
                                         f"{STACKEXCHANGE_RAW_PREFIX}/Users.xml", "stackexchange")
