"""Render the real chart package with the program's merged values.

The values are the ones the recording engine saw the program pass to the
``helm.v3.Release`` (static files + computed values, for one stack and config
overrides). They are rendered with ``helm-python-sdk`` (Helm's own Go SDK,
no binary, no cluster) as Helm does for an install, piped through the same
post-renderer the Release runs (scripts/helm_postrender.py), and parsed into
Kubernetes objects. Reusable by any test::

    from tests.helm.render import render_stack
    r = render_stack(engine, "prod", {"airflow-eks:dags.ref": "v2"})
    r.one("Deployment", "airflow-scheduler")["spec"]["replicas"]
    r.pod_template()          # the KubernetesExecutor's task pod (parsed)
    r.airflow_cfg()           # airflow.cfg of the ConfigMap, as a ConfigParser

A package that is not available skips the test (tests/helm/chart.py).
"""

from __future__ import annotations

import configparser
import functools
import json
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from components.airflow import NAMESPACE, POSTRENDER, RELEASE
from tests.helm.chart import require_package

ROOT = Path(__file__).resolve().parents[2]
SECRET_PLACEHOLDER = "rendered-secret-placeholder"


@dataclass(frozen=True)
class Rendered:
    """The objects of one render, in manifest order."""

    objects: tuple[dict[str, Any], ...]
    values: Mapping[str, Any]
    """The values that were rendered."""

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o["kind"] == kind]

    def names(self, kind: str) -> list[str]:
        return [o["metadata"]["name"] for o in self.of(kind)]

    def one(self, kind: str, name: str) -> dict[str, Any]:
        found = [o for o in self.of(kind) if o["metadata"]["name"] == name]
        assert len(found) == 1, f"{kind}/{name}: {len(found)} rendered; {kind}s: {self.names(kind)}"
        return found[0]

    def job(self, prefix: str) -> dict[str, Any]:
        """The one Job named ``<prefix>-<content digest>``."""
        found = [o for o in self.of("Job") if o["metadata"]["name"].rsplit("-", 1)[0] == prefix]
        assert len(found) == 1, f"Job {prefix}-*: {self.names('Job')}"
        return found[0]

    def config_map_data(self, name: str, key: str) -> str:
        return self.one("ConfigMap", name)["data"][key]

    def airflow_cfg(self) -> configparser.ConfigParser:
        cfg = configparser.ConfigParser(interpolation=None)
        cfg.read_string(self.config_map_data(f"{RELEASE}-config", "airflow.cfg"))
        return cfg

    def pod_template(self) -> dict[str, Any]:
        """The KubernetesExecutor pod template the chart ships in its ConfigMap."""
        return yaml.safe_load(self.config_map_data(f"{RELEASE}-config", "pod_template_file.yaml"))

    def pod_specs(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """(kind/name, pod spec) of every workload, the task pod template included."""
        for o in self.objects:
            spec = o.get("spec", {})
            if o["kind"] == "CronJob":
                yield f"CronJob/{o['metadata']['name']}", spec["jobTemplate"]["spec"]["template"]["spec"]
            elif "template" in spec:
                yield f"{o['kind']}/{o['metadata']['name']}", spec["template"]["spec"]
        yield "pod_template_file", self.pod_template()["spec"]


def placeholders(value: Any) -> Any:
    """Recorded inputs with every secret replaced by a placeholder string."""
    from plan.engine import Secret
    if isinstance(value, Secret):
        return SECRET_PLACEHOLDER
    if isinstance(value, dict):
        return {k: placeholders(v) for k, v in value.items()}
    if isinstance(value, list):
        return [placeholders(v) for v in value]
    return value


def release_inputs(recording: Any) -> dict[str, Any]:
    """The Airflow Release's recorded inputs, secrets as placeholders."""
    release = recording.one("kubernetes:helm.sh/v3:Release", "airflow-release")
    return placeholders(release.inputs)


@functools.cache
def _chart(package: Path) -> Any:
    import helm_python
    return helm_python.Chart.load(package)


def postrender(stream: str, command: str = POSTRENDER) -> str:
    """Runs the Release's post-renderer as Helm does: manifests on stdin."""
    script = ROOT / command
    return subprocess.run([sys.executable, str(script)], input=stream, text=True,
                          capture_output=True, check=True).stdout


@functools.cache
def _render_json(values_json: str, postrender_command: str | None) -> Rendered:
    chart = _chart(require_package())
    values = json.loads(values_json)
    manifests = chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    stream = "".join(f"---\n# Source: {path}\n{text}\n" for path, text in sorted(manifests.items())
                     if path.endswith((".yaml", ".yml")) and text.strip())
    if postrender_command:
        stream = postrender(stream, postrender_command)
    objects = tuple(o for o in yaml.safe_load_all(stream) if o)
    return Rendered(objects=objects, values=values)


def render_values(values: Mapping[str, Any], postrender_command: str | None = POSTRENDER) -> Rendered:
    """Renders the pinned package with ``values`` (cached per values)."""
    return _render_json(json.dumps(values, sort_keys=True), postrender_command)


def render_stack(engine: Any, stack: str = "dev", overrides: Mapping[str, Any] | None = None) -> Rendered:
    """Runs the program for ``stack`` under the recording engine and renders
    its Release: the merged values and the post-renderer it passes to Helm."""
    inputs = release_inputs(engine.program(stack, overrides))
    return render_values(inputs["values"], inputs.get("postrender"))
