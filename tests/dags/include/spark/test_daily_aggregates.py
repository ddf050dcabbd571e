"""The EMR Serverless job's PySpark code, on real PySpark (local mode, Debian's JRE)."""

from __future__ import annotations

import csv
import json

import pytest

pyspark = pytest.importorskip("pyspark", reason="PySpark is not in this environment")

from include.spark import daily_aggregates as job  # noqa: E402

POSTS = [
    {"id": 1, "post_type": "question", "score": 5, "owner_user_id": 10},
    {"id": 2, "post_type": "answer", "score": 2, "owner_user_id": 11},
    {"id": 3, "post_type": "answer", "score": -1, "owner_user_id": 11},
    {"id": 4, "post_type": "question", "score": 0, "owner_user_id": 12},
    {"id": 5, "post_type": "answer", "score": 3, "owner_user_id": None},
]


@pytest.fixture(scope="module")
def spark():
    from pyspark.sql import SparkSession
    session = (SparkSession.builder.master("local[1]").appName("test")
               .config("spark.ui.enabled", "false")
               .config("spark.sql.shuffle.partitions", "1").getOrCreate())
    yield session
    session.stop()


def test_aggregate_counts_scores_and_distinct_authors(spark):
    rows = job.aggregate(spark.createDataFrame(
        POSTS, "id LONG, post_type STRING, score LONG, owner_user_id LONG")).collect()
    assert [r.asDict() for r in rows] == [
        {"post_type": "answer", "posts": 3, "total_score": 4, "authors": 1},
        {"post_type": "question", "posts": 2, "total_score": 5, "authors": 2},
    ]


def test_job_writes_one_csv_partition_and_a_rerun_replaces_it(spark, tmp_path):
    source = tmp_path / "silver" / "run_date=2026-11-20"
    source.mkdir(parents=True)
    (source / "posts.jsonl").write_text("".join(json.dumps(p) + "\n" for p in POSTS))
    out = tmp_path / "out" / "run_date=2026-11-20"
    for _ in range(2):  # the second run overwrites: idempotent per date
        job.main(["--input", str(source), "--output", str(out)])
    parts = sorted(out.glob("part-*.csv"))
    assert len(parts) == 1 and (out / "_SUCCESS").exists()
    with parts[0].open() as f:
        assert list(csv.DictReader(f)) == [
            {"post_type": "answer", "posts": "3", "total_score": "4", "authors": "1"},
            {"post_type": "question", "posts": "2", "total_score": "5", "authors": "2"},
        ]
