"""Stack Exchange gold -> Databricks: run an existing Databricks job on each gold partition.

Scheduled on the ``stackexchange_gold`` Asset: ``stackexchange_transform``
records one event per ingest once both gold tables are written, naming the
ingest date and the two keys. This DAG then

1. ``run_now_request``: reads the partition from that event (the newest, if
   several arrived; a manual run names it with the ``ingest_date`` param
   instead), checks that both gold objects are in the data bucket, and builds
   the run-now request: the job from param ``job_id``, else Variable
   ``databricks_gold_job_id``;
2. ``run_databricks_job``: the Databricks provider's ``DatabricksRunNowOperator``
   starts a run of that job through connection ``databricks_default``
   (Secrets Manager, ``airflow-eks/<stack>/connections/databricks_default``:
   the workspace host and a token; README "Connections and variables as
   code") and defers to the triggerer until the run ends; a run that ends in
   anything but SUCCESS fails the task with the run's state message.

The partition reaches the job as **job parameters** (not ``notebook_params``):
``ingest_date``, ``top_tags_uri`` and ``posts_per_user_uri`` (``s3://`` URIs
of the exact objects). Job parameters reach every task of the job that takes
key-value parameters (notebook widgets, Python wheel and SQL tasks,
``{{job.parameters.ingest_date}}``), whatever its type; the provider re-sends
them when it repairs a run; Databricks refuses them together with the
task-type slots (``notebook_params``...), so the job declares them as
job-level parameters.

The contract the Databricks job must honour, which makes a re-run safe: read
only the two objects it is given, and replace its output for ``ingest_date``
and nothing else (a Delta ``replaceWhere "ingest_date = '<date>'"``, or
``INSERT OVERWRITE ... PARTITION (ingest_date = '<date>')``), so a rerun of
the same partition, or a retry, leaves the same result. Each try sends its
own ``idempotency_token`` (the task instance id, new per try): when the
provider's HTTP retry repeats a run-now whose answer was lost, Databricks
returns the run it already started instead of starting a second one.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.providers.databricks.operators.databricks import DatabricksRunNowOperator
from airflow.sdk import Param, Variable, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException
from include.assets import STACKEXCHANGE_GOLD, newest_event_extra, stackexchange_gold_keys
from include.platform import DAGRUN_TIMEOUT, DEFAULT_ARGS, DataBucket

DATABRICKS_CONN_ID = "databricks_default"
JOB_ID_VARIABLE = "databricks_gold_job_id"
# How often the triggerer asks Databricks for the run's state while it runs.
POLL_SECONDS = 30


def job_id(value: Any) -> int:
    """The Databricks job id (the run's param, else the Variable): a positive integer."""
    if value in (None, ""):
        raise AirflowFailException(f"no Databricks job: set Variable {JOB_ID_VARIABLE} "
                                   "(or the run's job_id param) to the id of the job to run")
    text = str(value).strip()
    if not text.isdigit() or int(text) < 1:
        raise AirflowFailException(f"{JOB_ID_VARIABLE}/job_id {value!r}: expected a Databricks job id, "
                                   "a positive integer")
    return int(text)


def gold_partition(events: Any, ingest_date: str | None, bucket: str) -> dict[str, Any]:
    """The gold partition this run hands over: from the triggering gold Asset
    event, else from the ``ingest_date`` param (the keys the transform writes)."""
    extra = newest_event_extra(events, STACKEXCHANGE_GOLD, ("bucket", "ingest_date", "keys"))
    if extra:
        return {"bucket": extra["bucket"], "ingest_date": extra["ingest_date"], "keys": extra["keys"]}
    if ingest_date:
        return {"bucket": bucket, "ingest_date": ingest_date, "keys": stackexchange_gold_keys(ingest_date)}
    raise AirflowFailException("no stackexchange_gold event and no ingest_date param: nothing to hand over")


def job_parameters(partition: dict[str, Any]) -> dict[str, str]:
    """What the Databricks job receives (job parameters are strings)."""
    keys = partition["keys"]
    return {
        "ingest_date": partition["ingest_date"],
        "top_tags_uri": f"s3://{partition['bucket']}/{keys['top_tags']}",
        "posts_per_user_uri": f"s3://{partition['bucket']}/{keys['posts_per_user']}",
    }


@dag(
    dag_id="stackexchange_to_databricks",
    description="Runs a Databricks job on each Stack Exchange gold partition",
    schedule=STACKEXCHANGE_GOLD,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=DAGRUN_TIMEOUT,
    default_args=DEFAULT_ARGS,
    tags=["example", "assets", "stackexchange", "databricks"],
    params={
        "ingest_date": Param(None, type=["null", "string"], format="date",
                             description="Manual runs: the gold partition to hand over (YYYY-MM-DD). "
                                         "Asset-triggered runs use what their event names."),
        "job_id": Param(None, type=["null", "integer"], minimum=1,
                        description=f"The Databricks job to run. Empty: Variable {JOB_ID_VARIABLE}."),
    },
    doc_md=__doc__,
)
def stackexchange_to_databricks():
    @task
    def run_now_request() -> dict[str, Any]:
        """The job and its parameters; fails unless both gold objects exist."""
        context = get_current_context()
        bucket = DataBucket()
        partition = gold_partition(context.get("triggering_asset_events"),
                                   context["params"].get("ingest_date"), bucket.name)
        missing = [k for k in partition["keys"].values() if k not in bucket.keys(k)]
        if partition["bucket"] != bucket.name or missing:
            raise AirflowFailException(f"the gold partition {partition['ingest_date']} is not complete in "
                                       f"{bucket.name}: missing {missing or partition['keys']} "
                                       "(run stackexchange_transform for it first)")
        job = job_id(context["params"].get("job_id") or Variable.get(JOB_ID_VARIABLE, default=None))
        return {"job_id": job, "job_parameters": job_parameters(partition)}

    DatabricksRunNowOperator(
        task_id="run_databricks_job",
        databricks_conn_id=DATABRICKS_CONN_ID,
        json=run_now_request(),
        # New per try (Airflow gives each try its own id), the same for the
        # provider's HTTP retries of one run-now: Databricks then returns the
        # run it started rather than a second one.
        idempotency_token="{{ ti.id }}",
        # The DAG's params (ingest_date, job_id) are not the job's parameters.
        forward_dag_params=False,
        deferrable=True,
        wait_for_termination=True,
        polling_period_seconds=POLL_SECONDS,
    )


stackexchange_to_databricks()
