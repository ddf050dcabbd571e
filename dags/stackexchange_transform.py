"""Stack Exchange transform: bronze -> silver -> gold, run when both raw Assets update.

Scheduled on the two Assets of ``stackexchange_ingest``; runs once both have a
new event. Reads ``raw/stackexchange/{Posts,Users}.xml`` from the data bucket
(Variable ``data_bucket``) and writes one partition per run date::

    bronze/stackexchange/{posts,users}/run_date=<date>/<entity>.jsonl
        every XML row, attributes kept as strings
    silver/stackexchange/{posts,users}/run_date=<date>/<entity>.jsonl
        typed, de-duplicated by id, sorted by id; tags split into a list
    gold/stackexchange/top_tags/run_date=<date>/top_tags.csv
        tag, questions, total_score; most used first
    gold/stackexchange/posts_per_user/run_date=<date>/posts_per_user.csv
        user_id, display_name, questions, answers, posts; most active first

Idempotent per run date: a run writes exactly these keys, each a pure function
of the raw files, so a re-run or retry leaves byte-identical objects.
Files stream through local disk. Bronze and gold hold one row at a time (plus
gold's counters); silver holds an entity's rows to de-duplicate them by id, so
for the largest sites give it a bigger pod (see kubernetes_pod_overrides).
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
from airflow.sdk import dag, get_current_context, task
from include.assets import STACKEXCHANGE_POSTS, STACKEXCHANGE_RAW_PREFIX, STACKEXCHANGE_USERS
from include.platform import DEFAULT_ARGS, DataBucket, run_date

POST_TYPES = {"1": "question", "2": "answer"}
ENTITIES = {"posts": "Posts.xml", "users": "Users.xml"}


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


@dag(
    dag_id="stackexchange_transform",
    description="Bronze, silver and gold layers of the Stack Exchange dump",
    schedule=(STACKEXCHANGE_POSTS & STACKEXCHANGE_USERS),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["example", "assets", "stackexchange", "s3"],
    doc_md=__doc__,
)
def stackexchange_transform():
    @task
    def bronze(entity: str) -> str:
        """Raw XML rows -> JSON lines, unchanged."""
        bucket = DataBucket()
        key = partition_key("bronze", entity, run_date(get_current_context()), f"{entity}.jsonl")
        with tempfile.TemporaryDirectory() as tmp:
            raw = bucket.download(f"{STACKEXCHANGE_RAW_PREFIX}/{ENTITIES[entity]}", tmp)
            out = os.path.join(tmp, "bronze.jsonl")
            write_jsonl(out, xml_rows(raw))
            bucket.upload(out, key)
        return key

    @task
    def silver(entity: str, bronze_key: str) -> str:
        """Typed rows, one per id (the last one wins), sorted by id."""
        bucket = DataBucket()
        key = partition_key("silver", entity, run_date(get_current_context()), f"{entity}.jsonl")
        with tempfile.TemporaryDirectory() as tmp:
            rows = {}
            for row in jsonl_rows(bucket.download(bronze_key, tmp)):
                if row.get("Id"):
                    clean = SILVER[entity](row)
                    rows[clean["id"]] = clean
            out = os.path.join(tmp, "silver.jsonl")
            write_jsonl(out, [rows[i] for i in sorted(rows)])
            bucket.upload(out, key)
        return key

    @task
    def gold_top_tags(posts_key: str) -> str:
        bucket = DataBucket()
        key = partition_key("gold", "top_tags", run_date(get_current_context()), "top_tags.csv")
        with tempfile.TemporaryDirectory() as tmp:
            rows = top_tags(jsonl_rows(bucket.download(posts_key, tmp)))
        bucket.write_text(to_csv(("tag", "questions", "total_score"), rows), key)
        return key

    @task
    def gold_posts_per_user(posts_key: str, users_key: str) -> str:
        bucket = DataBucket()
        key = partition_key("gold", "posts_per_user", run_date(get_current_context()), "posts_per_user.csv")
        with tempfile.TemporaryDirectory() as tmp:
            rows = posts_per_user(jsonl_rows(bucket.download(posts_key, tmp)),
                                  jsonl_rows(bucket.download(users_key, tmp)))
        bucket.write_text(to_csv(("user_id", "display_name", "questions", "answers", "posts"), rows), key)
        return key

    silver_posts = silver.override(task_id="silver_posts")(
        "posts", bronze.override(task_id="bronze_posts")("posts"))
    silver_users = silver.override(task_id="silver_users")(
        "users", bronze.override(task_id="bronze_users")("users"))
    gold_top_tags(silver_posts)
    gold_posts_per_user(silver_posts, silver_users)


stackexchange_transform()
