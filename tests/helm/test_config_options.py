"""Every config.<section>.<key> in helm/*.yaml is a real option of the pinned Airflow.

Runs in the DAG environment (real Airflow, the image's version), against
Airflow's own configuration reference, providers included.
"""

from __future__ import annotations

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
