"""kubernetes_pod_overrides: the overrides give the pods the platform expects.

dag.test() runs tasks in this process, so executor_config has no effect there.
The pods are checked the way the KubernetesExecutor builds them: the
provider's PodGenerator merges each task's pod_override into the worker pod
template, here built from helm/values.yaml and the platform's node labels."""

from __future__ import annotations

import pytest
import yaml

from tests.conftest import module_constants
from tests.dags.conftest import ROOT, run_dag


def platform_constants() -> dict[str, str]:
    """NODE_GROUP_LABEL and TASKS_TAINT_KEY as components/cluster.py defines them."""
    return module_constants(ROOT / "components" / "cluster.py", "NODE_GROUP_LABEL", "TASKS_TAINT_KEY")


@pytest.fixture(scope="module")
def dag(dagbag):
    return dagbag.get_dag("kubernetes_pod_overrides")


@pytest.fixture(scope="module")
def template():
    """The worker pod template as the chart renders it for this platform."""
    from kubernetes.client import models as k8s
    workers = yaml.safe_load((ROOT / "helm" / "values.yaml").read_text())["workers"]
    constants = platform_constants()
    return k8s.V1Pod(spec=k8s.V1PodSpec(
        node_selector={constants["NODE_GROUP_LABEL"]: "tasks"},
        tolerations=[k8s.V1Toleration(key=constants["TASKS_TAINT_KEY"], operator="Equal",
                                      value="true", effect="NoSchedule")],
        containers=[k8s.V1Container(name="base", image="apache/airflow:3.3.2",
                                    resources=k8s.V1ResourceRequirements(**workers["resources"]))]))


def pod_for(dag, task_id: str, template):
    from airflow.providers.cncf.kubernetes.pod_generator import PodGenerator
    override = (dag.get_task(task_id).executor_config or {}).get("pod_override")
    return PodGenerator.reconcile_pods(template, override)


def test_the_dag_uses_the_platforms_label_and_taint():
    import kubernetes_pod_overrides as module
    assert {"NODE_GROUP_LABEL": module.NODE_GROUP_LABEL,
            "TASKS_TAINT_KEY": module.TASKS_TAINT_KEY} == platform_constants()


def test_default_pod_is_the_template(dag, template):
    pod = pod_for(dag, "default_pod", template)
    assert pod.spec.containers[0].resources.requests == {"cpu": "250m", "memory": "512Mi"}
    assert pod.spec.node_selector == {"airflow-eks/node-group": "tasks"}


def test_sized_pod_gets_its_own_resources(dag, template):
    container = pod_for(dag, "sized_pod", template).spec.containers[0]
    assert container.name == "base"
    assert container.image == "apache/airflow:3.3.2", "the override must not drop the template's image"
    assert container.resources.requests == {"cpu": "1", "memory": "2Gi"}
    assert container.resources.limits == {"memory": "2Gi"}


def test_pinned_pod_runs_on_the_tasks_node_group(dag, template):
    pod = pod_for(dag, "pinned_pod", template)
    assert pod.spec.node_selector == {"airflow-eks/node-group": "tasks"}
    # The executor appends the override's tolerations to the template's.
    assert {(t.key, t.operator, t.value, t.effect) for t in pod.spec.tolerations} == {
        ("airflow-eks/tasks", "Equal", "true", "NoSchedule")}
    (env,) = pod.spec.containers[0].env
    assert (env.name, env.value_from.field_ref.field_path) == ("NODE_NAME", "spec.nodeName")


def test_every_task_runs(dagbag):
    assert run_dag(dagbag, "kubernetes_pod_overrides", date="2026-11-20") == {
        "default_pod": "success", "sized_pod": "success", "pinned_pod": "success"}
