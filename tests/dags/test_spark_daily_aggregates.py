"""End to end: spark_daily_aggregates against moto's EMR Serverless and S3.

moto runs no Spark: a job run it accepts ends at once in the state moto is
set to report (SUCCESS, its default, or FAILED here). Where a test needs the
job's output, the test writes it, as the job would have.
"""

from __future__ import annotations

import os

import pytest

from tests.conftest import ROOT, module_constants
from tests.dags.conftest import DATA_BUCKET, run_dag

ROLE = "arn:aws:iam::123456789012:role/airflow-eks-dev-spark-job-role"
SCRIPT = ROOT / "dags" / "include" / "spark" / "daily_aggregates.py"


@pytest.fixture(scope="module")
def emr(s3, secrets_manager):
    """An application in moto, named to the DAGs by the Variables the stack sets."""
    import boto3
    client = boto3.client("emr-serverless", endpoint_url=s3.endpoint, region_name="us-east-1")
    app = client.create_application(name="airflow-eks-dev-spark", releaseLabel="emr-7.12.0",
                                    type="SPARK")["applicationId"]
    os.environ["AIRFLOW_VAR_EMR_SERVERLESS_APPLICATION_ID"] = app
    os.environ["AIRFLOW_VAR_EMR_SERVERLESS_EXECUTION_ROLE_ARN"] = ROLE
    return client, app


def job_runs(client, app):
    runs = client.list_job_runs(applicationId=app)["jobRuns"]
    return [client.get_job_run(applicationId=app, jobRunId=r["id"])["jobRun"] for r in runs]


def write_partition(s3, date):
    prefix = f"spark/output/daily_aggregates/run_date={date}/"
    client = s3.client()
    client.put_object(Bucket=s3.bucket, Key=prefix + "_SUCCESS", Body=b"")
    client.put_object(Bucket=s3.bucket, Key=prefix + "part-00000.csv",
                      Body=b"post_type,posts,total_score,authors\nanswer,3,4,1\n")


def test_a_run_starts_the_job_with_this_dates_partitions_and_checks_its_output(dagbag, s3, emr):
    client, app = emr
    date = "2026-11-18"
    write_partition(s3, date)
    states = run_dag(dagbag, "spark_daily_aggregates", date=date)
    assert states == {"sync_script": "success", "job_driver": "success",
                      "run_spark_job": "success", "check_output": "success"}
    (run,) = [r for r in job_runs(client, app) if r["name"] == f"spark_daily_aggregates-{date}"]
    assert run["applicationId"] == app and run["executionRole"] == ROLE
    submit = run["jobDriver"]["sparkSubmit"]
    script_key = submit["entryPoint"].removeprefix(f"s3://{DATA_BUCKET}/")
    assert script_key.startswith("spark/code/daily_aggregates-") and script_key.endswith(".py")
    assert s3.objects("spark/code/")[script_key] == SCRIPT.read_bytes()
    assert submit["entryPointArguments"] == [
        "--input", f"s3://{DATA_BUCKET}/silver/stackexchange/posts/run_date={date}/",
        "--output", f"s3://{DATA_BUCKET}/spark/output/daily_aggregates/run_date={date}/"]


def test_a_job_that_wrote_nothing_fails_the_check(dagbag, s3, emr):
    states = run_dag(dagbag, "spark_daily_aggregates", date="2026-11-17")
    assert states["run_spark_job"] == "success" and states["check_output"] == "failed"


def test_a_failed_job_run_fails_the_task(dagbag, s3, emr, monkeypatch):
    from moto.emrserverless import models
    monkeypatch.setattr(models, "JOB_STATUS", "FAILED")  # what moto reports for new runs
    client, app = emr
    date = "2026-11-16"
    write_partition(s3, date)  # even with output present, a failed run is a failure
    states = run_dag(dagbag, "spark_daily_aggregates", date=date)
    assert states["run_spark_job"] == "failed" and states["check_output"] == "upstream_failed"
    (run,) = [r for r in job_runs(client, app) if r["name"] == f"spark_daily_aggregates-{date}"]
    assert run["state"] == "FAILED"


def test_the_script_prefix_is_the_one_jobs_may_read_but_not_write():
    dag = module_constants(ROOT / "dags" / "spark_daily_aggregates.py", "SCRIPT_PREFIX")
    config = module_constants(ROOT / "components" / "config.py", "EMR_SCRIPT_PREFIX")
    assert dag["SCRIPT_PREFIX"] == config["EMR_SCRIPT_PREFIX"]
