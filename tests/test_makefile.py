"""The Makefile: `make help` lists every target, and `make up` checks before it acts."""

from __future__ import annotations

import os
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


TEST_PHASES = ("test-infra", "test-dags", "test-sso", "test-system")


def dry_run(target: str) -> list[str]:
    """`make -n target`, continuation lines joined, outside any make running this test."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    out = subprocess.run(["make", "--no-print-directory", "-n", target], cwd=ROOT, capture_output=True,
                         text=True, check=True, env=env).stdout
    return out.replace("\\\n", " ").splitlines()


def pytest_args(target: str) -> list[str]:
    """The arguments of the pytest command a test phase runs."""
    line, = [s for s in dry_run(target) if " -m pytest " in s]
    return line.split(" -m pytest ", 1)[1].split()


def test_make_test_runs_every_test_file_in_exactly_one_phase():
    """`make test` splits the suite into phases that run at once: none may drop a file or run one twice."""
    def under(path: str, roots: list[str]) -> bool:
        return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)

    files = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "tests").rglob("test_*.py"))
    phases = {}
    for target in TEST_PHASES:
        args = pytest_args(target)
        paths = [a for a in args if not a.startswith("-")]
        ignored = [a.removeprefix("--ignore=") for a in args if a.startswith("--ignore=")]
        phases[target] = {f for f in files if under(f, paths) and not under(f, ignored)}
    runs = {f: [t for t in TEST_PHASES if f in phases[t]] for f in files}
    assert {f: ts for f, ts in runs.items() if len(ts) != 1} == {}

    # All phases at once, each one's output whole, every one run even if one fails.
    top = dry_run("test")[0]
    assert re.search(r" -j\d+ --output-sync=target --keep-going ", top)
    assert set(top.split()) >= {*TEST_PHASES, "lint", "typecheck"}
