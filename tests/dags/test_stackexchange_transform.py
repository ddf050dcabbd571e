"""End to end: stackexchange_transform on what stackexchange_ingest landed,
run because the ingest's Asset events arrived, as the scheduler runs it."""

from __future__ import annotations

import csv
import io
import json

import pytest

from tests.dags.conftest import STACKEXCHANGE_DATE as DATE
from tests.dags.conftest import queued_asset_runs, run_asset_triggered, run_dag, stackexchange_objects


def partition(layer: str, table: str, file: str) -> str:
    return f"{layer}/stackexchange/{table}/run_date={DATE}/{file}"


def jsonl(data: bytes) -> list[dict]:
    return [json.loads(line) for line in data.decode().splitlines()]


def rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode())))


def outputs(s3) -> dict[str, bytes]:
    return {k: v for k, v in stackexchange_objects(s3).items() if not k.startswith(("raw/", "landing/"))}


TASKS = {"resolve_inputs", "bronze[0]", "bronze[1]", "silver[0]", "silver[1]", "gold_top_tags",
         "gold_posts_per_user", "publish_gold"}


@pytest.fixture(scope="module")
def triggered(stackexchange_transformed, s3):
    """The ingest's two Asset events queued the transform; it ran on them."""
    run = stackexchange_transformed
    assert run.states == dict.fromkeys(TASKS, "success"), run.states
    return run, outputs(s3)


@pytest.fixture(scope="module")
def transformed(triggered):
    return triggered[1]


def test_runs_on_exactly_the_events_of_the_ingest(triggered):
    """It consumed every event the ingest runs so far recorded (one per Asset
    per run: two, or four after the ingest tests' re-run), each naming this
    ingest's keys."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    run, _ = triggered
    with create_session() as session:
        recorded = session.query(AssetEvent).join(AssetModel, AssetEvent.asset_id == AssetModel.id).filter(
            AssetModel.name.in_(["stackexchange_raw_posts", "stackexchange_raw_users"])).count()
    assert len(run.consumed) == recorded >= 2 and recorded % 2 == 0
    assert {e["key"] for e in run.consumed} == {
        f"raw/stackexchange/ingest_date={DATE}/Posts.xml", f"raw/stackexchange/ingest_date={DATE}/Users.xml"}


def test_no_new_event_no_run(triggered, dagbag):
    assert queued_asset_runs("stackexchange_transform") == []
    assert run_asset_triggered(dagbag, "stackexchange_transform") is None


def test_the_bronze_and_silver_layers_are_mapped_per_entity(dagbag):
    dag = dagbag.get_dag("stackexchange_transform")
    assert {t.task_id for t in dag.tasks} == {"resolve_inputs", "bronze", "silver", "gold_top_tags",
                                              "gold_posts_per_user", "publish_gold"}


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


def test_a_later_run_for_the_ingest_date_leaves_the_same_objects(transformed, dagbag, s3):
    """A manual re-run names the ingest; it reads that partition, not the newest."""
    states = run_dag(dagbag, "stackexchange_transform", date="2026-11-25", conf={"ingest_date": DATE})
    assert states == dict.fromkeys(TASKS, "success"), states
    assert outputs(s3) == transformed


def test_a_manual_run_without_an_ingest_fails_without_retrying(dagbag):
    states = run_dag(dagbag, "stackexchange_transform", date="2026-11-26", retries=True)
    assert states["resolve_inputs"] == "failed"


def test_records_one_gold_event_naming_both_tables(triggered, s3):
    """The consumers of the gold layer run on it (stackexchange_to_databricks)."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    with create_session() as session:
        (extra,) = [e.extra for e in session.query(AssetEvent).join(AssetModel, AssetEvent.asset_id == AssetModel.id)
                    .filter(AssetModel.name == "stackexchange_gold",
                            AssetEvent.source_run_id == triggered[0].run_id)]
    assert extra == {"bucket": s3.bucket, "ingest_date": DATE, "keys": {
        "top_tags": partition("gold", "top_tags", "top_tags.csv"),
        "posts_per_user": partition("gold", "posts_per_user", "posts_per_user.csv")}}
    assert set(extra["keys"].values()) <= set(triggered[1])
