"""Measures push -> visible for DAG files on real Airflow (run in .venv-dags).

What runs, all on this machine:
- a bare Git repository (the "GitHub" of the platform) and a developer clone
  that commits and pushes to it; the bundle starts as this repository's dags/;
- a git-sync loop with git-sync v4's semantics, as the chart runs it: every
  `period` (dags.syncPeriodSeconds, Pulumi.yaml) `git ls-remote`; when the
  branch moved, a shallow `git fetch`, a new worktree in .worktrees/<hash>, and
  an atomic swap of the relative symlink `repo` (tmp-link + rename), then the
  old worktree is removed. Airflow's dags_folder is <root>/repo/dags, as the
  chart sets it (dags.mountPath/repo/<dags.gitSync.subPath>);
- a real metadata DB: Debian's PostgreSQL, started by the code the DAG tests
  use (tests/dags/postgres_server.py), `airflow db migrate`d;
- real `airflow dag-processor` and `airflow api-server` (the installed
  Airflow), with every [core], [dag_processor] and [api] option that
  helm/values.yaml sets, plus what the chart renders for them (dags_folder,
  the dags-folder bundle), and its airflowLocalSettings installed where the
  chart mounts it ($AIRFLOW_HOME/config/airflow_local_settings.py: the dag
  processor pre-imports what every parser needs). Two replacements, both
  printed: the metadata DB URL, and SimpleAuthManager with all users admin
  instead of FAB, so that the REST API needs no user database (the auth
  manager is not on the parse path; FAB only adds a permission sync per
  written DAG).

Each sample pushes one commit and polls every 0.2 s, from just before
`git push`, until (1) the latest serialized_dag row of the DAG carries the
commit's marker (its doc_md), and (2) GET /api/v2/dags/<id>/details answers
with that marker. Samples alternate: a new DAG file, then a change to one
existing DAG (always the same one, so a change can land within
[core] min_serialized_dag_update_interval of the previous one: that throttle
is part of what is measured). A random pause of 0 to `period` seconds
(seeded) precedes each push, so pushes fall at every phase of the sync loop.
Percentiles are nearest-rank.

Each sample also prints where its time went: push -> git-sync's swap of the
link to its commit, -> the serialized row's write, and how many other DAGs'
parses were stored in between (the files re-parsed ahead of it).

Idle cost: after the samples, with nothing pushed, the CPU seconds the dag
processor (its process and every parser process it forked) uses per minute,
and separately the git-sync loop's.

    python scripts/bench_dag_latency.py            # N=20 per kind, the shipped settings
    python scripts/bench_dag_latency.py --n 10 --sync-period 5 \\
        --set dag_processor.refresh_interval=5     # try other settings
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.dags.postgres_server import Postgres, free_port, postgres_server  # noqa: E402

# The sections of helm/values.yaml `config:` that shape the parse -> DB -> API path.
SECTIONS = ("core", "dag_processor", "api")
CHANGED_DAG = "bench_changed"
POLL = 0.2


# ----------------------------------------------------------------- settings


def platform_settings() -> dict[str, str]:
    """section.key -> value for SECTIONS, as helm/values.yaml sets them."""
    config = yaml.safe_load((ROOT / "helm" / "values.yaml").read_text()).get("config", {})
    return {f"{section}.{key}": str(value) for section in SECTIONS
            for key, value in (config.get(section) or {}).items()}


def platform_local_settings() -> str:
    """helm/values.yaml's airflowLocalSettings: the chart renders it (through
    `tpl`, which leaves text without {{ }} as it is) into a ConfigMap mounted as
    $AIRFLOW_HOME/config/airflow_local_settings.py in every Airflow container."""
    return yaml.safe_load((ROOT / "helm" / "values.yaml").read_text()).get("airflowLocalSettings", "")


def platform_sync_period() -> int:
    """The stack default of dags.syncPeriodSeconds (Pulumi.yaml), git-sync's period."""
    config = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]
    return int(config["dags.syncPeriodSeconds"]["default"])


# The chart's own [dag_processor] dag_bundle_config_list (dagProcessor.dagBundleConfigList).
CHART_BUNDLES = json.dumps([{"name": "dags-folder",
                             "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
                             "kwargs": {}}])


# ---------------------------------------------------------------------- git


def git(*args: str, cwd: Path) -> str:
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0",
           "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@localhost",
           "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@localhost"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True,
                          text=True).stdout.strip()


class GitSync:
    """git-sync v4's loop (kubernetes/git-sync main.go: SyncRepo, publishSymlink),
    with the chart's settings: root /git -> `root`, link `repo`, depth 1."""

    def __init__(self, repo: Path, branch: str, root: Path, period: float) -> None:
        self.repo, self.branch, self.root, self.period = repo, branch, root, period
        self.link = root / "repo"
        self.current = ""
        self.syncs = 0
        # commit -> wall-clock time its worktree became the `repo` link: the
        # per-stage breakdown of each sample (push -> swap -> parse -> DB).
        self.swapped_at: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        root.mkdir(parents=True)
        git("init", "-q", cwd=root)

    def sync_once(self) -> bool:
        remote = git("ls-remote", "-q", str(self.repo), f"refs/heads/{self.branch}",
                     cwd=self.root).split()[0]
        if remote == self.current:
            return False
        git("fetch", "-q", "--no-progress", "--prune", "--no-auto-gc", "--depth", "1",
            str(self.repo), self.branch, cwd=self.root)
        worktree = self.root / ".worktrees" / remote
        git("worktree", "add", "-q", "--force", "--detach", str(worktree), remote, cwd=self.root)
        # Atomic swap: a relative symlink created aside, renamed over the link.
        tmp = self.root / "tmp-link"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(worktree.relative_to(self.root))
        os.rename(tmp, self.link)
        self.swapped_at[remote] = time.time()
        if self.current:
            shutil.rmtree(self.root / ".worktrees" / self.current, ignore_errors=True)
            git("worktree", "prune", cwd=self.root)
        self.current = remote
        self.syncs += 1
        return True

    def _loop(self) -> None:
        while not self._stop.wait(self.period):
            try:
                self.sync_once()
            except subprocess.CalledProcessError as e:  # git-sync logs and retries
                print(f"git-sync: {e.stderr.strip()}", file=sys.stderr)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


# ------------------------------------------------------------------ Airflow

DAG_TEMPLATE = '''"""Benchmark DAG {dag_id}."""
import pendulum
from airflow.sdk import dag, task


@dag(dag_id={dag_id!r}, schedule=None, start_date=pendulum.datetime(2026, 1, 1), catchup=False,
     tags=["bench"], doc_md={marker!r})
def bench():
    @task
    def noop():
        pass

    noop()


bench()
'''


def dag_source(dag_id: str, marker: str) -> str:
    return DAG_TEMPLATE.format(dag_id=dag_id, marker=marker)


@dataclass
class Airflow:
    home: Path
    env: dict[str, str]
    db: Postgres
    api_url: str = ""
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    def cli(self, *args: str) -> None:
        subprocess.run([sys.executable, "-m", "airflow", *args], env=self.env, check=True,
                       capture_output=True, text=True)

    def start(self, name: str, *args: str) -> None:
        log = (self.home / f"{name}.log").open("w")
        # Own session: stopped as a group (the API server forks workers).
        self.procs[name] = subprocess.Popen([sys.executable, "-m", "airflow", *args],
                                            env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                tail = (self.home / f"{name}.log").read_text()[-3000:]
                raise RuntimeError(f"airflow {name} exited with {proc.returncode}:\n{tail}")

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    # What a user sees: the serialized DAG in the DB, the DAG in the REST API.
    def db_has(self, dag_id: str, marker: str) -> bool:
        rows = self.db.query(
            "SELECT data::text, data_compressed FROM serialized_dag WHERE dag_id = %s "
            "ORDER BY created_at DESC LIMIT 1", (dag_id,))
        if not rows:
            return False
        text, compressed = rows[0]
        if text is None and compressed is not None:
            text = zlib.decompress(bytes(compressed)).decode()
        return marker in (text or "")

    def api_has(self, dag_id: str, marker: str) -> bool:
        try:
            with urllib.request.urlopen(f"{self.api_url}/api/v2/dags/{dag_id}/details",
                                        timeout=5) as resp:
                return marker in (json.load(resp).get("doc_md") or "")
        except urllib.error.HTTPError as e:
            if e.code == 404:
                return False
            raise
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False


def harness_settings(dags_folder: Path) -> dict[str, str]:
    """What the chart renders (dags_folder, the bundle list) and the harness's
    two replacements (the auth manager; the DB URL is set in airflow_env)."""
    return {
        "core.dags_folder": str(dags_folder),
        "dag_processor.dag_bundle_config_list": CHART_BUNDLES,
        "core.auth_manager":
            "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        "core.simple_auth_manager_all_admins": "True",
        "core.load_examples": "False",
        "logging.logging_level": "INFO",
    }


def airflow_env(home: Path, db: Postgres, settings: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        env.pop(proxy, None)
    env["AIRFLOW_HOME"] = str(home)
    env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = db.sqlalchemy_url()
    for name, value in settings.items():
        section, key = name.split(".", 1)
        env[f"AIRFLOW__{section.upper()}__{key.upper()}"] = value
    return env


# -------------------------------------------------------------- measuring


def wait_for(predicate, timeout: float, what: str, airflow: Airflow) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        airflow.check_alive()
        if predicate():
            return time.monotonic() - start
        time.sleep(POLL)
    raise TimeoutError(f"{what}: not within {timeout:.0f} s")


@dataclass
class Sample:
    kind: str  # "new" or "changed"
    db: float | None
    api: float | None
    # Where the time went, from the same push (None when not seen):
    swap: float | None = None  # push -> git-sync swapped the link to the commit
    stored: float | None = None  # push -> the dag processor wrote the serialized row
    ahead: int | None = None  # other DAGs whose parse was stored between the swap and this row
    dags: int | None = None  # DAGs in the DB at the time (one per file here)


def breakdown(airflow: Airflow, sync: GitSync, commit: str, dag_id: str,
              pushed_at: float, sample: Sample) -> None:
    """Fills sample.swap/stored/ahead: git-sync's swap time of the commit, the
    write time of the DAG's latest serialized row (the one db_has found: no
    later write without a later push), and which other DAGs' parses were
    stored between the two (dag.last_parsed_time, set at every stored parse)."""
    swapped = sync.swapped_at.get(commit)
    if swapped is None or sample.db is None:
        return
    sample.swap = swapped - pushed_at
    (written,) = airflow.db.query(
        "SELECT extract(epoch from last_updated) FROM serialized_dag WHERE dag_id = %s "
        "ORDER BY created_at DESC LIMIT 1", (dag_id,))[0]
    sample.stored = float(written) - pushed_at
    rows = airflow.db.query(
        "SELECT dag_id, extract(epoch from last_parsed_time) FROM dag "
        "WHERE last_parsed_time IS NOT NULL")
    sample.dags = len(rows)
    sample.ahead = sum(1 for other, t in rows if other != dag_id and swapped < float(t) < float(written))


def measure(airflow: Airflow, sync: GitSync, work: Path, dags_dir: str, kind: str,
            dag_id: str, marker: str, timeout: float) -> Sample:
    (work / dags_dir / f"{dag_id}.py").write_text(dag_source(dag_id, marker))
    git("add", "-A", cwd=work)
    git("commit", "-q", "-m", f"{kind} {dag_id} {marker}", cwd=work)
    commit = git("rev-parse", "HEAD", cwd=work)
    start, pushed_at = time.monotonic(), time.time()
    git("push", "-q", "origin", "HEAD:main", cwd=work)
    db = api = None
    while time.monotonic() - start < timeout and (db is None or api is None):
        airflow.check_alive()
        if db is None and airflow.db_has(dag_id, marker):
            db = time.monotonic() - start
        if api is None and airflow.api_has(dag_id, marker):
            api = time.monotonic() - start
            # The API reads the row from the DB: if the row landed between the
            # two checks, it was there when the API answered.
            db = api if db is None else db
        time.sleep(POLL)
    sample = Sample(kind, db, api)
    breakdown(airflow, sync, commit, dag_id, pushed_at, sample)
    return sample


def run_samples(af: Airflow, sync: GitSync, work: Path, args: argparse.Namespace,
                rng: random.Random, period: float, samples: list[Sample]) -> None:
    """N pushes of each kind, alternating: a new DAG file, then a change."""
    for i in range(args.n):
        for kind in ("new", "changed"):
            time.sleep(rng.uniform(0, period))
            marker = f"{kind}-{i}-{rng.getrandbits(32):08x}"
            dag_id = f"bench_new_{i}" if kind == "new" else CHANGED_DAG
            s = measure(af, sync, work, "dags", kind, dag_id, marker, args.timeout)
            samples.append(s)
            print(f"  {kind:7} {i + 1:2}/{args.n}: serialized row "
                  f"{_fmt(s.db)}, REST API {_fmt(s.api)}  (swap {_fmt(s.swap)}, "
                  f"row written {_fmt(s.stored)}, after {_fmt_n(s.ahead)} of "
                  f"{_fmt_n(s.dags)} DAGs)", flush=True)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def cpu_seconds(pid: int) -> float:
    """CPU of a process, the children it has reaped, and its live descendants."""
    import psutil
    proc = psutil.Process(pid)
    t = proc.cpu_times()
    total = t.user + t.system + t.children_user + t.children_system
    for child in proc.children(recursive=True):
        try:
            c = child.cpu_times()
            total += c.user + c.system
        except psutil.NoSuchProcess:
            pass
    return total


class PeakMemory:
    """Peak memory of a process and its descendants while pushes are measured:
    the sum of their PSS (shared pages split among sharers, so the forked
    parsers' copy-on-write pages count once), sampled every 0.5 s. What the
    dag processor's container memory limit must hold at `parsing_processes`."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak = pid, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def sample(self) -> float:
        import psutil
        total = 0
        root = psutil.Process(self.pid)
        for proc in [root, *root.children(recursive=True)]:
            try:
                total += proc.memory_full_info().pss
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                pass
        return total / 2**20

    def _loop(self) -> None:
        while not self._stop.wait(0.5):
            try:
                self.peak = max(self.peak, self.sample())
            except Exception:  # the processor exiting mid-sample: check_alive reports it
                pass

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def own_children_cpu() -> float:
    """CPU of the subprocesses this process has reaped: the git-sync loop's git commands."""
    t = os.times()
    return t.children_user + t.children_system


# --------------------------------------------------------------------- main


@contextmanager
def workspace(keep: bool) -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="bench-dag-latency-"))
    try:
        yield root
    finally:
        if keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=20, help="samples per kind (new, changed)")
    parser.add_argument("--sync-period", type=float, default=None,
                        help="git-sync period in s (default: dags.syncPeriodSeconds in Pulumi.yaml)")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override an Airflow option (after helm/values.yaml)")
    parser.add_argument("--idle-seconds", type=float, default=60.0,
                        help="window for the idle CPU measurement")
    parser.add_argument("--timeout", type=float, default=180.0, help="per sample, in s")
    parser.add_argument("--startup-timeout", type=float, default=600.0,
                        help="for the first parse and the API server, in s")
    parser.add_argument("--no-repo-dags", action="store_true",
                        help="start the bundle with the benchmark's DAG only, not dags/ (faster)")
    parser.add_argument("--no-local-settings", action="store_true",
                        help="without helm/values.yaml's airflowLocalSettings (to compare)")
    parser.add_argument("--seed", type=int, default=20)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import airflow
    settings = platform_settings()
    for item in args.set:
        name, _, value = item.partition("=")
        if "." not in name or not _:
            raise SystemExit(f"--set {item!r}: expected SECTION.KEY=VALUE")
        settings[name] = value
    period = args.sync_period if args.sync_period is not None else platform_sync_period()
    rng = random.Random(args.seed)
    t_setup = time.monotonic()

    with workspace(args.keep) as tmp, postgres_server("airflow", "airflow") as db:
        origin, work = tmp / "origin.git", tmp / "work"
        git("init", "-q", "--bare", "-b", "main", str(origin), cwd=tmp)
        git("clone", "-q", str(origin), str(work), cwd=tmp)
        if args.no_repo_dags:
            (work / "dags").mkdir()
        else:
            shutil.copytree(ROOT / "dags", work / "dags",
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        (work / "dags" / f"{CHANGED_DAG}.py").write_text(dag_source(CHANGED_DAG, "v0"))
        git("add", "-A", cwd=work)
        git("commit", "-q", "-m", "initial", cwd=work)
        git("push", "-q", "origin", "HEAD:main", cwd=work)

        sync = GitSync(origin, "main", tmp / "git", period)
        sync.sync_once()  # the chart's git-sync init container
        home = tmp / "airflow-home"
        home.mkdir()
        local_settings = "" if args.no_local_settings else platform_local_settings()
        if local_settings:  # where the chart mounts it; Airflow puts $AIRFLOW_HOME/config on sys.path
            (home / "config").mkdir()
            (home / "config" / "airflow_local_settings.py").write_text(local_settings + "\n")
        harness = harness_settings(sync.link / "dags")
        env = airflow_env(home, db, {**settings, **harness})
        af = Airflow(home, env, db)
        t_migrate = time.monotonic()
        af.cli("db", "migrate")
        t_migrate = time.monotonic() - t_migrate
        port = free_port()
        af.api_url = f"http://127.0.0.1:{port}"
        try:
            sync.start()
            af.start("dag-processor", "dag-processor")
            # The core API only: the dag processor reaches the execution API in-process.
            af.start("api-server", "api-server", "--host", "127.0.0.1", "--port", str(port),
                     "--workers", "1", "--apps", "core")
            parsed = wait_for(lambda: af.db_has(CHANGED_DAG, "v0"), args.startup_timeout,
                              "first parse", af)
            served = wait_for(lambda: af.api_has(CHANGED_DAG, "v0"), args.startup_timeout,
                              "API server", af)
            files = len(list((sync.link / "dags").glob("*.py")))
            print(f"Airflow {airflow.__version__}; PostgreSQL {db.query('SHOW server_version')[0][0]}"
                  f" (local); git-sync period {period:g} s; {files} DAG files at start; "
                  f"setup {time.monotonic() - t_setup:.0f} s (db migrate {t_migrate:.0f} s, first parse "
                  f"{parsed:.0f} s, API up {served:.0f} s later)")
            print("settings: " + ", ".join(f"{k}={v}" for k, v in sorted(settings.items())
                                           if k not in harness))
            print("airflow_local_settings.py: " + ("helm/values.yaml's airflowLocalSettings"
                                                   if local_settings else "none"))
            print("replaced by the harness: core.auth_manager (SimpleAuthManager, all admins), "
                  "database.sql_alchemy_conn")
            samples: list[Sample] = []
            memory = PeakMemory(af.procs["dag-processor"].pid)
            with memory:
                run_samples(af, sync, work, args, rng, period, samples)

            # Idle: nothing pushed; first let the last push's re-parse finish.
            time.sleep(float(settings.get("dag_processor.min_file_process_interval", "30")) + 2)
            pid = af.procs["dag-processor"].pid
            cpu0, git0, t0 = cpu_seconds(pid), own_children_cpu(), time.monotonic()
            time.sleep(args.idle_seconds)
            af.check_alive()
            elapsed = time.monotonic() - t0
            idle_cpu = (cpu_seconds(pid) - cpu0) * 60 / elapsed
            git_cpu = (own_children_cpu() - git0) * 60 / elapsed
            files = len(list((sync.link / "dags").glob("*.py")))
        finally:
            sync.stop()
            af.stop()

    results = report(samples, idle_cpu, git_cpu, files, args.idle_seconds)
    print(f"dag processor peak memory while pushing: {memory.peak:.0f} MiB PSS "
          f"(with its parser processes)")
    results["peak_pss_mib"] = memory.peak
    results.update({"airflow": airflow.__version__, "sync_period": period, "settings": settings,
                    "local_settings": bool(local_settings),
                    "samples": [asdict(s) for s in samples]})
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 1 if results["timeouts"] else 0


def _fmt(value: float | None) -> str:
    return "timeout" if value is None else f"{value:5.1f} s"


def _fmt_n(value: int | None) -> str:
    return "?" if value is None else f"{value:2d}"


def report(samples: list[Sample], idle_cpu: float, git_cpu: float, files: int,
           idle_seconds: float) -> dict:
    print(f"\n{'from git push to':38} {'p50':>6} {'p95':>6} {'max':>6}  (s, n per row)")
    rows, timeouts = {}, 0
    for kind, label in (("new", "new DAG"), ("changed", "changed DAG")):
        for where, what in (("db", "serialized row in the DB"), ("api", "REST API")):
            values = [getattr(s, where) for s in samples if s.kind == kind]
            done = [v for v in values if v is not None]
            timeouts += len(values) - len(done)
            if not done:
                print(f"{label + ': ' + what:38} all {len(values)} timed out")
                continue
            row = {"p50": percentile(done, 50), "p95": percentile(done, 95), "max": max(done),
                   "n": len(done), "timeouts": len(values) - len(done)}
            rows[f"{kind}_{where}"] = row
            extra = f", {row['timeouts']} timed out" if row["timeouts"] else ""
            print(f"{label + ': ' + what:38} {row['p50']:6.1f} {row['p95']:6.1f} "
                  f"{row['max']:6.1f}  n={row['n']}{extra}")
    stages = {}
    for kind, label in (("new", "new DAG"), ("changed", "changed DAG")):
        done = [s for s in samples if s.kind == kind and s.stored is not None]
        if not done:
            continue
        parts = {"push -> swap": [s.swap for s in done],
                 "swap -> row written": [s.stored - s.swap for s in done],
                 "row written -> seen": [s.db - s.stored for s in done],
                 "DAGs parsed ahead": [float(s.ahead) for s in done]}
        stages[kind] = {name: {"p50": percentile(v, 50), "p95": percentile(v, 95), "max": max(v)}
                        for name, v in parts.items()}
        print(f"{label}, where the time went (n={len(done)}): " + "; ".join(
            f"{name} {row['p50']:.1f}/{row['p95']:.1f}/{row['max']:.1f}"
            for name, row in stages[kind].items()) + " (p50/p95/max)")
    print(f"dag processor idle: {idle_cpu:.2f} CPU s per minute with {files} DAG files "
          f"({idle_cpu / files:.2f} per file; {idle_seconds:g} s window); "
          f"git-sync loop: {git_cpu:.2f} CPU s per minute")
    return {"rows": rows, "stages": stages, "timeouts": timeouts, "idle_cpu_per_min": idle_cpu,
            "git_sync_cpu_per_min": git_cpu, "files": files}


if __name__ == "__main__":
    sys.exit(main())
