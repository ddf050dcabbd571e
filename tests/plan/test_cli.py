"""Offline plan and diff, on the recording engine the other tests use."""

from __future__ import annotations

import json

import pytest

from plan.cli import BANNER, diff, main, to_document
from plan.engine import MOCK_SECRET_PREFIX

P = "airflow-eks:"


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_plan_of_each_stack_is_labelled_and_masks_secrets(engine, stack):
    doc = to_document(engine.program(stack), stack)
    text = json.dumps(doc, default=str)
    assert doc["note"] == BANNER and "NOT compared" in BANNER
    assert MOCK_SECRET_PREFIX not in text and "[secret]" in text
    types = {r["type"] for r in doc["resources"]}
    database = "aws:rds/instance:Instance" if stack == "prod" else "kubernetes:apps/v1:StatefulSet"
    assert {"eks:index:Cluster", database, "kubernetes:helm.sh/v3:Release"} <= types
    assert doc["exports"]["airflowAdminPassword"] == "[secret]"


def test_plan_cli_prints_tree_with_key_properties(capsys):
    assert main(["plan", "--stack", "dev"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(BANNER)
    assert "scalingConfig.maxSize: 5" in out and "spec.resources.requests.storage: 20Gi" in out
    assert "values.dags.gitSync.ref: main" in out and "version: 1.22.0" in out
    assert "Allow s3:PutObject" in out  # IAM actions per role


def test_diff_shows_exactly_the_changed_properties(engine):
    base = engine.program("dev")
    head = engine.program("dev", {P + "cluster.nodeGroups.tasks.maxSize": 20})
    assert diff(base, head) == ["~ airflow-eks-dev-tasks: scalingConfig.maxSize 5 -> 20"]


def test_diff_shows_iam_changes_by_action(engine):
    base = engine.program("dev")
    head = engine.program("prod")
    lines = diff(base, head)
    assert "+ add    aws:ec2/launchTemplate:LaunchTemplate airflow-eks-prod-tasks-lt" in lines
    assert "- remove aws:ec2/launchTemplate:LaunchTemplate airflow-eks-dev-tasks-lt" in lines


def test_no_change_no_diff(engine):
    assert diff(engine.program("dev"), engine.program("dev", fresh=True)) == []


def test_diff_against_a_git_revision_evaluates_that_revisions_program(engine):
    """plan-diff's base side: HEAD in a temporary worktree, its own components."""
    import subprocess
    import sys

    from plan.cli import evaluate_revision
    from plan.engine import ROOT

    program_paths = ["components", "plan", "helm", "__main__.py", "Pulumi.yaml", "Pulumi.dev.yaml"]
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", *program_paths],
                           capture_output=True, text=True, check=True).stdout
    if dirty:
        pytest.skip("the program differs from HEAD in this working tree")
    import components.config

    ours = components.config
    base = evaluate_revision("HEAD", "dev")
    assert sys.modules["components.config"] is ours  # our modules are back in place
    assert len(base.resources) == len(engine.program("dev").resources)
    assert diff(base, engine.program("dev")) == []


def test_the_module_entry_point_writes_a_json_plan():
    """`python -m plan` as `make plan` runs it: a new interpreter, JSON on stdout."""
    import subprocess
    import sys

    from plan.engine import ROOT
    result = subprocess.run([sys.executable, "-m", "plan", "plan", "--stack", "prod", "--json", "-"],
                            cwd=ROOT, capture_output=True, text=True, check=True)
    doc = json.loads(result.stdout)
    assert doc["stack"] == "prod" and doc["note"] == BANNER
    assert len(doc["resources"]) > 50
