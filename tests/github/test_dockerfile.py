"""dags/Dockerfile builds the image the DAGs run in from the Airflow the DAG
tests run, with the same constraints, and checks what its base really holds."""

from __future__ import annotations

import re

from tests.conftest import ROOT

DOCKERFILE = (ROOT / "dags" / "Dockerfile").read_text()


def instructions() -> list[str]:
    """Instructions with continuations joined and comments dropped."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def airflow_pin() -> str:
    (pin,) = re.findall(r"^apache-airflow==([\d.]+)$", (ROOT / "requirements-airflow.in").read_text(), re.M)
    return pin


def test_the_base_is_the_tested_airflow_on_the_tested_python():
    (base,) = [i for i in instructions() if i.startswith("FROM ")]
    match = re.fullmatch(r"FROM apache/airflow:([\d.]+)-python(3\.\d+)(@sha256:[0-9a-f]{64})?", base)
    assert match, base
    assert match.group(1) == airflow_pin()
    assert match.group(2) == "3.11"  # the DAG test venv's Python (Makefile: python3 = 3.11 here and in CI)


def test_installs_with_the_dag_tests_constraints_and_pins_airflow():
    (run,) = [i for i in instructions() if i.startswith("RUN ")]
    assert "-c /tmp/constraints-airflow.txt" in run
    assert f'"apache-airflow=={airflow_pin()}"' in run
    assert "-r /tmp/dags-requirements.txt" in run
    copies = [i for i in instructions() if i.startswith("COPY ")]
    assert copies == ["COPY constraints-airflow.txt /tmp/constraints-airflow.txt",
                      "COPY dags/requirements.txt /tmp/dags-requirements.txt"]
    assert "-c constraints-airflow.txt" in (ROOT / "requirements-airflow.in").read_text()


def test_the_build_checks_the_base_s_airflow_and_python_versions():
    """Without a digest the tag could move: the build itself must fail then."""
    (run,) = [i for i in instructions() if i.startswith("RUN ")]
    assert f'airflow.__version__ == "{airflow_pin()}"' in run
    assert "sys.version_info[:2] == (3, 11)" in run


def test_the_build_context_sends_only_what_the_dockerfile_copies():
    ignore = [line for line in (ROOT / "dags" / "Dockerfile.dockerignore").read_text().splitlines()
              if line and not line.startswith("#")]
    assert ignore == ["*", "!constraints-airflow.txt", "!dags/requirements.txt"]
