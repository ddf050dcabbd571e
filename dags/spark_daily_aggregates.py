"""Spark daily aggregates on EMR Serverless: Airflow orchestrates, EMR computes.

Once a day, for the run's date:

1. ``sync_script`` uploads the PySpark job from this repository
   (``include/spark/daily_aggregates.py``) to the data bucket as
   ``spark/code/daily_aggregates-<sha256>.py``: content-addressed, so every
   run uses exactly the code its DAG run was parsed with and nothing is
   overwritten; nothing else is uploaded at run time;
2. ``run_spark_job`` starts a job run on the platform's EMR Serverless
   application (Variables ``emr_serverless_application_id`` and
   ``emr_serverless_execution_role_arn``, set by the stack with
   ``emrServerless.enabled``) with the amazon provider's operator, deferred
   to the triggerer while the job runs; a failed or cancelled job run fails
   the task;
3. ``check_output`` fails unless the date's partition holds Spark's
   ``_SUCCESS`` marker and a CSV file.

Reads ``silver/stackexchange/posts/run_date=<date>/``, writes
``spark/output/daily_aggregates/run_date=<date>/`` (the job overwrites it: a
re-run of a date replaces its partition). The job execution role may read and
write only those prefixes (stack config ``emrServerless.readPrefixes`` and
``emrServerless.writePrefixes``).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pendulum
from airflow.providers.amazon.aws.operators.emr import EmrServerlessStartJobOperator
from airflow.sdk import dag, get_current_context, task
from include.platform import AWS_CONN_ID, DAGRUN_TIMEOUT, DEFAULT_ARGS, DataBucket, run_date

SCRIPT = Path(__file__).resolve().parent / "include" / "spark" / "daily_aggregates.py"
# components/config.py EMR_SCRIPT_PREFIX: readable, never writable, by jobs.
SCRIPT_PREFIX = "spark/code/"
INPUT_PREFIX = "silver/stackexchange/posts"
OUTPUT_PREFIX = "spark/output/daily_aggregates"
APPLICATION_ID = "{{ var.value.emr_serverless_application_id }}"
EXECUTION_ROLE_ARN = "{{ var.value.emr_serverless_execution_role_arn }}"


def partition(prefix: str, date: str) -> str:
    return f"{prefix}/run_date={date}/"


@dag(
    schedule="@daily",
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    default_args=DEFAULT_ARGS,
    dagrun_timeout=DAGRUN_TIMEOUT,
    tags=["example", "spark", "emr-serverless"],
    description="One day's posts aggregated by a PySpark job on EMR Serverless",
    doc_md=__doc__,
)
def spark_daily_aggregates():

    @task
    def sync_script() -> str:
        """Uploads the job script under its content hash; returns its S3 URI."""
        digest = hashlib.sha256(SCRIPT.read_bytes()).hexdigest()[:16]
        key = f"{SCRIPT_PREFIX}daily_aggregates-{digest}.py"
        bucket = DataBucket()
        bucket.upload(str(SCRIPT), key)
        return f"s3://{bucket.name}/{key}"

    @task
    def job_driver(script_uri: str) -> dict:
        """The spark-submit of this date: input and output partitions."""
        date = run_date(get_current_context())
        bucket = DataBucket().name
        return {"sparkSubmit": {
            "entryPoint": script_uri,
            "entryPointArguments": [
                "--input", f"s3://{bucket}/{partition(INPUT_PREFIX, date)}",
                "--output", f"s3://{bucket}/{partition(OUTPUT_PREFIX, date)}",
            ],
        }}

    run_spark_job = EmrServerlessStartJobOperator(
        task_id="run_spark_job",
        application_id=APPLICATION_ID,
        execution_role_arn=EXECUTION_ROLE_ARN,
        job_driver=job_driver(sync_script()),
        configuration_overrides=None,
        name="spark_daily_aggregates-{{ ds }}",
        aws_conn_id=AWS_CONN_ID,
        wait_for_completion=True,
        deferrable=True,
        waiter_delay=30,
        waiter_max_attempts=120,
    )

    @task
    def check_output() -> list[str]:
        """The date's partition exists: Spark's _SUCCESS marker and a CSV part."""
        prefix = partition(OUTPUT_PREFIX, run_date(get_current_context()))
        keys = DataBucket().keys(prefix)
        if f"{prefix}_SUCCESS" not in keys or not any(k.endswith(".csv") for k in keys):
            raise RuntimeError(f"the Spark job wrote no complete partition under {prefix}: {keys}")
        return keys

    run_spark_job >> check_output()


spark_daily_aggregates()
