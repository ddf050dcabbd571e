"""NatInstance (network.natGateways: instance): routes to a fixed ENI with source/dest
check off, an Auto Scaling group of one that replaces the instance, a boot script
that turns the check off on the primary interface and masquerades, least privilege."""

import base64
import json

import pytest

from components.nat_instance import AMI_PARAMETER, NAT_TAG_KEY, NatInstance, NatInstanceArgs, user_data
from components.network import Network, NetworkArgs
from tests.conftest import policy_of, statements

AZS = ("us-east-1a", "us-east-1b")


@pytest.fixture(scope="module")
def network(engine):
    return engine.build(lambda: Network("net", NetworkArgs(
        cidr="10.20.0.0/16", availability_zones=AZS, one_nat_per_az=False,
        cluster_name="airflow-eks-test", flow_log_group_name="/airflow-eks/test/vpc-flow-logs",
        flow_log_retention_days=14, kms_key_arn="arn:aws:kms:us-east-1:123456789012:key/k",
        account_id="123456789012", region="us-east-1", partition="aws", protect=False,
        nat_instance_type="t4g.nano")))


def test_the_vpc_has_no_nat_gateway_and_every_private_route_table_points_at_the_eni(network):
    assert network.one("awsx:ec2:Vpc").plain_inputs["natGateways"] == {"strategy": "None"}
    eni = network.one("aws:ec2/networkInterface:NetworkInterface")
    routes = network.of_type("aws:ec2/route:Route")
    assert sorted(r.name for r in routes) == [f"net-nat-route-{az}" for az in AZS]
    tables = set()
    for route in routes:
        inputs = route.plain_inputs
        assert inputs["destinationCidrBlock"] == "0.0.0.0/0"
        assert inputs["networkInterfaceId"] == f"{eni.name}-id"  # the fixed ENI, not an instance
        tables.add(inputs["routeTableId"])
    # One route per private subnet's own table: the lookups were by subnet-private-0 and -1.
    assert len(tables) == len(AZS) and all(t.startswith("rtb-") for t in tables)


def test_the_fixed_eni_has_source_dest_check_off_and_sits_in_a_public_subnet(network):
    eni = network.one("aws:ec2/networkInterface:NetworkInterface").plain_inputs
    assert eni["sourceDestCheck"] is False
    assert eni["subnetId"] == "subnet-public-0"
    sg = network.one("aws:ec2/securityGroup:SecurityGroup", "nat-sg").plain_inputs
    assert [rule["cidrBlocks"] for rule in sg["ingress"]] == [["10.20.0.0/16"]]


def test_an_auto_scaling_group_of_one_replaces_the_instance_in_the_enis_az(network):
    asg = network.one("aws:autoscaling/group:Group").plain_inputs
    assert (asg["minSize"], asg["maxSize"], asg["desiredCapacity"]) == (1, 1, 1)
    assert asg["vpcZoneIdentifiers"] == ["subnet-public-0"]  # where the ENI is
    assert asg["healthCheckType"] == "EC2"
    # The old instance releases the ENI before the new one attaches it.
    assert asg["instanceMaintenancePolicy"] == {"minHealthyPercentage": 0, "maxHealthyPercentage": 100}
    lt = network.one("aws:ec2/launchTemplate:LaunchTemplate")
    assert asg["launchTemplate"]["id"] == f"{lt.name}-id"


def test_launch_template_al2023_from_ssm_imdsv2_encrypted_standard_credits(network):
    lt = network.one("aws:ec2/launchTemplate:LaunchTemplate").plain_inputs
    assert lt["imageId"] == f"resolve:ssm:{AMI_PARAMETER}" and "al2023" in AMI_PARAMETER
    assert "arm64" in AMI_PARAMETER and lt["instanceType"] == "t4g.nano"
    assert lt["metadataOptions"]["httpTokens"] == "required"
    assert lt["metadataOptions"]["httpPutResponseHopLimit"] == 1
    (disk,) = lt["blockDeviceMappings"]
    assert disk["ebs"]["encrypted"] == "true" and disk["ebs"]["volumeType"] == "gp3"
    assert lt["creditSpecification"] == {"cpuCredits": "standard"}
    (nic,) = lt["networkInterfaces"]
    assert nic["associatePublicIpAddress"] == "true" and nic["deviceIndex"] == 0
    tagged = {spec["resourceType"]: spec["tags"] for spec in lt["tagSpecifications"]}
    assert tagged["instance"] == {NAT_TAG_KEY: "net-nat"}


def test_user_data_turns_the_check_off_attaches_the_eni_and_masquerades(network):
    eni = network.one("aws:ec2/networkInterface:NetworkInterface")
    text = base64.b64decode(network.one("aws:ec2/launchTemplate:LaunchTemplate")
                            .plain_inputs["userData"]).decode()
    assert text == user_data(f"{eni.name}-id", "10.20.0.0/16")
    assert "modify-instance-attribute" in text and "--no-source-dest-check" in text
    assert f'ENI_ID="{eni.name}-id"' in text and "attach-network-interface" in text
    assert "--device-index 1" in text
    assert "net.ipv4.ip_forward=1" in text and "masquerade" in text
    assert "systemctl enable --now airflow-eks-nat.service" in text  # again at every boot


def test_the_instance_role_may_touch_only_the_eni_and_its_own_tagged_instances(network):
    role = network.one("aws:iam/role:Role", "nat-role")
    trust = statements(json.loads(role.plain_inputs["assumeRolePolicy"]))
    assert trust[0]["Principal"] == {"Service": ["ec2.amazonaws.com"]}
    eni = network.one("aws:ec2/networkInterface:NetworkInterface")
    granted = statements(policy_of(network.one("aws:iam/rolePolicy:RolePolicy", "nat-boot")))
    by_sid = {s["Sid"]: s for s in granted}
    assert by_sid["AttachTheFixedEni"]["Resource"] == [eni.outputs["arn"]]
    tagged = by_sid["OnlyThisNatsInstances"]
    assert tagged["Resource"] == ["arn:aws:ec2:us-east-1:123456789012:instance/*"]
    assert tagged["Condition"] == {"StringEquals": {f"ec2:ResourceTag/{NAT_TAG_KEY}": ["net-nat"]}}
    assert sorted(a for s in granted for a in s["Action"]) == [
        "ec2:AttachNetworkInterface", "ec2:AttachNetworkInterface", "ec2:ModifyInstanceAttribute"]


def test_gateways_when_no_instance_type(engine):
    rec = engine.build(lambda: Network("net", NetworkArgs(
        cidr="10.20.0.0/16", availability_zones=AZS, one_nat_per_az=False,
        cluster_name="c", flow_log_group_name="/airflow-eks/test/vpc-flow-logs", flow_log_retention_days=14,
        kms_key_arn="arn:aws:kms:us-east-1:1:key/k", account_id="123456789012", region="us-east-1",
        partition="aws", protect=False)))
    assert rec.one("awsx:ec2:Vpc").plain_inputs["natGateways"] == {"strategy": "Single"}
    assert not rec.of_type("airflow-eks:index:NatInstance") and not rec.of_type("aws:ec2/route:Route")


def test_dev_runs_a_nat_instance_and_prod_nat_gateways(engine):
    dev = engine.program("dev")
    assert len(dev.of_type("airflow-eks:index:NatInstance")) == 1
    # Nodes boot (and pull images) only once the private subnets have egress.
    waits_for = set(dev.one("eks:index:ManagedNodeGroup", "-system").property_dependencies["subnetIds"])
    assert dev.one("aws:autoscaling/group:Group").urn in waits_for
    assert {r.urn for r in dev.of_type("aws:ec2/route:Route")} <= waits_for
    prod = engine.program("prod")
    assert not prod.of_type("airflow-eks:index:NatInstance")
    assert prod.one("awsx:ec2:Vpc").plain_inputs["natGateways"] == {"strategy": "OnePerAz"}


def test_component_alone(engine):
    rec = engine.build(lambda: NatInstance("n", NatInstanceArgs(
        vpc_id="vpc-1", vpc_cidr="10.0.0.0/16", subnet_id="subnet-1",
        private_route_table_ids=[("a", "rtb-a")], instance_type="t4g.micro", region="us-east-1",
        account_id="123456789012", partition="aws")))
    assert rec.one("aws:ec2/route:Route").plain_inputs["routeTableId"] == "rtb-a"
    assert rec.one("aws:ec2/launchTemplate:LaunchTemplate").plain_inputs["instanceType"] == "t4g.micro"


def test_user_data_and_boot_script_are_valid_bash():
    import subprocess

    from components.nat_instance import _BOOT_SCRIPT
    text = user_data("eni-0123456789abcdef0", "10.20.0.0/16")
    for script in (text, _BOOT_SCRIPT):
        result = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
    # The boot script is embedded whole, ahead of its heredoc terminator.
    assert "\nNFT\nSCRIPT\n" in text
