"""Network: the VPC that everything else runs in.

Creates, through pulumi-awsx:
- a VPC with one public and one private subnet per availability zone, tagged
  for the AWS Load Balancer Controller (``kubernetes.io/role/elb`` and
  ``kubernetes.io/role/internal-elb``);
- one NAT gateway, or one per AZ, or none when a NAT instance serves the
  private subnets (``NatInstance``, a child: components/nat_instance.py, with
  the private route tables' default routes);
and directly:
- VPC flow logs (all traffic) to a KMS-encrypted CloudWatch log group;
- the VPC's default security group, stripped of every rule.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_awsx as awsx

from components.iam import Statement, policy_document, service_trust_policy
from components.nat_instance import NatInstance, NatInstanceArgs


@dataclass(frozen=True, kw_only=True)
class NetworkArgs:
    """Inputs of :class:`Network`."""

    cidr: str
    """IPv4 CIDR of the VPC (/16 to /20)."""
    availability_zones: tuple[str, ...]
    """AZ names, 2 to 4."""
    one_nat_per_az: bool
    """One NAT gateway per AZ (HA) instead of a single one (cheapest)."""
    cluster_name: str
    """EKS cluster name, for the ``kubernetes.io/cluster/<name>`` subnet tag."""
    flow_log_group_name: str
    """Name of the flow-log group (under the stack's prefix, which the key policy names)."""
    flow_log_retention_days: int
    """Retention of the flow-log group."""
    kms_key_arn: pulumi.Input[str]
    """Key that encrypts the flow-log group."""
    account_id: pulumi.Input[str]
    """This account: the flow-log service may assume the role only for its VPCs."""
    region: str
    """AWS region (a NAT instance's role names its instances' ARNs)."""
    partition: pulumi.Input[str]
    """AWS partition (likewise)."""
    protect: bool
    """Production: the flow-log group cannot be deleted by `pulumi up`/`destroy`."""
    nat_instance_type: str | None = None
    """A NAT instance of this (Graviton) type instead of NAT gateways; None for gateways."""


def subnet_masks(cidr: str) -> tuple[int, int]:
    """(private, public) netmasks: big private subnets, because the VPC CNI gives
    every pod a VPC address; small public ones, that hold only NAT gateways and
    load balancers. Both fit in the per-AZ block awsx carves for up to 4 AZs."""
    prefix = ipaddress.ip_network(cidr).prefixlen
    return prefix + 3, min(prefix + 8, 28)


class Network(pulumi.ComponentResource):
    """VPC, subnets, NAT, flow logs and a locked-down default security group."""

    vpc_id: pulumi.Output[str]
    """ID of the VPC."""
    private_subnet_ids: pulumi.Output[list[str]]
    """Private subnets, known once their egress (NAT) is up."""
    public_subnet_ids: pulumi.Output[list[str]]
    """Public subnets (load balancers, NAT)."""

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("airflow-eks:index:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        private_mask, public_mask = subnet_masks(args.cidr)
        cluster_tag = {f"kubernetes.io/cluster/{args.cluster_name}": "shared"}

        vpc = awsx.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=args.cidr,
            availability_zone_names=list(args.availability_zones),
            enable_dns_hostnames=True,
            enable_dns_support=True,
            subnet_strategy=awsx.ec2.SubnetAllocationStrategy.AUTO,
            subnet_specs=[
                awsx.ec2.SubnetSpecArgs(type=awsx.ec2.SubnetType.PRIVATE, cidr_mask=private_mask,
                                        tags={**cluster_tag, "kubernetes.io/role/internal-elb": "1"}),
                awsx.ec2.SubnetSpecArgs(type=awsx.ec2.SubnetType.PUBLIC, cidr_mask=public_mask,
                                        tags={**cluster_tag, "kubernetes.io/role/elb": "1"}),
            ],
            nat_gateways=awsx.ec2.NatGatewayConfigurationArgs(strategy=_nat_strategy(args)),
            opts=child,
        )
        egress_ready: pulumi.Input[bool] = True
        if args.nat_instance_type is not None:
            egress_ready = self._nat_instance(name, args, args.nat_instance_type, vpc).ready

        # Rules on the default SG would apply to anything launched without an
        # explicit group; declaring it with no ingress/egress removes them all.
        aws.ec2.DefaultSecurityGroup(f"{name}-default-sg", vpc_id=vpc.vpc_id,
                                     ingress=[], egress=[], opts=child)

        log_group = aws.cloudwatch.LogGroup(
            f"{name}-flow-logs",
            name=args.flow_log_group_name,
            retention_in_days=args.flow_log_retention_days,
            kms_key_id=args.kms_key_arn,
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        )
        role = aws.iam.Role(f"{name}-flow-logs-role", opts=child, assume_role_policy=service_trust_policy(
            "vpc-flow-logs.amazonaws.com", source_account=args.account_id, parent=self))
        write = policy_document([Statement(
            actions=["logs:CreateLogStream", "logs:PutLogEvents",
                     "logs:DescribeLogStreams"],
            resources=[log_group.arn, pulumi.Output.concat(log_group.arn, ":*")],
        )], parent=self)
        aws.iam.RolePolicy(f"{name}-flow-logs-policy", role=role.id, policy=write.json, opts=child)
        aws.ec2.FlowLog(
            f"{name}-flow-log",
            vpc_id=vpc.vpc_id,
            traffic_type="ALL",
            log_destination_type="cloud-watch-logs",
            log_destination=log_group.arn,
            iam_role_arn=role.arn,
            max_aggregation_interval=600,
            opts=child,
        )

        self.vpc_id = vpc.vpc_id
        # Whatever lands in the private subnets (nodes that pull images at
        # boot) waits for their egress: with a NAT instance, its routes and
        # instance are outside awsx's component.
        self.private_subnet_ids = pulumi.Output.all(vpc.private_subnet_ids, egress_ready).apply(
            lambda a: list(a[0]))
        self.public_subnet_ids = vpc.public_subnet_ids.apply(list)
        self.register_outputs({
            "vpcId": self.vpc_id,
            "privateSubnetIds": self.private_subnet_ids,
            "publicSubnetIds": self.public_subnet_ids,
        })

    # ------------------------------------------------ NAT instance (issue 19)

    def _nat_instance(self, name: str, args: NetworkArgs, instance_type: str,
                      vpc: awsx.ec2.Vpc) -> NatInstance:
        """The private route tables (awsx gives each private subnet its own, with
        no default route under strategy None), looked up by subnet once awsx
        has built them all, and the NAT instance that their default routes use."""
        # A remote component resolves only after all its children exist, so
        # the route table associations are there when the lookup runs.
        lookup = pulumi.InvokeOutputOptions(parent=self, depends_on=[vpc])
        tables = [(az, aws.ec2.get_route_table_output(
                       subnet_id=vpc.private_subnet_ids.apply(lambda ids, i=i: ids[i]),
                       opts=lookup).route_table_id)
                  for i, az in enumerate(args.availability_zones)]
        return NatInstance(f"{name}-nat", NatInstanceArgs(
            vpc_id=vpc.vpc_id,
            vpc_cidr=args.cidr,
            # The first AZ's public subnet: the instance and its fixed ENI share one AZ.
            subnet_id=vpc.public_subnet_ids.apply(lambda ids: ids[0]),
            private_route_table_ids=tables,
            instance_type=instance_type,
            region=args.region,
            account_id=args.account_id,
            partition=args.partition,
        ), opts=pulumi.ResourceOptions(parent=self))


def _nat_strategy(args: NetworkArgs) -> awsx.ec2.NatGatewayStrategy:
    if args.nat_instance_type is not None:
        return awsx.ec2.NatGatewayStrategy.NONE  # routes: NatInstance
    if args.one_nat_per_az:
        return awsx.ec2.NatGatewayStrategy.ONE_PER_AZ
    return awsx.ec2.NatGatewayStrategy.SINGLE
