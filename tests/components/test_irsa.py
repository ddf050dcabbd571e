"""IrsaRole: trust only web identity from one OIDC provider, for one service account."""

from components.irsa import IrsaRole, IrsaRoleArgs
from components.kms import Statement
from tests.components import fake_cluster
from tests.components.fake_cluster import ISSUER, OIDC_PROVIDER_ARN
from tests.conftest import policy_of, statements


def build(engine, **kw):
    return engine.build(lambda: IrsaRole("r", IrsaRoleArgs(
        **fake_cluster.oidc(), namespace="airflow", service_account="airflow-worker", **kw)))


def test_trust_is_scoped_by_sub_and_aud(engine):
    role = build(engine).one("aws:iam/role:Role")
    (trust,) = statements(policy_of(role, "assumeRolePolicy"))
    assert trust["Action"] == ["sts:AssumeRoleWithWebIdentity"]
    assert trust["Principal"] == {"Federated": [OIDC_PROVIDER_ARN]}
    assert trust["Condition"] == {"StringEquals": {
        f"{ISSUER}:sub": ["system:serviceaccount:airflow:airflow-worker"],
        f"{ISSUER}:aud": ["sts.amazonaws.com"]}}


def test_policy_from_statements(engine):
    rec = build(engine, statements=[Statement(actions=["s3:GetObject"],
                                              resources=["arn:aws:s3:::b/task-logs/*"])])
    (st,) = statements(policy_of(rec.one("aws:iam/rolePolicy:RolePolicy")))
    assert st == {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::b/task-logs/*"]}


def test_no_statements_no_inline_policy(engine):
    assert build(engine).of_type("aws:iam/rolePolicy:RolePolicy") == []
