"""End to end: stackexchange_transform on what stackexchange_ingest landed,
run as the scheduler runs it on an Asset event (no logical date)."""

from __future__ import annotations

import csv
import io
import json

import pytest

from tests.dags.conftest import STACKEXCHANGE_DATE as DATE
from tests.dags.conftest import run_dag, stackexchange_objects


def partition(layer: str, table: str, file: str) -> str:
    return f"{layer}/stackexchange/{table}/run_date={DATE}/{file}"


def jsonl(data: bytes) -> list[dict]:
    return [json.loads(line) for line in data.decode().splitlines()]


def rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode())))


def outputs(s3) -> dict[str, bytes]:
    return {k: v for k, v in stackexchange_objects(s3).items() if not k.startswith(("raw/", "landing/"))}


@pytest.fixture(scope="module")
def transformed(stackexchange_ingested, dagbag, s3):
    states = run_dag(dagbag, "stackexchange_transform", date=DATE, asset_triggered=True)
    assert set(states.values()) == {"success"}, states
    return outputs(s3)


def test_runs_when_both_raw_assets_have_changed(dagbag):
    from airflow.sdk.definitions.asset import AssetAll
    condition = dagbag.get_dag("stackexchange_transform").timetable.asset_condition
    assert isinstance(condition, AssetAll)
    assert [asset.name for asset in condition.objects] == ["stackexchange_raw_posts",
                                                           "stackexchange_raw_users"]


def test_writes_one_partition_per_layer(transformed):
    assert sorted(transformed) == sorted([
        partition("bronze", "posts", "posts.jsonl"), partition("bronze", "users", "users.jsonl"),
        partition("silver", "posts", "posts.jsonl"), partition("silver", "users", "users.jsonl"),
        partition("gold", "top_tags", "top_tags.csv"),
        partition("gold", "posts_per_user", "posts_per_user.csv"),
    ])


def test_bronze_keeps_every_row_as_is(transformed):
    posts = jsonl(transformed[partition("bronze", "posts", "posts.jsonl")])
    assert [p["Id"] for p in posts] == ["1", "2", "3", "4", "5", "6", "7", "8"]
    assert posts[1]["Tags"] == "<espresso><grinding>"
    assert posts[4]["Title"] == "Café au lait ratio"
    assert len(jsonl(transformed[partition("bronze", "users", "users.jsonl")])) == 5


def test_silver_is_typed_with_tags_split_from_both_formats(transformed):
    posts = {p["id"]: p for p in jsonl(transformed[partition("silver", "posts", "posts.jsonl")])}
    assert posts[1]["tags"] == ["grinding", "pour-over"]
    assert posts[2]["tags"] == ["espresso", "grinding"]
    assert posts[4] == {"id": 4, "post_type": "answer", "created_at": "2015-01-28T08:00:00.000",
                        "score": -1, "owner_user_id": None, "parent_id": 1, "title": None, "tags": []}
    assert posts[7]["post_type"] == "other"
    users = jsonl(transformed[partition("silver", "users", "users.jsonl")])
    assert users[2] == {"id": 9, "display_name": "Jörg Barista", "reputation": 1290,
                        "created_at": "2015-01-27T20:30:00.000"}


def test_gold_top_tags(transformed):
    assert rows(transformed[partition("gold", "top_tags", "top_tags.csv")]) == [
        ["tag", "questions", "total_score"],
        ["espresso", "2", "6"],
        ["grinding", "2", "17"],
        ["extraction", "1", "1"],
        ["milk", "1", "3"],
        ["pour-over", "1", "12"],
    ]


def test_gold_posts_per_user(transformed):
    assert rows(transformed[partition("gold", "posts_per_user", "posts_per_user.csv")]) == [
        ["user_id", "display_name", "questions", "answers", "posts"],
        ["8", "Ana Brewer", "2", "1", "3"],
        ["9", "Jörg Barista", "1", "1", "2"],
        ["-1", "Community", "0", "0", "1"],
        ["10", "new_drinker", "1", "0", "1"],
    ]


def test_a_second_run_for_the_date_leaves_the_same_objects(transformed, dagbag, s3):
    assert set(run_dag(dagbag, "stackexchange_transform", date=DATE,
                       asset_triggered=True).values()) == {"success"}
    assert outputs(s3) == transformed
