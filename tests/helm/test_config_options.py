"""Every config.<section>.<key> in helm/*.yaml is a real option of the pinned Airflow,
and airflowLocalSettings imports real modules, in the dag processor only.

Runs in the DAG environment (real Airflow, the image's version), against
Airflow's own configuration reference, providers included.
"""

from __future__ import annotations

import builtins
from pathlib import Path

import pytest
import yaml

airflow = pytest.importorskip("airflow")
from airflow.configuration import retrieve_configuration_description  # noqa: E402

HELM = Path(__file__).resolve().parents[2] / "helm"
PINNED = "3.3.2"


def options() -> list[tuple[str, str, str]]:
    found = []
    for path in sorted(HELM.glob("values*.yaml")):
        config = (yaml.safe_load(path.read_text()) or {}).get("config") or {}
        found += [(path.name, section, key) for section, keys in config.items() for key in keys]
    return found


def test_airflow_is_the_pinned_version():
    assert airflow.__version__ == PINNED


def test_some_options_are_checked():
    assert len(options()) >= 8


@pytest.mark.parametrize("source,section,key", options(), ids=lambda x: str(x))
def test_option_exists(source, section, key):
    reference = retrieve_configuration_description(include_airflow=True, include_providers=True)
    assert section in reference, f"{source}: no [{section}] section in Airflow {PINNED}"
    assert key in reference[section]["options"], f"{source}: [{section}] {key} is not an Airflow {PINNED} option"


def test_a_misspelt_option_is_caught():
    reference = retrieve_configuration_description(include_airflow=True, include_providers=True)
    assert "refresh_intervall" not in reference["dag_processor"]["options"]


# ------------------------------------------------- airflowLocalSettings


def local_settings_imports(argv: list[str]) -> list[str]:
    """The modules helm/values.yaml's airflowLocalSettings imports when Airflow
    starts with this argv (it runs at every process's start: recorded, not imported)."""
    source = yaml.safe_load((HELM / "values.yaml").read_text())["airflowLocalSettings"]
    fake_sys = type("FakeSys", (), {"argv": argv})
    imported: list[str] = []

    def record(name, globals=None, locals=None, fromlist=(), level=0):
        imported.append(name)
        return fake_sys if name == "sys" else None

    exec(compile(source, "airflow_local_settings.py", "exec"),
         {"__builtins__": {**vars(builtins), "__import__": record}})
    return [name for name in imported if name != "sys"]


def test_local_settings_pre_import_parser_modules_in_the_dag_processor_only():
    """The dag processor (`airflow dag-processor`, as the chart starts it)
    imports what every forked parser would import again (README, "DAG
    latency"); no other process pays for it."""
    import importlib.util

    modules = local_settings_imports(["/home/airflow/.local/bin/airflow", "dag-processor"])
    assert "airflow.sdk.definitions.decorators" in modules  # behind `from airflow.sdk import task`
    for name in modules:  # real modules of the pinned Airflow and providers
        assert importlib.util.find_spec(name) is not None, name
    for other in ("scheduler", "api-server", "triggerer", "tasks", "db"):
        assert local_settings_imports(["airflow", other]) == [], other
