"""NatInstance: one NAT instance for the private subnets, in place of NAT gateways.

About $7 a month instead of $36.50 per NAT gateway (README, Cost); for dev
stacks (``network.natGateways: instance``). Creates:
- a security group admitting all traffic from the VPC CIDR only, egress anywhere;
- a fixed network interface (ENI) in the first public subnet, with
  source/destination checking off, that every private route table's default
  route points at. It outlives instances, so the routes never change;
- for each private route table, its ``0.0.0.0/0`` route to that ENI;
- an instance role whose only grants are attaching that one ENI, and
  ModifyInstanceAttribute (source/dest check) and AttachNetworkInterface on
  instances carrying this NAT's tag (which the instance cannot set: no
  CreateTags); an instance profile;
- a launch template: Amazon Linux 2023 arm64 through the public SSM parameter
  (``resolve:ssm:``, so a replacement boots the current AMI and ``pulumi up``
  shows no drift), IMDSv2 with hop limit 1, an encrypted gp3 root, standard
  CPU credits (no surplus charges), a public IPv4 on its primary interface,
  and user data that installs a boot-time service: source/dest check off,
  attach the fixed ENI, IPv4 forwarding, nftables masquerade out of the
  primary interface (the kernel's NAT: no third-party AMI);
- an Auto Scaling group of exactly one in the ENI's subnet (an ENI attaches
  only within its AZ): a failed instance is replaced, the new one re-attaches
  the ENI and egress resumes (about a minute or two without egress).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.iam import Condition, Statement, policy_document, service_trust_policy

AMI_PARAMETER = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64"
NAT_TAG_KEY = "airflow-eks/nat-instance"
ROOT_VOLUME_GIB = 8  # the AL2023 AMI's own snapshot size: the smallest it boots with

_BOOT_SCRIPT = r"""#!/bin/bash
# airflow-eks NAT: runs at every boot (systemd), idempotent.
set -euo pipefail
ENI_ID="@ENI_ID@"
VPC_CIDR="@VPC_CIDR@"
TOKEN=$(curl -sf -X PUT -H "X-aws-ec2-metadata-token-ttl-seconds: 21600" http://169.254.169.254/latest/api/token)
imds() { curl -sf -H "X-aws-ec2-metadata-token: $TOKEN" "http://169.254.169.254/latest/meta-data/$1"; }
ifname_of_mac() { for d in /sys/class/net/*; do [ "$(cat "$d/address")" = "$1" ] && basename "$d"; done; true; }
INSTANCE_ID=$(imds instance-id)
REGION=$(imds placement/region)
PUBLIC_IF=$(ifname_of_mac "$(imds mac)")

# Replies to the private subnets leave through the primary interface with the
# Internet's source address: its source/destination check must be off. (A
# launch template's network interface cannot set this attribute.)
aws ec2 modify-instance-attribute --region "$REGION" --instance-id "$INSTANCE_ID" --no-source-dest-check

# The fixed ENI the private route tables point at; it is free once the
# instance it was on has terminated.
eni_mac() { for m in $(imds network/interfaces/macs/); do
  [ "$(imds "network/interfaces/macs/${m%/}/interface-id")" = "$ENI_ID" ] && echo "${m%/}"; done; true; }
until [ -n "$(eni_mac)" ]; do
  aws ec2 attach-network-interface --region "$REGION" --instance-id "$INSTANCE_ID" \
    --network-interface-id "$ENI_ID" --device-index 1 || sleep 5
  sleep 2
done

sysctl -q -w net.ipv4.ip_forward=1
for f in /proc/sys/net/ipv4/conf/*/rp_filter; do echo 0 > "$f"; done
nft -f - <<NFT
table ip airflow_eks_nat
delete table ip airflow_eks_nat
table ip airflow_eks_nat {
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "$PUBLIC_IF" ip saddr $VPC_CIDR ip daddr != $VPC_CIDR masquerade
  }
}
NFT
"""

_USER_DATA = """#!/bin/bash
set -euo pipefail
dnf install -y nftables
install -m 0755 /dev/stdin /usr/local/sbin/airflow-eks-nat <<'SCRIPT'
@BOOT_SCRIPT@SCRIPT
cat > /etc/systemd/system/airflow-eks-nat.service <<'UNIT'
[Unit]
Description=airflow-eks NAT (forwarding, masquerade, fixed ENI)
After=network-online.target
Wants=network-online.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/airflow-eks-nat

[Install]
WantedBy=multi-user.target
UNIT
systemctl daemon-reload
systemctl enable --now airflow-eks-nat.service
"""


def user_data(eni_id: str, vpc_cidr: str) -> str:
    """The instance's cloud-init user data (plain text)."""
    script = _BOOT_SCRIPT.replace("@ENI_ID@", eni_id).replace("@VPC_CIDR@", vpc_cidr)
    return _USER_DATA.replace("@BOOT_SCRIPT@", script)


@dataclass(frozen=True, kw_only=True)
class NatInstanceArgs:
    """Inputs of :class:`NatInstance`."""

    vpc_id: pulumi.Input[str]
    """VPC of the instance."""
    vpc_cidr: str
    """CIDR of the VPC: who may send through the NAT, and what is not masqueraded."""
    subnet_id: pulumi.Input[str]
    """Public subnet of the fixed ENI and of the instance (one AZ)."""
    private_route_table_ids: Sequence[tuple[str, pulumi.Input[str]]]
    """(stable name, route table id) of each private subnet's route table."""
    instance_type: str
    """Graviton instance type."""
    region: str
    """AWS region (ARNs of the instance role's policy)."""
    account_id: pulumi.Input[str]
    """This account (ARNs of the instance role's policy)."""
    partition: pulumi.Input[str]
    """AWS partition (ARNs of the instance role's policy)."""


class NatInstance(pulumi.ComponentResource):
    """A self-replacing NAT instance behind a fixed ENI."""

    network_interface_id: pulumi.Output[str]
    """The fixed ENI the private route tables point at."""
    ready: pulumi.Output[bool]
    """Resolves once the routes exist and the instance is in service (egress is up)."""

    def __init__(self, name: str, args: NatInstanceArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("airflow-eks:index:NatInstance", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        partition, region, account = args.partition, args.region, args.account_id
        tags = {NAT_TAG_KEY: name}

        sg = aws.ec2.SecurityGroup(
            f"{name}-sg",
            vpc_id=args.vpc_id,
            description="NAT instance: any traffic from the VPC, egress anywhere",
            ingress=[aws.ec2.SecurityGroupIngressArgs(
                protocol="-1", from_port=0, to_port=0, cidr_blocks=[args.vpc_cidr],
                description="traffic to NAT from the VPC")],
            egress=[aws.ec2.SecurityGroupEgressArgs(
                protocol="-1", from_port=0, to_port=0, cidr_blocks=["0.0.0.0/0"],
                description="NATed traffic to the Internet")],
            opts=child,
        )
        eni = aws.ec2.NetworkInterface(
            f"{name}-eni",
            subnet_id=args.subnet_id,
            security_groups=[sg.id],
            # It forwards packets that are neither from nor to itself.
            source_dest_check=False,
            description="airflow-eks NAT: the private route tables' default route",
            tags=tags,
            opts=child,
        )
        routes = []
        for route_name, route_table_id in args.private_route_table_ids:
            routes.append(aws.ec2.Route(
                f"{name}-route-{route_name}",
                route_table_id=route_table_id,
                destination_cidr_block="0.0.0.0/0",
                network_interface_id=eni.id,
                opts=child,
            ))

        role = aws.iam.Role(f"{name}-role", opts=child, assume_role_policy=service_trust_policy(
            "ec2.amazonaws.com", parent=self))
        instances = pulumi.Output.concat("arn:", partition, ":ec2:", region, ":", account, ":instance/*")
        own_instance = Condition(test="StringEquals", variable=f"ec2:ResourceTag/{NAT_TAG_KEY}",
                                 values=[name])
        boot = policy_document([
            Statement(sid="AttachTheFixedEni", actions=["ec2:AttachNetworkInterface"],
                      resources=[eni.arn]),
            Statement(sid="OnlyThisNatsInstances",
                      actions=["ec2:AttachNetworkInterface", "ec2:ModifyInstanceAttribute"],
                      resources=[instances], conditions=[own_instance]),
        ], parent=self)
        aws.iam.RolePolicy(f"{name}-boot", role=role.id, policy=boot.json, opts=child)
        profile = aws.iam.InstanceProfile(f"{name}-profile", role=role.name, opts=child)

        template = aws.ec2.LaunchTemplate(
            f"{name}-lt",
            description="airflow-eks NAT instance: AL2023 arm64, kernel NAT",
            image_id=f"resolve:ssm:{AMI_PARAMETER}",
            instance_type=args.instance_type,
            iam_instance_profile=aws.ec2.LaunchTemplateIamInstanceProfileArgs(arn=profile.arn),
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                http_endpoint="enabled", http_tokens="required", http_put_response_hop_limit=1),
            network_interfaces=[aws.ec2.LaunchTemplateNetworkInterfaceArgs(
                device_index=0, associate_public_ip_address="true",
                security_groups=[sg.id], delete_on_termination="true")],
            block_device_mappings=[aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                device_name="/dev/xvda",
                ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                    volume_size=ROOT_VOLUME_GIB, volume_type="gp3",
                    encrypted="true", delete_on_termination="true"),
            )],
            # Unlimited (the T4g default) bills surplus credits under sustained load.
            credit_specification=aws.ec2.LaunchTemplateCreditSpecificationArgs(cpu_credits="standard"),
            tag_specifications=[aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type=kind, tags=tags)
                                for kind in ("instance", "volume", "network-interface")],
            user_data=eni.id.apply(lambda eni_id: base64.b64encode(
                user_data(eni_id, args.vpc_cidr).encode()).decode()),
            update_default_version=True,
            opts=child,
        )
        group = aws.autoscaling.Group(
            f"{name}-asg",
            min_size=1, max_size=1, desired_capacity=1,
            vpc_zone_identifiers=[args.subnet_id],
            launch_template=aws.autoscaling.GroupLaunchTemplateArgs(
                id=template.id, version=template.latest_version.apply(str)),
            health_check_type="EC2",
            health_check_grace_period=120,
            # One instance and one ENI: the old instance must go before the new
            # one can attach it, so replacement runs at 0% healthy.
            instance_maintenance_policy=aws.autoscaling.GroupInstanceMaintenancePolicyArgs(
                min_healthy_percentage=0, max_healthy_percentage=100),
            instance_refresh=aws.autoscaling.GroupInstanceRefreshArgs(
                strategy="Rolling",
                preferences=aws.autoscaling.GroupInstanceRefreshPreferencesArgs(
                    min_healthy_percentage=0, max_healthy_percentage=100)),
            tags=[aws.autoscaling.GroupTagArgs(key="Name", value=name, propagate_at_launch=True)],
            opts=child,
        )

        self.network_interface_id = eni.id
        # Resolves once the routes exist and the group has its instance in
        # service (the ASG waits for capacity): egress is up.
        self.ready = pulumi.Output.all(group.id, *(r.id for r in routes)).apply(lambda _: True)
        self.register_outputs({"networkInterfaceId": self.network_interface_id})
