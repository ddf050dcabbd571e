"""The Makefile: `make help` lists every target, and `make up` checks before it acts."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def make(*args: str) -> str:
    return subprocess.run(["make", "--no-print-directory", *args], cwd=ROOT, capture_output=True, text=True,
                          check=True).stdout


def phony_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text()
    return {t for line in re.findall(r"^\.PHONY:(.*)$", text, re.M) for t in line.split()}


def test_make_help_lists_every_target():
    listed = set(re.findall(r"^  make (\S+)", make("help"), re.M))
    assert listed == phony_targets()


def test_the_readme_names_only_targets_that_exist():
    readme = (ROOT / "README.md").read_text()
    named = set(re.findall(r"(?:`|^)make ([a-z][a-z-]+)", readme, re.M))
    assert named - phony_targets() == set(), "the README names targets the Makefile does not have"


def test_make_up_checks_prerequisites_and_placeholders_before_anything_else():
    steps = make("-n", "up", "STACK=dev").splitlines()
    prereqs = next(i for i, s in enumerate(steps) if "scripts/prereqs.sh" in s)
    check = next(i for i, s in enumerate(steps) if "scripts/stack.py check dev" in s)
    first_pulumi = next(i for i, s in enumerate(steps) if re.search(r"pulumi(/pulumi)? (whoami|up|login)", s))
    download = [i for i, s in enumerate(steps) if "install-pulumi.sh" in s]
    assert prereqs == 0 and prereqs < check < first_pulumi
    assert all(check < i for i in download)


def test_make_pulumi_runs_the_cli_make_installed_with_the_venv_on_path():
    line, = [s for s in make("-n", "pulumi", "ARGS=stack output kubectlSetupCommand").splitlines()
             if "stack output" in s]
    assert re.search(r'PATH="\S+/\.venv/bin:\$PATH" \S*pulumi stack output kubectlSetupCommand$', line)
