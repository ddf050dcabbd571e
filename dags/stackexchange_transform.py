"""Stack Exchange transform: bronze -> silver -> gold, run when both raw Assets update.

Scheduled on the two Assets of ``stackexchange_ingest``; runs once both have a
new event, and reads exactly the keys those events name (one ingest's
partition; the newest event of each Asset if several arrived). A manual run
names the ingest with the ``ingest_date`` param instead. Writes one partition
per ingest date in the data bucket (Variable ``data_bucket``)::

    bronze/stackexchange/{posts,users}/run_date=<ingest date>/<entity>.jsonl
        every XML row, attributes kept as strings
    silver/stackexchange/{posts,users}/run_date=<ingest date>/<entity>.jsonl
        typed, de-duplicated by id, sorted by id; tags split into a list
    gold/stackexchange/top_tags/run_date=<ingest date>/top_tags.csv
        tag, questions, total_score; most used first
    gold/stackexchange/posts_per_user/run_date=<ingest date>/posts_per_user.csv
        user_id, display_name, questions, answers, posts; most active first

Once both gold tables are written, ``publish_gold`` records one event on the
``stackexchange_gold`` Asset naming the bucket, the ingest date and both gold
keys (what ``stackexchange_to_databricks`` runs on).

Idempotent per ingest: a run writes exactly these keys, each a pure function
of that ingest's raw files, so a re-run (or a later run for an old date)
leaves byte-identical objects. Bronze and silver are one mapped task per
entity (dynamic task mapping). Files stream through local disk; silver holds
an entity's rows to de-duplicate them by id, so for the largest sites give it
a bigger pod (see kubernetes_pod_overrides).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import tempfile
from collections import Counter
from collections.abc import Iterator
from typing import Any
from xml.etree.ElementTree import iterparse

import pendulum
from airflow.sdk import Param, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException
from include.assets import (
    STACKEXCHANGE_GOLD,
    STACKEXCHANGE_POSTS,
    STACKEXCHANGE_USERS,
    newest_event_extra,
    stackexchange_gold_keys,
    stackexchange_raw_key,
)
from include.platform import DAGRUN_TIMEOUT, DEFAULT_ARGS, DataBucket

POST_TYPES = {"1": "question", "2": "answer"}
ENTITIES = {"posts": "Posts.xml", "users": "Users.xml"}
ASSETS = {"posts": STACKEXCHANGE_POSTS, "users": STACKEXCHANGE_USERS}


def xml_rows(path: str) -> Iterator[dict[str, str]]:
    """The attributes of every <row> of a dump file, streamed."""
    for _, element in iterparse(path, events=("end",)):
        if element.tag == "row":
            yield dict(element.attrib)
            element.clear()


def parse_tags(value: str | None) -> list[str]:
    """Both dump formats: ``|a|b|`` (2024 on) and ``<a><b>`` (before)."""
    return re.findall(r"[^|<>]+", value or "")


def _int(value: str | None) -> int | None:
    return int(value) if value not in (None, "") else None


def silver_post(row: dict[str, str]) -> dict[str, Any]:
    return {
        "id": int(row["Id"]),
        "post_type": POST_TYPES.get(row.get("PostTypeId", ""), "other"),
        "created_at": row.get("CreationDate"),
        "score": _int(row.get("Score")) or 0,
        "owner_user_id": _int(row.get("OwnerUserId")),
        "parent_id": _int(row.get("ParentId")),
        "title": row.get("Title"),
        "tags": parse_tags(row.get("Tags")),
    }


def silver_user(row: dict[str, str]) -> dict[str, Any]:
    return {
        "id": int(row["Id"]),
        "display_name": row.get("DisplayName", ""),
        "reputation": _int(row.get("Reputation")) or 0,
        "created_at": row.get("CreationDate"),
    }


SILVER = {"posts": silver_post, "users": silver_user}


def jsonl_rows(path: str) -> Iterator[dict[str, Any]]:
    with open(path, encoding="utf-8") as f:
        for line in f:
            yield json.loads(line)


def write_jsonl(path: str, rows: Iterator[dict[str, Any]] | list[dict[str, Any]]) -> int:
    count = 0
    with open(path, "w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, sort_keys=True, ensure_ascii=False) + "\n")
            count += 1
    return count


def top_tags(posts: Iterator[dict[str, Any]]) -> list[tuple[str, int, int]]:
    """(tag, questions, total score) for every tag of a question, most used first."""
    questions: Counter[str] = Counter()
    score: Counter[str] = Counter()
    for post in posts:
        if post["post_type"] == "question":
            for tag in post["tags"]:
                questions[tag] += 1
                score[tag] += post["score"]
    return sorted(((t, n, score[t]) for t, n in questions.items()), key=lambda r: (-r[1], r[0]))


def posts_per_user(posts: Iterator[dict[str, Any]],
                   users: Iterator[dict[str, Any]]) -> list[tuple[int, str, int, int, int]]:
    """(user id, name, questions, answers, posts) per user with posts, most active first.

    Posts of deleted users (no owner) are not attributed to anyone."""
    counts: dict[int, Counter[str]] = {}
    for post in posts:
        if post["owner_user_id"] is not None:
            counts.setdefault(post["owner_user_id"], Counter())[post["post_type"]] += 1
    names = {u["id"]: u["display_name"] for u in users if u["id"] in counts}
    rows = [(uid, names.get(uid, ""), c["question"], c["answer"], sum(c.values()))
            for uid, c in counts.items()]
    return sorted(rows, key=lambda r: (-r[4], r[0]))


def to_csv(header: tuple[str, ...], rows: list[tuple]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def partition_key(layer: str, table: str, date: str, file: str) -> str:
    return f"{layer}/stackexchange/{table}/run_date={date}/{file}"


def raw_inputs(events: Any, ingest_date: str | None) -> list[dict[str, str]]:
    """What this run reads, one entry per entity: the raw key and its ingest date.

    From the triggering Asset events (the newest of each Asset), else from the
    ``ingest_date`` param. Both entities must come from the same ingest."""
    inputs = []
    for entity, asset in ASSETS.items():
        extra = newest_event_extra(events, asset, ("key", "ingest_date"))
        if extra:
            key, date = extra["key"], extra["ingest_date"]
        elif ingest_date:
            key, date = stackexchange_raw_key(ingest_date, ENTITIES[entity]), ingest_date
        else:
            raise AirflowFailException(f"no {asset.name} event and no ingest_date param: nothing to read")
        inputs.append({"entity": entity, "raw_key": key, "date": date})
    if len({i["date"] for i in inputs}) != 1:
        raise AirflowFailException(f"the raw files come from different ingests: {inputs!r}")
    return inputs


def by_entity(results: Any) -> dict[str, dict[str, str]]:
    return {r["entity"]: r for r in results}


@dag(
    dag_id="stackexchange_transform",
    description="Bronze, silver and gold layers of the Stack Exchange dump",
    schedule=(STACKEXCHANGE_POSTS & STACKEXCHANGE_USERS),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=DAGRUN_TIMEOUT,
    default_args=DEFAULT_ARGS,
    tags=["example", "assets", "stackexchange", "s3"],
    params={
        "ingest_date": Param(None, type=["null", "string"], format="date",
                             description="Manual runs: the ingest to transform (YYYY-MM-DD). "
                                         "Asset-triggered runs read what their events name."),
    },
    doc_md=__doc__,
)
def stackexchange_transform():
    @task
    def resolve_inputs() -> list[dict[str, str]]:
        """The raw keys this run reads, from its Asset events (or the param)."""
        context = get_current_context()
        return raw_inputs(context.get("triggering_asset_events"), context["params"].get("ingest_date"))

    @task
    def bronze(source: dict[str, str]) -> dict[str, str]:
        """Raw XML rows -> JSON lines, unchanged."""
        bucket, entity = DataBucket(), source["entity"]
        key = partition_key("bronze", entity, source["date"], f"{entity}.jsonl")
        with tempfile.TemporaryDirectory() as tmp:
            raw = bucket.download(source["raw_key"], tmp)
            out = os.path.join(tmp, "bronze.jsonl")
            write_jsonl(out, xml_rows(raw))
            bucket.upload(out, key)
        return {**source, "key": key}

    @task
    def silver(source: dict[str, str]) -> dict[str, str]:
        """Typed rows, one per id (the last one wins), sorted by id."""
        bucket, entity = DataBucket(), source["entity"]
        key = partition_key("silver", entity, source["date"], f"{entity}.jsonl")
        with tempfile.TemporaryDirectory() as tmp:
            rows = {}
            for row in jsonl_rows(bucket.download(source["key"], tmp)):
                if row.get("Id"):
                    clean = SILVER[entity](row)
                    rows[clean["id"]] = clean
            out = os.path.join(tmp, "silver.jsonl")
            write_jsonl(out, [rows[i] for i in sorted(rows)])
            bucket.upload(out, key)
        return {**source, "key": key}

    @task
    def gold_top_tags(silvers: list[dict[str, str]]) -> str:
        posts = by_entity(silvers)["posts"]
        bucket = DataBucket()
        key = stackexchange_gold_keys(posts["date"])["top_tags"]
        with tempfile.TemporaryDirectory() as tmp:
            rows = top_tags(jsonl_rows(bucket.download(posts["key"], tmp)))
        bucket.write_text(to_csv(("tag", "questions", "total_score"), rows), key)
        return key

    @task
    def gold_posts_per_user(silvers: list[dict[str, str]]) -> str:
        found = by_entity(silvers)
        bucket = DataBucket()
        key = stackexchange_gold_keys(found["posts"]["date"])["posts_per_user"]
        with tempfile.TemporaryDirectory() as tmp:
            rows = posts_per_user(jsonl_rows(bucket.download(found["posts"]["key"], tmp)),
                                  jsonl_rows(bucket.download(found["users"]["key"], tmp)))
        bucket.write_text(to_csv(("user_id", "display_name", "questions", "answers", "posts"), rows), key)
        return key

    @task(outlets=[STACKEXCHANGE_GOLD])
    def publish_gold(silvers: list[dict[str, str]], top_tags_key: str, posts_per_user_key: str) -> dict[str, Any]:
        """One gold Asset event per ingest, after both tables: the keys just written."""
        extra = {"bucket": DataBucket().name, "ingest_date": by_entity(silvers)["posts"]["date"],
                 "keys": {"top_tags": top_tags_key, "posts_per_user": posts_per_user_key}}
        get_current_context()["outlet_events"][STACKEXCHANGE_GOLD].extra = extra
        return extra

    silvers = silver.expand(source=bronze.expand(source=resolve_inputs()))
    publish_gold(silvers, gold_top_tags(silvers), gold_posts_per_user(silvers))


stackexchange_transform()
