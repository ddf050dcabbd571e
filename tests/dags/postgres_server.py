"""A throwaway PostgreSQL server from Debian's package, on 127.0.0.1.

Shared by the DAG tests (tests/dags/conftest.py, the ``analytics_db``
connection's server), scripts/bench_dag_latency.py (Airflow's metadata DB) and
the pgbouncer TLS test (tests/components/test_pgbouncer_tls.py, in the
program's environment, which has no psycopg2: the server is set up with
PostgreSQL's own client programs). No pytest and no Airflow here: the
benchmark imports it as a plain module.
"""

from __future__ import annotations

import functools
import glob
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Postgres:
    host: str
    port: int
    user: str
    password: str
    dbname: str

    def connect(self):
        import psycopg2
        return psycopg2.connect(host=self.host, port=self.port, user=self.user,
                                password=self.password, dbname=self.dbname)

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        conn = self.connect()
        try:
            with conn, conn.cursor() as cur:
                cur.execute(sql, params)
                return cur.fetchall()
        finally:
            conn.close()

    def sqlalchemy_url(self) -> str:
        return (f"postgresql+psycopg2://{self.user}:{self.password}@{self.host}:{self.port}/"
                f"{self.dbname}")


class PostgresNotInstalled(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def postgres_bin() -> Path:
    """Debian's server binaries (package postgresql), newest version first."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parts[-3]), reverse=True)
    if not found:
        raise PostgresNotInstalled(
            "PostgreSQL server not installed: apt-get install postgresql (.ci/run does)")
    return Path(found[0]).parent


def _as_postgres_user(cmd: list[str]) -> list[str]:
    """initdb and postgres refuse to run as root; Debian's package adds a postgres user."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@contextmanager
def postgres_server(user: str, dbname: str, options: Sequence[str] = ()) -> Iterator[Postgres]:
    """A real PostgreSQL server on 127.0.0.1: password auth (scram-sha-256), a
    superuser `user` and an empty database `dbname`; stopped and deleted on exit.
    ``options``: more server settings, ``name=value`` (e.g. ``ssl=on``)."""
    bin_dir = postgres_bin()
    root = Path(tempfile.mkdtemp(prefix="pg-"))
    data, password = root / "data", secrets.token_urlsafe(16)
    (root / "pw").write_text(password)
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
    run = functools.partial(subprocess.run, check=True, capture_output=True, text=True)
    try:
        run(_as_postgres_user([str(bin_dir / "initdb"), "-D", str(data), "-U", user,
                               "--auth=scram-sha-256", f"--pwfile={root / 'pw'}", "-E", "UTF8"]))
        port = free_port()
        run(_as_postgres_user([str(bin_dir / "pg_ctl"), "-D", str(data), "-w", "-l",
                               str(root / "log"), "-o",
                               " ".join([f"-p {port} -k {root} -c listen_addresses=127.0.0.1",
                                         *(f"-c {o}" for o in options)]), "start"]))
        try:
            run([str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", user, dbname],
                env={**os.environ, "PGPASSWORD": password})
            yield Postgres("127.0.0.1", port, user, password, dbname)
        finally:
            subprocess.run(_as_postgres_user([str(bin_dir / "pg_ctl"), "-D", str(data), "-m",
                                              "fast", "stop"]), capture_output=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
