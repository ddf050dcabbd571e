"""scripts/stack.py: `make init` writes the values with no safe default, checked
with the program's rules; `make up` refuses a stack file that keeps a placeholder."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

SCRIPT = ROOT / "scripts" / "stack.py"
P = "airflow-eks:"


_spec = importlib.util.spec_from_file_location("stack_script", SCRIPT)
assert _spec and _spec.loader
stack_script = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(stack_script)


def stack(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The script as `make` runs it: a new interpreter, no terminal."""
    for name in ("Pulumi.dev.yaml", "Pulumi.prod.yaml"):
        if not (tmp_path / name).exists():
            shutil.copy(ROOT / name, tmp_path / name)
    return subprocess.run([sys.executable, str(SCRIPT), *args, "--dir", str(tmp_path)],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL)


def init(tmp_path: Path, capsys, *args: str) -> subprocess.CompletedProcess[str]:
    """`init` in this interpreter (it imports pulumi-aws: ~2 s per new process)."""
    for name in ("Pulumi.dev.yaml", "Pulumi.prod.yaml"):
        if not (tmp_path / name).exists():
            shutil.copy(ROOT / name, tmp_path / name)
    code = stack_script.main(["init", *args, "--dir", str(tmp_path), "--no-input"])
    out = capsys.readouterr()
    return subprocess.CompletedProcess(args, code, out.out, out.err)


def config(path: Path) -> dict:
    return yaml.safe_load(path.read_text())["config"]


@pytest.mark.parametrize("name", ["dev", "prod"])
def test_the_shipped_stacks_keep_their_placeholders_and_up_refuses_them(tmp_path, name):
    result = stack(tmp_path, "check", name)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == (4 if name == "prod" else 2)  # prod also names an example UI hostname and zone
    if name == "prod":
        assert f"{P}ui.hostname = airflow.example.com (a name reserved for examples)" in lines[2]
        assert f"{P}ui.hostedZoneId = Z0123456789EXAMPLE (an example id)" in lines[3]
    assert lines[0].startswith(f"error: Pulumi.{name}.yaml still has a placeholder: {P}dags.repo = ")
    assert lines[1].startswith(f"error: Pulumi.{name}.yaml still has a placeholder: {P}cluster.publicAccessCidrs "
                               "has 203.0.113.0/24")
    assert all(line.endswith(f"run make init STACK={name}") for line in lines[:2])
    assert all(line.endswith("pulumi config set airflow-eks:ui.exposure portForward") for line in lines[2:])


def test_the_script_and_the_program_name_the_same_project():
    from components.config import PROJECT
    assert stack_script.PROJECT == PROJECT


def test_init_creates_a_stack_that_deploys_and_passes_the_check(tmp_path, capsys):
    result = init(tmp_path, capsys, "staging", "--region", "eu-west-1", "--repo",
                   "git@github.com:me/dags.git", "--cidrs", "198.18.7.0/24, 2001:470::/48")
    assert result.returncode == 0, result.stderr
    assert "next: make up STACK=staging" in result.stdout
    assert (f"then set the secret: pulumi config set --secret {P}dags.sshPrivateKey --stack staging "
            "< deploy-key-file") in result.stdout
    cfg = config(tmp_path / "Pulumi.staging.yaml")
    assert cfg["aws:region"] == "eu-west-1" and cfg["aws:defaultTags"]["tags"]["Stack"] == "staging"
    assert cfg[P + "network.availabilityZones"] == ["eu-west-1a", "eu-west-1b"]
    assert cfg[P + "dags.repo"] == "git@github.com:me/dags.git"
    assert cfg[P + "cluster.publicAccessCidrs"] == ["198.18.7.0/24", "2001:470::/48"]
    assert "PLACEHOLDER" not in (tmp_path / "Pulumi.staging.yaml").read_text()
    assert stack(tmp_path, "check", "staging").returncode == 0
    # An update keeps what it is not given, and the file's other lines.
    assert init(tmp_path, capsys, "staging", "--cidrs", "private").returncode == 0
    cfg = config(tmp_path / "Pulumi.staging.yaml")
    assert cfg[P + "cluster.publicAccessCidrs"] == [] and cfg[P + "dags.repo"] == "git@github.com:me/dags.git"
    assert cfg[P + "dags.branch"] == "main"


def test_init_without_a_terminal_names_the_values_it_needs(tmp_path):
    result = stack(tmp_path, "init", "staging")
    assert result.returncode == 1 and not (tmp_path / "Pulumi.staging.yaml").exists()
    assert result.stderr == (f"error: Pulumi.staging.yaml needs {P}dags.repo, {P}cluster.publicAccessCidrs; run "
                             "make init STACK=staging REPO=<git url> CIDRS=<cidr,...>|private\n")


@pytest.mark.parametrize("args,message", [
    (["--cidrs", "0.0.0.0/1,128.0.0.0/1"], "0.0.0.0/1 is too wide"),
    (["--cidrs", "203.0.113.0/24"], "documentation ranges"),
    (["--repo", "https://me:ghp_s3cr3t@github.com/me/dags.git"], "no credentials in the URL"),
    (["--region", "us-east-7"], "aws:region = 'us-east-7'"),
])
def test_init_refuses_what_the_program_would(tmp_path, capsys, args, message):
    good = {"--region": "us-east-1", "--repo": "https://github.com/me/dags.git", "--cidrs": "198.18.7.0/24"}
    good.update(dict(zip(args[::2], args[1::2], strict=True)))
    result = init(tmp_path, capsys, "staging", *[x for kv in good.items() for x in kv])
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert message in result.stderr and "s3cr3t" not in result.stderr
    assert not (tmp_path / "Pulumi.staging.yaml").exists()


def test_check_of_a_missing_stack_file(tmp_path):
    result = stack(tmp_path, "check", "staging")
    assert result.stderr == "error: no stack file Pulumi.staging.yaml; create it with: make init STACK=staging\n"
