"""Network: subnets tagged for EKS, NAT layout, flow logs, empty default SG."""

import pytest

from components.network import Network, NetworkArgs, subnet_masks
from tests.conftest import policy_of, statements


def build(engine, azs=("us-east-1a", "us-east-1b"), per_az=False, protect=False):
    return engine.build(lambda: Network("net", NetworkArgs(
        cidr="10.20.0.0/16", availability_zones=azs, one_nat_per_az=per_az,
        cluster_name="airflow-eks-test", flow_log_group_name="/airflow-eks/test/vpc-flow-logs",
        flow_log_retention_days=14, kms_key_arn="arn:aws:kms:us-east-1:123456789012:key/k",
        account_id="123456789012", region="us-east-1", partition="aws", protect=protect)))


@pytest.mark.parametrize("per_az,strategy", [(False, "Single"), (True, "OnePerAz")])
def test_vpc_layout(engine, per_az, strategy):
    vpc = build(engine, per_az=per_az).one("awsx:ec2:Vpc").plain_inputs
    assert vpc["cidrBlock"] == "10.20.0.0/16"
    assert vpc["availabilityZoneNames"] == ["us-east-1a", "us-east-1b"]
    assert vpc["natGateways"] == {"strategy": strategy}
    specs = {s["type"]: s for s in vpc["subnetSpecs"]}
    assert set(specs) == {"Private", "Public"}
    assert specs["Private"]["tags"]["kubernetes.io/role/internal-elb"] == "1"
    assert specs["Public"]["tags"]["kubernetes.io/role/elb"] == "1"
    assert specs["Private"]["cidrMask"] == 19 and specs["Public"]["cidrMask"] == 24
    for spec in specs.values():
        assert spec["tags"]["kubernetes.io/cluster/airflow-eks-test"] == "shared"


def test_subnet_masks_fit_four_azs():
    for prefix in range(16, 21):
        private, public = subnet_masks(f"10.0.0.0/{prefix}")
        per_az_block = prefix + 2  # 4 AZs
        assert 2 ** (32 - private) + 2 ** (32 - public) <= 2 ** (32 - per_az_block)


def test_default_security_group_has_no_rules(engine):
    sg = build(engine).one("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup").plain_inputs
    assert sg.get("ingress", []) == [] and sg.get("egress", []) == []


def test_flow_logs_capture_everything_into_an_encrypted_group(engine):
    rec = build(engine)
    flow = rec.one("aws:ec2/flowLog:FlowLog").plain_inputs
    assert flow["trafficType"] == "ALL" and flow["logDestinationType"] == "cloud-watch-logs"
    group = rec.one("aws:cloudwatch/logGroup:LogGroup").plain_inputs
    assert group["kmsKeyId"].startswith("arn:aws:kms:") and group["retentionInDays"] == 14
    assert group["name"] == "/airflow-eks/test/vpc-flow-logs"
    allowed = statements(policy_of(rec.one("aws:iam/rolePolicy:RolePolicy")))
    assert all(r.startswith("arn:aws:logs:") for s in allowed for r in s["Resource"])


def test_flow_logs_role_assumable_only_for_this_account(engine):
    role = build(engine).one("aws:iam/role:Role", "flow-logs-role")
    (trust,) = statements(policy_of(role, "assumeRolePolicy"))
    assert trust["Principal"] == {"Service": ["vpc-flow-logs.amazonaws.com"]}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": ["123456789012"]}}


@pytest.mark.parametrize("protect", [False, True])
def test_flow_log_group_protected_in_production(engine, protect):
    assert build(engine, protect=protect).one("aws:cloudwatch/logGroup:LogGroup").protect is protect
