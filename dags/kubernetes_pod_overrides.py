"""KubernetesExecutor showcase: size and place each task's pod from the DAG.

With the KubernetesExecutor every task runs in its own pod, built from the
chart's pod template (helm/values.yaml ``workers``: 250m CPU / 512Mi requested,
on the ``tasks`` node group, which scales from zero and is tainted so that only
task pods land there). A task changes its pod with ``executor_config``:

- ``default_pod``: no override; the template's size and placement.
- ``sized_pod``: asks for 1 CPU and 2Gi, with a 2Gi memory limit. The Cluster
  Autoscaler adds a tasks node when no node has room.
- ``pinned_pod``: states the tasks node group's label and toleration itself,
  so it keeps running there even if the template's default changes, and reads
  the node it landed on through the downward API.
"""

from __future__ import annotations

import hashlib
import os
import random

# The DAG processor imports a file's airflow.* modules once, in the process it
# forks every parser from; this one brings in the kubernetes client, so a parse
# of this file does not pay its ~1.7 s import each time (scripts/bench_dag_parse.py).
import airflow.providers.cncf.kubernetes.pod_generator  # noqa: F401
import pendulum
from airflow.sdk import dag, task
from include.platform import DAGRUN_TIMEOUT, DEFAULT_ARGS
from kubernetes.client import models as k8s

# Must match components/cluster.py (a test checks it).
NODE_GROUP_LABEL = "airflow-eks/node-group"
TASKS_TAINT_KEY = "airflow-eks/tasks"

SIZED = {
    "pod_override": k8s.V1Pod(spec=k8s.V1PodSpec(containers=[k8s.V1Container(
        name="base",  # the task's container in the template; overrides merge into it
        resources=k8s.V1ResourceRequirements(requests={"cpu": "1", "memory": "2Gi"},
                                             limits={"memory": "2Gi"}),
    )])),
}

PINNED = {
    "pod_override": k8s.V1Pod(
        metadata=k8s.V1ObjectMeta(labels={"airflow-eks/showcase": "pinned"}),
        spec=k8s.V1PodSpec(
            node_selector={NODE_GROUP_LABEL: "tasks"},
            tolerations=[k8s.V1Toleration(key=TASKS_TAINT_KEY, operator="Equal", value="true",
                                          effect="NoSchedule")],
            containers=[k8s.V1Container(name="base", env=[k8s.V1EnvVar(
                name="NODE_NAME",
                value_from=k8s.V1EnvVarSource(field_ref=k8s.V1ObjectFieldSelector(field_path="spec.nodeName")),
            )])],
        ),
    ),
}


@dag(
    dag_id="kubernetes_pod_overrides",
    description="Per-task pod resources and placement with the KubernetesExecutor",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    dagrun_timeout=DAGRUN_TIMEOUT,
    default_args=DEFAULT_ARGS,
    tags=["example", "kubernetes"],
    doc_md=__doc__,
)
def kubernetes_pod_overrides():
    @task
    def default_pod() -> str:
        return os.environ.get("HOSTNAME", "local")

    @task(executor_config=SIZED)
    def sized_pod(seed: int = 42, n: int = 1_000_000) -> str:
        """Sorts a million numbers: a stand-in for a task that needs its own memory."""
        values = sorted(random.Random(seed).random() for _ in range(n))
        return hashlib.sha256(repr(values[:: n // 1000]).encode()).hexdigest()

    @task(executor_config=PINNED)
    def pinned_pod() -> str:
        return os.environ.get("NODE_NAME", "not on Kubernetes")

    default_pod() >> [sized_pod(), pinned_pod()]


kubernetes_pod_overrides()
