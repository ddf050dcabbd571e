"""Who can assume what: the IAM documents in .github/aws/ (trusts of the two
deploy roles and the preview role, the preview role's guardrails) say what
the README promises, match the workflows that use them, and are the JSON the
README shows, byte for byte once parsed."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT

AWS = ROOT / ".github" / "aws"
OIDC = "token.actions.githubusercontent.com"
PROVIDER = f"arn:aws:iam::<account>:oidc-provider/{OIDC}"
REPO = "<org>/<repo>"
STACKS = ("dev", "prod")


def document(name: str) -> dict[str, Any]:
    return json.loads((AWS / name).read_text())


def workflow(name: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / ".github" / "workflows" / name).read_text())


def readme_blocks() -> dict[str, Any]:
    """The README's JSON blocks, each headed by `<!-- .github/aws/NAME.json -->`."""
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"<!-- \.github/aws/([\w-]+\.json) -->\s*```json\n(.*?)```", readme, re.S)
    names = [name for name, _ in blocks]
    assert len(names) == len(set(names)), "one README block per document"
    return {name: json.loads(body) for name, body in blocks}


def the_statement(doc: dict[str, Any]) -> dict[str, Any]:
    (statement,) = doc["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Principal"] == {"Federated": PROVIDER}
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    return statement


@pytest.mark.parametrize("stack", STACKS)
def test_each_deploy_role_trusts_only_its_environment_of_the_deploy_workflow_on_main(stack):
    condition = the_statement(document(f"trust-deploy-{stack}.json"))["Condition"]
    # Exact matches only: no StringLike, no ForAnyValue, no list of subjects.
    assert list(condition) == ["StringEquals"]
    assert condition["StringEquals"] == {
        f"{OIDC}:aud": "sts.amazonaws.com",
        f"{OIDC}:sub": f"repo:{REPO}:environment:{stack}",
        f"{OIDC}:job_workflow_ref": f"{REPO}/.github/workflows/deploy.yml@refs/heads/main",
    }


def test_the_deploy_roles_trust_disjoint_subjects():
    subjects = [document(f"trust-deploy-{s}.json")["Statement"][0]["Condition"]["StringEquals"][f"{OIDC}:sub"]
                for s in STACKS]
    assert len(set(subjects)) == len(STACKS)


def test_the_trusted_workflow_is_the_one_whose_jobs_take_each_role():
    """job_workflow_ref names deploy.yml: that file's up-<stack> job must be
    the one in environment <stack> that assumes the environment's role."""
    jobs = workflow("deploy.yml")["jobs"]
    for stack in STACKS:
        ref = document(f"trust-deploy-{stack}.json")["Statement"][0]["Condition"]["StringEquals"][
            f"{OIDC}:job_workflow_ref"]
        assert ref.split("/.github/workflows/")[1] == "deploy.yml@refs/heads/main"
        in_env = [j for j in jobs.values() if j.get("environment") == stack]
        assert len(in_env) == 1 and in_env[0]["permissions"]["id-token"] == "write"


def test_the_preview_role_trusts_only_approved_preview_jobs_of_pull_requests():
    condition = the_statement(document("trust-preview.json"))["Condition"]
    assert condition["StringEquals"] == {
        f"{OIDC}:aud": "sts.amazonaws.com",
        f"{OIDC}:sub": [f"repo:{REPO}:environment:preview-{s}" for s in STACKS],
    }
    assert condition["StringLike"] == {
        f"{OIDC}:job_workflow_ref": f"{REPO}/.github/workflows/pr.yml@refs/pull/*/merge"}
    assert set(condition) == {"StringEquals", "StringLike"}
    # The environments the trust names are the ones pr.yml's preview runs in.
    preview = workflow("pr.yml")["jobs"]["preview"]
    environments = {preview["environment"].replace("${{ matrix.stack }}", s)
                    for s in preview["strategy"]["matrix"]["stack"]}
    assert {f"repo:{REPO}:environment:{e}" for e in environments} == set(condition["StringEquals"][f"{OIDC}:sub"])


def test_the_preview_role_cannot_write_the_state_nor_read_data_or_secret_values():
    statements = {s["Sid"]: s for s in document("preview-guardrails.json")["Statement"]}
    assert all(s["Effect"] == "Deny" for s in statements.values())
    writes = statements["NeverWriteTheState"]
    assert writes["Resource"] == "arn:aws:s3:::<state-bucket>/*"
    assert {"s3:PutObject*", "s3:DeleteObject*"} <= set(writes["Action"])
    reads = statements["ReadNoObjectButTheState"]
    assert reads["Action"] == ["s3:GetObject*"] and reads["NotResource"] == "arn:aws:s3:::<state-bucket>/*"
    assert {"secretsmanager:GetSecretValue", "ssm:GetParameter", "ssm:GetParameters",
            "ssm:GetParametersByPath"} <= set(statements["ReadNoSecretValue"]["Action"])
    decrypt = statements["DecryptOnlyTheStateObjects"]
    assert decrypt["Action"] == ["kms:Decrypt"] and decrypt["Condition"] == {
        "StringNotLike": {"kms:EncryptionContext:aws:s3:arn": "arn:aws:s3:::<state-bucket>*"}}


def test_the_readme_shows_exactly_these_documents():
    files = {p.name: json.loads(p.read_text()) for p in sorted(AWS.glob("*.json"))}
    assert set(files) == {"trust-deploy-dev.json", "trust-deploy-prod.json", "trust-preview.json",
                          "preview-guardrails.json"}
    assert readme_blocks() == files


def test_the_readme_shows_no_other_trust_policy():
    """A stale hand-written trust elsewhere in the README (the old one trusted
    both environments with one role) would contradict the files."""
    readme = (ROOT / "README.md").read_text()
    headed = set(re.findall(r"<!-- \.github/aws/[\w-]+\.json -->\s*```json\n(.*?)```", readme, re.S))
    for body in re.findall(r"```json\n(.*?)```", readme, re.S):
        if "AssumeRoleWithWebIdentity" in body:
            assert body in headed


def test_every_document_is_valid_policy_json(tmp_path: Path):
    for path in AWS.glob("*.json"):
        doc = json.loads(path.read_text())
        assert doc["Version"] == "2012-10-17" and doc["Statement"], path.name
        for statement in doc["Statement"]:
            assert statement["Effect"] in {"Allow", "Deny"} and statement.get("Sid"), path.name
