"""The program's own pgbouncer.ini, run by a real pgbouncer in front of a real
PostgreSQL with TLS: pgbouncer connects only to a server whose certificate
chains to the configured CA and names the host it dialled (``verify-full``).

PostgreSQL (Debian's package, tests/dags/postgres_server.py) serves a
certificate for ``localhost`` signed by a CA generated here; pgbouncer is
Debian's package (.ci/run installs it). Only the file paths, ports and log
settings of the ini are rewritten for the test; the TLS lines are the
program's. A client connects through pgbouncer with ``psql``.
"""

from __future__ import annotations

import datetime
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from cryptography.x509.oid import NameOID

from components.airflow import RELEASE, pgbouncer_ini, pgbouncer_users
from tests.dags.postgres_server import PostgresNotInstalled, free_port, postgres_bin, postgres_server

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
pytestmark = pytest.mark.skipif(not Path(PGBOUNCER).exists(),
                                reason="pgbouncer not installed: apt-get install pgbouncer (.ci/run does)")
NOW = datetime.datetime.now(datetime.UTC)


def _cert(cn: str, issuer=None, dns: str | None = None):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    issuer_cert, issuer_key = issuer or (None, key)
    builder = (x509.CertificateBuilder().subject_name(name)
               .issuer_name(issuer_cert.subject if issuer_cert else name).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(NOW - datetime.timedelta(days=1))
               .not_valid_after(NOW + datetime.timedelta(days=30))
               .add_extension(x509.BasicConstraints(ca=dns is None, path_length=None), critical=True))
    if dns:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(dns)]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256()), key


def _as_postgres(cmd: list[str]) -> list[str]:
    """pgbouncer refuses to run as root; Debian's packages add a postgres user."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@pytest.fixture(scope="module")
def tls_postgres() -> Iterator[tuple[object, Path, Path]]:
    """PostgreSQL with ssl=on and a certificate for localhost from a test CA;
    yields the server, that CA's PEM file and another CA's PEM file."""
    try:
        postgres_bin()
    except PostgresNotInstalled as exc:
        pytest.skip(str(exc))
    d = Path(tempfile.mkdtemp(prefix="pgb-tls-"))
    ca, ca_key = _cert("test RDS CA")
    other_ca, _ = _cert("some other CA")
    server, server_key = _cert("localhost", issuer=(ca, ca_key), dns="localhost")
    (d / "ca.pem").write_bytes(ca.public_bytes(Encoding.PEM))
    (d / "other-ca.pem").write_bytes(other_ca.public_bytes(Encoding.PEM))
    (d / "server.crt").write_bytes(server.public_bytes(Encoding.PEM))
    (d / "server.key").write_bytes(server_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    (d / "server.key").chmod(0o600)
    if os.geteuid() == 0:
        for f in [d, *d.iterdir()]:
            shutil.chown(f, "postgres")
    try:
        with postgres_server("airflow_owner", "airflow", options=[
                "ssl=on", f"ssl_cert_file={d / 'server.crt'}", f"ssl_key_file={d / 'server.key'}",
                "listen_addresses=localhost"]) as pg:
            yield pg, d / "ca.pem", d / "other-ca.pem"
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _run_pgbouncer(pg, host: str, ca_file: Path, work: Path) -> tuple[subprocess.CompletedProcess, str]:
    """Starts pgbouncer with the program's ini for ``host``, connects through
    it once with psql, stops it; returns psql's result and pgbouncer's log."""
    url = f"postgresql://{pg.user}:{pg.password}@{host}:{pg.port}/{pg.dbname}?sslmode=verify-full"
    ini = pgbouncer_ini(url, pool_size=2, max_client_conn=10, ca_file=str(ca_file))
    assert "server_tls_sslmode = verify-full\n" in ini and f"server_tls_ca_file = {ca_file}\n" in ini
    port = free_port()
    ini = re.sub(r"^listen_port = .*$", f"listen_port = {port}", ini, flags=re.M)
    ini = re.sub(r"^listen_addr = .*$", "listen_addr = 127.0.0.1", ini, flags=re.M)
    ini = re.sub(r"^auth_file = .*$", f"auth_file = {work / 'users.txt'}", ini, flags=re.M)
    ini = re.sub(r"^log_connections = .*$", "log_connections = 1", ini, flags=re.M)
    # Fail fast instead of waiting for a server that will not verify.
    ini += (f"logfile = {work / 'pgbouncer.log'}\npidfile = {work / 'pgbouncer.pid'}\n"
            f"unix_socket_dir = {work}\nserver_login_retry = 1\nserver_connect_timeout = 5\n"
            "query_wait_timeout = 1\n")
    (work / "pgbouncer.ini").write_text(ini)
    (work / "users.txt").write_text(pgbouncer_users(url))
    if os.geteuid() == 0:
        for f in [work, *work.iterdir()]:
            shutil.chown(f, "postgres")
    with open(work / "stderr", "w") as stderr:
        proc = subprocess.Popen(_as_postgres([PGBOUNCER, str(work / "pgbouncer.ini")]),
                                stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        deadline = time.monotonic() + 10
        while "listening on" not in _read(work / "pgbouncer.log") and time.monotonic() < deadline:
            time.sleep(0.05)
        result = subprocess.run(
            [str(postgres_bin() / "psql"), "-X", "-A", "-t", "-c", "SELECT ssl FROM pg_stat_ssl "
             "WHERE pid = pg_backend_pid()",
             f"host=127.0.0.1 port={port} dbname={RELEASE}-metadata user={pg.user} sslmode=disable "
             "connect_timeout=10"],
            env={**os.environ, "PGPASSWORD": pg.password}, capture_output=True, text=True, timeout=30)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    return result, _read(work / "pgbouncer.log") + _read(work / "stderr")


@pytest.fixture
def work() -> Iterator[Path]:
    """pgbouncer's files, where the postgres user can read them (not in
    pytest's tmp_path, which only root may enter)."""
    d = Path(tempfile.mkdtemp(prefix="pgb-"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


def _read(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def test_pgbouncer_reaches_the_server_its_ca_and_name_verify(tls_postgres, work):
    pg, ca, _ = tls_postgres
    result, log = _run_pgbouncer(pg, "localhost", ca, work)
    assert result.returncode == 0, f"{result.stderr}\n{log}"
    assert result.stdout.strip() == "t", "pgbouncer's server connection is TLS"


def test_pgbouncer_refuses_a_server_signed_by_another_ca(tls_postgres, work):
    pg, _, other_ca = tls_postgres
    result, log = _run_pgbouncer(pg, "localhost", other_ca, work)
    assert result.returncode != 0, "connected to a server the CA does not vouch for"
    assert "certificate verify failed" in log, log


def test_pgbouncer_refuses_a_certificate_for_another_name(tls_postgres, work):
    """The certificate names localhost; dialling 127.0.0.1 (the same server)
    must fail: verify-full checks the name, not only the chain."""
    pg, ca, _ = tls_postgres
    result, log = _run_pgbouncer(pg, "127.0.0.1", ca, work)
    assert result.returncode != 0, "connected although the certificate names another host"
    assert "name `127.0.0.1' not present in server certificate" in log, log
