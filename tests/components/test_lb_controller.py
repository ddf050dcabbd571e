"""LoadBalancerController: the documented controller policy narrowed to this
cluster (ownership tag), VPC, account and region; pinned release on the
system nodes with WAF/Shield and the Service webhook off."""

from components.lb_controller import (
    CHART_VERSION,
    CLUSTER_TAG,
    SSL_POLICY,
    LoadBalancerController,
    LoadBalancerControllerArgs,
)
from plan.engine import ACCOUNT
from tests.components import fake_cluster
from tests.components.fake_cluster import ISSUER
from tests.conftest import policy_of, statements

ELB = f"arn:aws:elasticloadbalancing:us-east-1:{ACCOUNT}"
EC2 = f"arn:aws:ec2:us-east-1:{ACCOUNT}"
OWNED_RESOURCE = {"StringEquals": {f"aws:ResourceTag/{CLUSTER_TAG}": ["airflow-eks-dev"]}}
OWNED_REQUEST = {"StringEquals": {f"aws:RequestTag/{CLUSTER_TAG}": ["airflow-eks-dev"]}}


def build(engine):
    return engine.build(lambda: LoadBalancerController("lbc", LoadBalancerControllerArgs(
        cluster_name="airflow-eks-dev", region="us-east-1", vpc_id="vpc-0abc",
        **fake_cluster.system_addon())))


def sids(engine):
    doc = policy_of(build(engine).one("aws:iam/rolePolicy:RolePolicy"))
    return {s["Sid"]: s for s in statements(doc)}, statements(doc)


def test_star_resources_only_on_read_calls(engine):
    _, all_statements = sids(engine)
    for st in all_statements:
        if st["Resource"] == ["*"]:
            verbs = {a.split(":")[1] for a in st["Action"]}
            assert all(v.startswith(("Describe", "List", "Get")) for v in verbs), verbs


def test_every_write_is_this_account_and_region_and_albs_only(engine):
    _, all_statements = sids(engine)
    for st in all_statements:
        for resource in st["Resource"]:
            if resource == "*":
                continue
            assert f":{ACCOUNT}:" in resource, resource
            if ":elasticloadbalancing:" in resource:
                assert resource.startswith(ELB) and "/net/" not in resource, resource
            if ":ec2:" in resource:
                assert resource.startswith(EC2), resource


def test_created_and_changed_resources_must_carry_this_clusters_tag(engine):
    by_sid, _ = sids(engine)
    for sid in ("CreateOwnedSecurityGroups", "CreateOwnedLoadBalancers"):
        assert by_sid[sid]["Condition"] == OWNED_REQUEST, sid
    for sid in ("DeleteOwnedSecurityGroups", "ManageOwnedLoadBalancers", "RegisterTargetsOfOwnedGroups"):
        assert by_sid[sid]["Condition"] == OWNED_RESOURCE, sid
    for sid in ("RetagOwnedSecurityGroups", "RetagOwnedLoadBalancers"):
        assert by_sid[sid]["Condition"] == {
            **OWNED_RESOURCE, "Null": {f"aws:RequestTag/{CLUSTER_TAG}": ["true"]}}, sid
    assert by_sid["TagLoadBalancersOnCreate"]["Condition"] == {"StringEquals": {
        f"aws:RequestTag/{CLUSTER_TAG}": ["airflow-eks-dev"],
        "elasticloadbalancing:CreateAction": ["CreateTargetGroup", "CreateLoadBalancer"]}}


def test_tags_of_load_balancers_change_only_under_an_ownership_condition(engine):
    """A statement that may tag load balancers or target groups without the
    ownership condition would let the role adopt any ALB in the account."""
    _, all_statements = sids(engine)
    for st in all_statements:
        tags = {"elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags"} & set(st["Action"])
        lbs = [r for r in st["Resource"] if "loadbalancer/" in r or "targetgroup/" in r]
        if tags and lbs:
            assert f"aws:ResourceTag/{CLUSTER_TAG}" in str(st.get("Condition")) or \
                   f"aws:RequestTag/{CLUSTER_TAG}" in str(st.get("Condition")), st["Sid"]


def test_security_groups_only_in_this_vpc(engine):
    by_sid, _ = sids(engine)
    assert by_sid["SecurityGroupRulesInThisVpc"]["Condition"] == {
        "ArnEquals": {"ec2:Vpc": [f"{EC2}:vpc/vpc-0abc"]}}
    assert by_sid["CreateSecurityGroupsInThisVpc"]["Resource"] == [f"{EC2}:vpc/vpc-0abc"]


def test_no_waf_shield_or_cognito_permissions(engine):
    _, all_statements = sids(engine)
    actions = {a for st in all_statements for a in st["Action"]}
    assert not {a for a in actions if a.split(":")[0] in ("waf-regional", "wafv2", "shield", "cognito-idp")}


def test_release_pinned_on_system_nodes_with_the_role(engine):
    rec = build(engine)
    release = rec.one("kubernetes:helm.sh/v3:Release").plain_inputs
    assert release["chart"] == "aws-load-balancer-controller" and release["version"] == CHART_VERSION
    assert release["repositoryOpts"]["repo"] == "https://aws.github.io/eks-charts"
    values = release["values"]
    role = rec.one("aws:iam/role:Role")
    assert values["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"] == role.outputs["arn"]
    assert values["serviceAccount"]["name"] == "aws-load-balancer-controller"
    assert (values["clusterName"], values["region"], values["vpcId"]) == ("airflow-eks-dev", "us-east-1", "vpc-0abc")
    assert values["nodeSelector"] == {"airflow-eks/node-group": "system"}
    assert (values["enableWaf"], values["enableWafv2"], values["enableShield"]) == (False, False, False)
    assert values["enableServiceMutatorWebhook"] is False
    assert values["defaultSSLPolicy"] == SSL_POLICY == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    trust = policy_of(role, "assumeRolePolicy")
    assert trust["Statement"][0]["Condition"]["StringEquals"][f"{ISSUER}:sub"] == [
        "system:serviceaccount:kube-system:aws-load-balancer-controller"]
