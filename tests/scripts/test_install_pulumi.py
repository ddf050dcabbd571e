"""scripts/install-pulumi.sh against a local release directory (file://):
verified install, and on any failure nothing left behind and the manual install named."""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
import tarfile
from pathlib import Path

import pytest

from tests.conftest import ROOT

SCRIPT = ROOT / "scripts" / "install-pulumi.sh"
VERSION = "3.272.0"
OS = {"Linux": "linux", "Darwin": "darwin"}[platform.system()]
ARCH = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64"}[platform.machine().lower()]
ARCHIVE = f"pulumi-v{VERSION}-{OS}-{ARCH}.tar.gz"
SUMS = f"pulumi-{VERSION}-checksums.txt"


def release(tmp_path: Path, *, checksum: str | None = None) -> Path:
    """A release directory laid out like get.pulumi.com/releases/sdk."""
    rel = tmp_path / "rel"
    (rel / "pulumi").mkdir(parents=True)
    cli = rel / "pulumi" / "pulumi"
    cli.write_text("#!/bin/sh\necho v3.272.0\n")
    cli.chmod(0o755)
    with tarfile.open(rel / ARCHIVE, "w:gz") as tar:
        tar.add(rel / "pulumi", arcname="pulumi")
    digest = checksum or hashlib.sha256((rel / ARCHIVE).read_bytes()).hexdigest()
    (rel / SUMS).write_text(f"{'0' * 64}  pulumi-v{VERSION}-windows-x64.zip\n{digest}  {ARCHIVE}\n")
    return rel


def install(tmp_path: Path, base: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCRIPT), VERSION, str(tmp_path / "tools" / "pulumi")], capture_output=True,
                          text=True, env={**os.environ, "PULUMI_DOWNLOAD_BASE": f"file://{base}", **env})


def test_a_verified_download_is_installed(tmp_path):
    result = install(tmp_path, release(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "verified" in result.stdout
    assert subprocess.run([str(tmp_path / "tools" / "pulumi" / "pulumi")], capture_output=True,
                          text=True).stdout == "v3.272.0\n"
    assert sorted(p.name for p in (tmp_path / "tools").iterdir()) == ["pulumi"]  # no temporary left


@pytest.mark.parametrize("case", ["bad checksum", "pinned mismatch", "unreachable", "no line"])
def test_a_failed_download_leaves_nothing_and_names_the_manual_install(tmp_path, case):
    env = {}
    if case == "bad checksum":
        base = release(tmp_path, checksum="f" * 64)
    elif case == "pinned mismatch":
        base, env = release(tmp_path), {"PULUMI_SHA256": "e" * 64}
    elif case == "unreachable":
        base = tmp_path / "nowhere"
    else:
        base = release(tmp_path)
        (base / SUMS).write_text(f"{'0' * 64}  other.tar.gz\n")
    result = install(tmp_path, base, **env)
    assert result.returncode == 1 and result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith(f"error: could not install the Pulumi CLI {VERSION}: ")
    assert "install Pulumi 3.272.0 yourself (https://www.pulumi.com/docs/iac/download-install/" in result.stderr
    assert not (tmp_path / "tools").exists(), "a half-installed .tools/ was left behind"
