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


def test_managed_policies_are_attached_under_their_own_names(engine):
    cni = "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy"
    ecr = "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly"
    rec = build(engine, managed_policies={"AmazonEKS_CNI_Policy": cni, "AmazonEC2ContainerRegistryReadOnly": ecr})
    attached = {r.name: r for r in rec.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")}
    # Named after the policy, so a reorder renames (and replaces) nothing.
    assert {n: r.plain_inputs["policyArn"] for n, r in attached.items()} == {
        "r-AmazonEKS_CNI_Policy": cni, "r-AmazonEC2ContainerRegistryReadOnly": ecr}
    # Stacks created when the one attachment was "-managed-0" keep it (a Pulumi alias).
    assert [a["spec"]["name"] for a in attached["r-AmazonEKS_CNI_Policy"].aliases] == ["r-managed-0"]


def test_the_add_on_roles_keep_their_attachments_on_upgrade(engine):
    rec = engine.program("dev")
    for role in ("vpc-cni", "ebs-csi"):
        (attachment,) = [r for r in rec.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
                         if r.name.startswith(f"airflow-eks-dev-{role}-")]
        assert [a["spec"]["name"] for a in attachment.aliases] == [f"airflow-eks-dev-{role}-managed-0"]
