"""kubernetes_pod_overrides: the overrides give the pods the platform expects.

dag.test() runs tasks in this process, so executor_config has no effect there.
The pods are checked the way the KubernetesExecutor builds them: the
provider's PodGenerator merges each task's pod_override into the worker pod
template, here the one the real chart renders for the dev stack
(tests/helm/render.py, run in the infrastructure environment)."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.conftest import module_constants
from tests.dags.conftest import ROOT, run_dag

# Rendering needs Pulumi, the recording engine and helm-python-sdk: the
# infrastructure environment (.venv), not this one.
RENDER = """
import json, sys
sys.path.insert(0, {root!r})
from tests.conftest import Engine
from tests.helm.render import render_stack
try:
    print(json.dumps(render_stack(Engine(), "dev").pod_template()))
except BaseException as e:
    if type(e).__name__ != "Skipped":
        raise
    print("SKIP " + str(e))
"""


def platform_constants() -> dict[str, str]:
    """NODE_GROUP_LABEL and TASKS_TAINT_KEY as components/cluster.py defines them."""
    return module_constants(ROOT / "components" / "cluster.py", "NODE_GROUP_LABEL", "TASKS_TAINT_KEY")


@pytest.fixture(scope="module")
def dag(dagbag):
    return dagbag.get_dag("kubernetes_pod_overrides")


@pytest.fixture(scope="module")
def rendered() -> dict:
    """The task pod template of the chart rendered with the dev stack's values."""
    python = ROOT / ".venv" / "bin" / "python"
    if not python.exists():
        pytest.skip("no infrastructure environment to render the chart: make .venv/.installed")
    out = subprocess.run([str(python), "-c", RENDER.format(root=str(ROOT))], capture_output=True, text=True,
                         cwd=ROOT, check=True).stdout.strip().splitlines()[-1]
    if out.startswith("SKIP "):
        pytest.skip(out[5:])
    return json.loads(out)


@pytest.fixture(scope="module")
def template(rendered):
    from airflow.providers.cncf.kubernetes.pod_generator import PodGenerator
    return PodGenerator.deserialize_model_dict(rendered)


def pod_for(dag, task_id: str, template):
    from airflow.providers.cncf.kubernetes.pod_generator import PodGenerator
    override = (dag.get_task(task_id).executor_config or {}).get("pod_override")
    return PodGenerator.reconcile_pods(template, override)


def test_the_dag_uses_the_platforms_label_and_taint():
    import kubernetes_pod_overrides as module
    assert {"NODE_GROUP_LABEL": module.NODE_GROUP_LABEL,
            "TASKS_TAINT_KEY": module.TASKS_TAINT_KEY} == platform_constants()


def test_default_pod_is_the_template(dag, template, rendered):
    pod = pod_for(dag, "default_pod", template)
    base = next(c for c in rendered["spec"]["containers"] if c["name"] == "base")
    assert pod.spec.containers[0].resources.requests == base["resources"]["requests"]
    assert pod.spec.node_selector == rendered["spec"]["nodeSelector"] == {"airflow-eks/node-group": "tasks"}


def test_sized_pod_gets_its_own_resources(dag, template):
    container = pod_for(dag, "sized_pod", template).spec.containers[0]
    assert container.name == "base"
    assert container.image == template.spec.containers[0].image, "the override must not drop the template's image"
    assert container.image.startswith("apache/airflow:3.3.2")
    assert container.resources.requests == {"cpu": "1", "memory": "2Gi"}
    assert container.resources.limits == {"memory": "2Gi"}


def test_pinned_pod_runs_on_the_tasks_node_group(dag, template):
    pod = pod_for(dag, "pinned_pod", template)
    assert pod.spec.node_selector == {"airflow-eks/node-group": "tasks"}
    # The executor appends the override's tolerations to the template's.
    assert {(t.key, t.operator, t.value, t.effect) for t in pod.spec.tolerations} == {
        ("airflow-eks/tasks", "Equal", "true", "NoSchedule")}
    env = {e.name: e for e in pod.spec.containers[0].env}
    assert env["NODE_NAME"].value_from.field_ref.field_path == "spec.nodeName"
    assert "AIRFLOW_VAR_DATA_BUCKET" in env, "the override must keep the template's environment"


def test_every_task_runs(dagbag):
    assert run_dag(dagbag, "kubernetes_pod_overrides", date="2026-11-20") == {
        "default_pod": "success", "sized_pod": "success", "pinned_pod": "success"}
