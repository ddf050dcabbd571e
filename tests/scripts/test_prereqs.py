"""scripts/prereqs.sh (the first step of `make up`): one line per missing
prerequisite with its fix, run with a PATH that holds only chosen tools."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

SCRIPT = ROOT / "scripts" / "prereqs.sh"
BASICS = ("tr", "sed", "cat")


def run(tmp_path: Path, tools: dict[str, str | None], pulumi: str = "/nonexistent/pulumi"):
    """tools: name -> a script body, or None for the real tool."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name in (*BASICS, *tools):
        body = tools.get(name)
        target = bin_dir / name
        if target.exists():
            target.unlink()
        if body is None:
            real = sys.executable if name == "python3" else shutil.which(name)
            assert real, name
            target.symlink_to(real)
        else:
            target.write_text(f"#!/bin/sh\n{body}\n")
            target.chmod(0o755)
    return subprocess.run(["/bin/bash", str(SCRIPT), "3.272.0", pulumi], capture_output=True, text=True,
                          env={"PATH": str(bin_dir), "HOME": str(tmp_path)})


AWS_OK = "echo 123456789012"
AWS_NO_CREDS = 'echo "Unable to locate credentials." >&2; exit 255'


def test_everything_present_passes(tmp_path):
    result = run(tmp_path, {"python3": None, "make": None, "curl": None, "sha256sum": None, "tar": None,
                            "aws": AWS_OK})
    assert (result.returncode, result.stderr) == (0, "")


def test_each_missing_prerequisite_is_one_line_with_its_fix(tmp_path):
    result = run(tmp_path, {"aws": AWS_NO_CREDS})
    lines = result.stderr.splitlines()
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert all(line.startswith("missing: ") and "; fix: " in line for line in lines)
    text = result.stderr
    assert "missing: Python 3.11 or newer (python3); fix: install it" in text
    assert "missing: make; fix:" in text
    assert "missing: curl (to download the Pulumi CLI 3.272.0); fix:" in text
    assert ("missing: AWS credentials that work (aws sts get-caller-identity: Unable to locate credentials.); "
            "fix: aws configure") in text
    assert len(lines) == 6  # python, make, curl, sha256, tar, AWS


def test_an_old_python_is_named_with_its_version(tmp_path):
    old = 'case "$*" in *version_info*) exit 1;; *python_version*) echo 3.9.18;; esac'
    result = run(tmp_path, {"python3": old, "make": None, "aws": AWS_OK}, pulumi=sys.executable)
    assert result.stderr == ("missing: Python 3.11 or newer (python3 is 3.9.18); fix: install Python 3.11+ "
                             "and run make up PYTHON=/path/to/python3.11\n")


def test_no_aws_cli_and_no_credentials_source(tmp_path):
    result = run(tmp_path, {"python3": None, "make": None}, pulumi=sys.executable)
    assert result.returncode == 1
    assert result.stderr.startswith("missing: AWS credentials (no AWS CLI to check them")
    (tmp_path / ".aws").mkdir()
    (tmp_path / ".aws" / "credentials").write_text("[default]\n")
    assert run(tmp_path, {"python3": None, "make": None}, pulumi=sys.executable).returncode == 0
