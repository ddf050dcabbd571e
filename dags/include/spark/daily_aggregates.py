"""PySpark job: one day's Stack Exchange posts, aggregated per post type.

Runs on EMR Serverless (dags/spark_daily_aggregates.py uploads this file to
the data bucket and starts it). Reads the silver posts of one run date (JSON
lines, stackexchange_transform's silver layer) and writes one CSV partition:

    post_type,posts,total_score,authors

ordered by post_type, to ``--output`` (overwritten: a re-run of a date
replaces its partition). Only PySpark here: the job has no Airflow.
"""

from __future__ import annotations

import argparse
import sys

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F  # noqa: N812 - PySpark's convention


def aggregate(posts: DataFrame) -> DataFrame:
    """Posts, summed score and distinct authors per post type."""
    return (posts.groupBy("post_type")
            .agg(F.count(F.lit(1)).alias("posts"),
                 F.coalesce(F.sum("score"), F.lit(0)).cast("long").alias("total_score"),
                 F.countDistinct("owner_user_id").alias("authors"))
            .orderBy("post_type"))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--input", required=True, help="silver posts of one date (JSON lines)")
    parser.add_argument("--output", required=True, help="the date's output partition")
    args = parser.parse_args(argv)
    spark = SparkSession.builder.appName("spark_daily_aggregates").getOrCreate()
    try:
        posts = spark.read.schema(
            "id LONG, post_type STRING, score LONG, owner_user_id LONG").json(args.input)
        # One small file per date; overwrite makes the job idempotent per date.
        (aggregate(posts).coalesce(1).write.mode("overwrite")
         .option("header", True).csv(args.output))
    finally:
        spark.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
