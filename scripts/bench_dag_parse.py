"""Prints each DAG file's parse time with real Airflow (run in .venv-dags).

The DAG processor re-parses every file at least every
min_file_process_interval (helm/values.yaml), and a new file's parse time adds
to its DAG-visibility latency (README, "DAG latency"). Airflow's own guidance
is to keep a file's parse well under a second.

- parse: a new interpreter parses the file once, after importing what the DAG
  processor imports before it forks each parser: Airflow itself and the
  airflow.* modules the file imports (parsing_pre_import_modules). This is
  what every parse of the file costs the DAG processor;
- warm: the median of repeated parses in one process (the steady state: the
  file's module body runs again, its imports are cached).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DAGS = ROOT / "dags"
RUNS = 20


def timed_parse(path: Path):
    """One parse of a DAG file as the DAG processor does it; returns (DagBag, seconds).

    The processor imports the airflow.* modules a file imports once, before it
    forks each parser (parsing_pre_import_modules), so those are imported
    first and not counted. tests/dags/test_integrity.py holds every DAG file
    to a budget measured with this function."""
    import structlog
    from airflow.dag_processing.dagbag import DagBag
    from airflow.dag_processing.processor import _pre_import_airflow_modules
    _pre_import_airflow_modules(str(path), structlog.get_logger())
    start = time.perf_counter()
    bag = DagBag(dag_folder=str(path), safe_mode=False)
    return bag, time.perf_counter() - start


COLD = """
import importlib.util, sys
sys.path.insert(0, {dags!r})
spec = importlib.util.spec_from_file_location("bench_dag_parse", {script!r})
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)
from airflow.dag_processing.dagbag import DagBag
DagBag(dag_folder="/nonexistent")
bag, elapsed = bench.timed_parse(bench.Path({path!r}))
assert not bag.import_errors, bag.import_errors
print(elapsed)
"""


def cold(path: Path) -> float:
    code = COLD.format(dags=str(DAGS), script=str(Path(__file__).resolve()), path=str(path))
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, env=os.environ)
    return float(out.stdout.strip().splitlines()[-1])


def warm(path: Path) -> float:
    from airflow.dag_processing.dagbag import DagBag
    DagBag(dag_folder=str(path), safe_mode=False)
    runs = []
    for _ in range(RUNS):
        start = time.perf_counter()
        bag = DagBag(dag_folder=str(path), safe_mode=False)
        runs.append(time.perf_counter() - start)
        assert not bag.import_errors, bag.import_errors
    return statistics.median(runs)


BASELINE = """
import pendulum
from airflow.sdk import dag, task


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1), tags=["bench"])
def baseline():
    @task
    def noop():
        pass

    noop()


baseline()
"""


def main() -> None:
    # Before Airflow is imported (warm() imports it in this process).
    os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="airflow-bench-"))
    os.environ.update({"AIRFLOW__CORE__DAGS_FOLDER": str(DAGS), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                       "AIRFLOW__LOGGING__LOGGING_LEVEL": "ERROR"})
    sys.path.insert(0, str(DAGS))
    with tempfile.TemporaryDirectory() as tmp:
        baseline = Path(tmp) / "baseline.py"
        baseline.write_text(BASELINE)
        files = [baseline, *sorted(DAGS.glob("*.py"))]
        print(f"{'DAG file':32} {'parse (s)':>9} {'warm (ms)':>10}")
        for path in files:
            label = "(one-task DAG, for reference)" if path == baseline else path.name
            print(f"{label:32} {cold(path):9.3f} {warm(path) * 1000:10.1f}", flush=True)


if __name__ == "__main__":
    main()
