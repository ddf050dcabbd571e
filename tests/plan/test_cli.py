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


def test_plan_says_the_rds_ca_is_a_placeholder(engine, capsys):
    """RDS stacks: the CA in pgbouncer's values is made offline, and the plan says so."""
    from plan.cli import print_tree
    (note,) = to_document(engine.program("prod"), "prod")["placeholders"]
    assert "values.pgbouncer.ssl.ca is a PLACEHOLDER" in note and "OFFLINE PLAN PLACEHOLDER" in note
    assert to_document(engine.program("dev"), "dev")["placeholders"] == []  # in-cluster database: no CA
    print_tree(engine.program("prod"), "prod", show_all=False)
    out = capsys.readouterr().out
    assert f"note: {note}\n" in out and "caCertIdentifier: rds-ca-rsa2048-g1" in out


def test_plan_cli_prints_tree_with_key_properties(capsys):
    assert main(["plan", "--stack", "dev"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(BANNER)
    assert "scalingConfig.maxSize: 5" in out and "spec.resources.requests.storage: 10Gi" in out
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


def run_cli(*args: str, env: dict[str, str] | None = None):
    """`python -m plan ...` as `make plan` runs it: a new interpreter."""
    import os
    import subprocess
    import sys

    from plan.engine import ROOT
    return subprocess.run([sys.executable, "-m", "plan", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, **(env or {})})


BAD_STACK = """config:
  aws:region: us-east-1
  airflw-eks:dags.branch: main
  airflow-eks:dags.repo: https://bob:ghp_s3cr3t@github.com/org/dags.git
  airflow-eks:dags.branch: main
  airflow-eks:network.availabilityZones: [us-east-1a, us-east-1z]
  airflow-eks:cluster.nodeGroups.system.instanceTypes: [t4g.medum]
  airflow-eks:dags.httpsTokn: ghp_other
"""


def test_make_plan_prints_every_config_error_without_a_traceback(tmp_path):
    (tmp_path / "bad.yaml").write_text(BAD_STACK)
    result = run_cli("plan", "--stack", "dev", "--config-file", str(tmp_path / "bad.yaml"))
    assert result.returncode == 1 and result.stdout == ""
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: stack dev: 5 invalid config values\n")
    for key in ("airflw-eks:dags.branch", P + "dags.repo", P + "network.availabilityZones",
                P + "cluster.nodeGroups.system.instanceTypes", P + "dags.httpsTokn"):
        assert f"invalid stack config {key} = " in result.stderr
    assert "us-east-1z is not a zone" in result.stderr and "t4g.medum is not an instance type" in result.stderr
    assert "s3cr3t" not in result.stderr and "ghp_other" not in result.stderr


def test_make_plan_of_a_stack_without_a_file_says_so_in_one_line():
    result = run_cli("plan", "--stack", "staging")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr == ("error: no stack file Pulumi.staging.yaml; stacks here: dev, prod; "
                             "create it with: make init STACK=staging\n")


def test_plan_diff_against_an_unknown_revision_shows_gits_message():
    result = run_cli("diff", "--stack", "dev", "--base", "origin/no-such-branch")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr == ("error: cannot check out BASE=origin/no-such-branch: "
                             "fatal: invalid reference: origin/no-such-branch\n")


def test_the_plan_does_not_depend_on_registration_order(engine, capsys):
    """Registration order varies with the program's async scheduling between runs;
    the printed plan and the JSON must not (two runs diff clean)."""
    import random

    from plan.cli import print_tree
    from plan.engine import Recording
    rec = engine.program("prod")
    shuffled = list(rec.resources)
    random.Random(7).shuffle(shuffled)
    other = Recording(resources=shuffled, exports=dict(reversed(list(rec.exports.items()))))
    print_tree(rec, "prod", True)
    first = capsys.readouterr().out
    print_tree(other, "prod", True)
    assert capsys.readouterr().out == first
    assert json.dumps(to_document(rec, "prod"), default=str) == json.dumps(to_document(other, "prod"), default=str)


def test_plan_diff_names_uncommitted_changes_in_one_line(capsys):
    """The working-tree side includes them; the header says so with git's status."""
    import uuid

    from plan.engine import ROOT
    marker = ROOT / f".plan-diff-test-{uuid.uuid4().hex[:8]}"
    marker.write_text("untracked\n")
    try:
        assert main(["diff", "--stack", "dev", "--base", "HEAD"]) == 0
    finally:
        marker.unlink()
    notes = [line for line in capsys.readouterr().out.splitlines() if line.startswith("note: ")]
    assert len(notes) == 1 and "uncommitted changes, included above" in notes[0]
    assert f"?? {marker.name}" in notes[0] or notes[0].endswith(", ...)")  # the first 5 are listed
