"""Every metric the alarms and the dashboard use is one real Airflow emits.

Runs real Airflow components (a DAG processor pass over a folder with a good
and a broken DAG file, two scheduler loops, and a DAG whose task fails,
through dag.test()) in a subprocess with StatsD on, configured as the platform
configures it (components/monitoring.py: prefix ``airflow``, the allow-list,
no tags), sending to a UDP listener on 127.0.0.1. The names received must be
exactly the allow-listed ones: each is emitted (so no alarm watches a metric
that never comes), nothing else passes (so the CloudWatch custom-metric count
is bounded), every line carries no tags (so each name is one CloudWatch
metric whose only dimension, metric_type, matches the StatsD type).

A subprocess, because Airflow builds its StatsD client once per process from
the config, and the other DAG tests run without StatsD.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from importlib.metadata import version
from pathlib import Path

import pytest

from tests.conftest import ROOT, module_constants

MONITORING = module_constants(ROOT / "components" / "monitoring.py",
                              "AIRFLOW_METRICS", "METRICS_ALLOW_LIST", "STATSD_PREFIX")

FAILING_DAG = textwrap.dedent('''
    import pendulum
    from airflow.sdk import dag, task

    @dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False)
    def fails():
        @task(retries=0)
        def boom():
            raise RuntimeError("expected by tests/dags/test_metrics.py")
        boom()

    DAG = fails()
''')
BROKEN_DAG = "raise ImportError('expected by tests/dags/test_metrics.py')\n"

# What the subprocess runs: the components whose metrics the alarms watch.
EMIT = textwrap.dedent('''
    import importlib.util, os, sys, time
    t0 = time.monotonic()
    def phase(name):
        print(f"{name}: {time.monotonic() - t0:.1f} s", file=sys.stderr)
    import pendulum
    from pathlib import Path
    from airflow.utils.db import resetdb
    phase("import")
    resetdb(skip_init=False)
    phase("db")

    from airflow.dag_processing.manager import DagFileProcessorManager
    from airflow.jobs.dag_processor_job_runner import DagProcessorJobRunner
    from airflow.jobs.job import Job, run_job
    from airflow.jobs.scheduler_job_runner import SchedulerJobRunner

    job = Job()
    runner = DagProcessorJobRunner(job=job, processor=DagFileProcessorManager(max_runs=1))
    run_job(job=job, execute_callable=runner._execute)
    phase("dag processor")

    job = Job()
    run_job(job=job, execute_callable=SchedulerJobRunner(job=job, num_runs=1)._execute)
    phase("scheduler")

    spec = importlib.util.spec_from_file_location(
        "fails", Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"]) / "fails.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.DAG.test(logical_date=pendulum.datetime(2026, 1, 1, tz="UTC"))
    phase("failing task")
''')


class UdpListener:
    """Collects StatsD datagrams on 127.0.0.1."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.lines: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.lines.extend(self.sock.recv(65535).decode().splitlines())
            except TimeoutError:
                continue

    def close(self) -> list[str]:
        time.sleep(0.5)  # the last datagrams of the exiting process
        self._stop.set()
        self._thread.join()
        self.sock.close()
        return self.lines


def emit_with_platform_settings() -> list[str]:
    home = Path(tempfile.mkdtemp(prefix="airflow-metrics-"))
    dags = home / "dags"
    dags.mkdir()
    (dags / "fails.py").write_text(FAILING_DAG)
    (dags / "broken.py").write_text(BROKEN_DAG)
    listener = UdpListener()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "ERROR",
        # Heartbeat on every loop (0 = no minimum interval), so one loop emits it.
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "0",
        # and the dag processor's job: its heartbeat is only_if_necessary, so with
        # the 5 s default a fast single loop ends before one is due
        "AIRFLOW__SCHEDULER__JOB_HEARTBEAT_SEC": "0",
        # as components/monitoring.py airflow_env() sets them, host and port aside
        "AIRFLOW__METRICS__STATSD_ON": "True",
        "AIRFLOW__METRICS__STATSD_HOST": "127.0.0.1",
        "AIRFLOW__METRICS__STATSD_PORT": str(listener.port),
        "AIRFLOW__METRICS__STATSD_PREFIX": MONITORING["STATSD_PREFIX"],
        "AIRFLOW__METRICS__METRICS_ALLOW_LIST": MONITORING["METRICS_ALLOW_LIST"],
        "AIRFLOW__METRICS__STATSD_DATADOG_ENABLED": "False",
        "AIRFLOW__METRICS__STATSD_INFLUXDB_ENABLED": "False",
    })
    started = time.monotonic()
    try:
        run = subprocess.run([sys.executable, "-c", EMIT], env=env, capture_output=True, text=True,
                             timeout=300, check=False)
    finally:
        lines = listener.close()
    print(f"real Airflow emitted {len(lines)} StatsD lines in {time.monotonic() - started:.1f} s")
    print("\n".join(line for line in run.stderr.splitlines() if line.endswith(" s")))
    assert run.returncode == 0, run.stderr[-3000:]
    return lines


AIRFLOW = version("apache-airflow")


# Airflow 3.0 emits ti_failures only from the legacy TaskInstance.handle_failure,
# which the Task SDK path never calls (measured: 3.0.6 sends every other name);
# from 3.3 the task runner in the task pod sends it.
@pytest.mark.skipif(tuple(int(p) for p in AIRFLOW.split(".")[:2]) < (3, 3),
                    reason=f"the alarms target Airflow 3.3.2; this environment has {AIRFLOW}")
def test_every_alarm_and_dashboard_metric_is_emitted_and_nothing_else():
    lines = emit_with_platform_settings()
    prefix = MONITORING["STATSD_PREFIX"] + "."
    received: dict[str, set[str]] = {}
    for line in lines:
        name, _, rest = line.partition(":")
        fields = rest.split("|")
        assert len(fields) == 2, f"{line!r}: tags or a sample rate; each tag would be a billed dimension"
        assert name.startswith(prefix), line
        received.setdefault(name.removeprefix(prefix), set()).add(fields[1])
    expected = MONITORING["AIRFLOW_METRICS"]
    missing = sorted(set(expected) - set(received))
    assert not missing, f"never emitted: {missing}; received {sorted(received)}"
    assert sorted(set(received) - set(expected)) == [], "the allow-list let other names through"
    for name, kind in expected.items():
        assert received[name] == {kind}, (name, received[name])
