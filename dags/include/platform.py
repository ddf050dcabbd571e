"""Where the platform puts things, and the defaults every DAG shares.

The platform (components/airflow.py) sets, in every Airflow pod:

- ``AIRFLOW_VAR_DATA_BUCKET``: the data bucket, read as Variable ``data_bucket``;
- ``AIRFLOW_CONN_AWS_DEFAULT``: a key-less AWS connection; boto3 takes the
  pod's IRSA web-identity token, so no DAG ever holds AWS keys.

Any of them can be overridden by a Variable or connection of the same id
(the UI, or a secrets backend).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import Variable

DATA_BUCKET_VARIABLE = "data_bucket"
AWS_CONN_ID = "aws_default"

OWNER = "data-platform"

# Tasks are idempotent, so retrying is always safe. Backoff absorbs spot
# interruptions of the tasks node group and throttled source APIs.
DEFAULT_ARGS: dict[str, Any] = {
    "owner": OWNER,
    "retries": 2,
    "retry_delay": timedelta(minutes=1),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=10),
    "execution_timeout": timedelta(hours=1),
}

# Every source download: (connect, read) seconds.
HTTP_TIMEOUT = (10, 120)


def data_bucket() -> str:
    """The data bucket's name. Call it inside a task, never at parse time."""
    return Variable.get(DATA_BUCKET_VARIABLE)


def setting(param: Any, variable: str, default: str) -> str:
    """A run's param if given, else the Variable if set, else the default."""
    if param:
        return str(param)
    return str(Variable.get(variable, default=default))


def run_date(context: Any) -> str:
    """The run's date (YYYY-MM-DD), the partition a run writes.

    Asset-triggered runs have no logical date in Airflow 3, so this falls back
    to the date the run was due; a re-run of the same DAG run keeps it."""
    when = context.get("logical_date") or context["dag_run"].run_after
    return when.date().isoformat()
