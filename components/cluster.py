"""Cluster: the EKS control plane, its nodes and its managed add-ons.

Creates:
- an EKS cluster (pulumi-eks) with a pinned Kubernetes version, the IAM OIDC
  provider, all five control-plane log types into a KMS-encrypted log group,
  Kubernetes secrets envelope-encrypted with the stack's rotating KMS key,
  private endpoint access, and public access limited to the configured CIDRs;
- managed add-ons coredns, kube-proxy (through pulumi-eks), the VPC CNI with
  network policies and the EBS CSI driver, each of these two with its own IRSA
  role, plus an encrypted gp3 default StorageClass;
- a node IAM role (worker and ECR read-only policies, not the CNI policy),
  registered through an EKS access entry;
- two managed node groups in the private subnets, each on its own launch
  template: IMDSv2 required with a hop limit of 1 (pods cannot reach the node
  role), encrypted gp3 root volumes, no public IPs:
  - ``system`` for Airflow's long-running components;
  - ``tasks`` for KubernetesExecutor task pods, labelled and tainted so that
    only task pods land there;
- a Kubernetes provider bound to the cluster, for the releases that follow.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_eks as eks
import pulumi_kubernetes as k8s

from components.config import NodeGroupConfig
from components.iam import service_trust_policy
from components.irsa import IrsaRole, IrsaRoleArgs

CONTROL_PLANE_LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")
NODE_GROUP_LABEL = "airflow-eks/node-group"
TASKS_TAINT_KEY = "airflow-eks/tasks"
EBS_CSI_SERVICE_ACCOUNT = ("kube-system", "ebs-csi-controller-sa")
VPC_CNI_SERVICE_ACCOUNT = ("kube-system", "aws-node")
# Not AmazonEKS_CNI_Policy: with it on the node role, every process on a node
# that reaches IMDS (aws-node runs on the host network, so a hop limit of 1
# does not stop host-network pods) could create and attach ENIs. The VPC CNI
# gets it through its own IRSA role instead.
_NODE_POLICIES = ("AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryReadOnly")


@dataclass(frozen=True, kw_only=True)
class ClusterArgs:
    """Inputs of :class:`Cluster`."""

    cluster_name: str
    """EKS cluster name."""
    kubernetes_version: str
    """Pinned Kubernetes minor version."""
    vpc_id: pulumi.Input[str]
    """VPC of the cluster."""
    private_subnet_ids: pulumi.Input[list[str]]
    """Subnets of the nodes and of the control-plane ENIs."""
    public_subnet_ids: pulumi.Input[list[str]]
    """Subnets for internet-facing load balancers only."""
    public_access_cidrs: tuple[str, ...]
    """CIDRs allowed on the public endpoint; empty disables it."""
    kms_key_arn: pulumi.Input[str]
    """Key for the secrets envelope and the control-plane log group."""
    partition: pulumi.Input[str]
    """AWS partition of the managed policy ARNs."""
    log_retention_days: int
    """Retention of the control-plane log group."""
    system: NodeGroupConfig
    """System node group settings."""
    tasks: NodeGroupConfig
    """Tasks node group settings."""
    protect: bool
    """Production: EKS deletion protection, and protect=True on the cluster and
    its control-plane (audit) log group."""
    system_subnet_ids: pulumi.Input[list[str]] | None = None
    """Subnets of the system node group; None: all private subnets. One zone's
    subnet when a database volume (EBS, one zone) must be mountable by every
    system node (``database.engine: inCluster``)."""


class Cluster(pulumi.ComponentResource):
    """EKS cluster with two managed node groups, add-ons and a Kubernetes provider."""

    cluster_name: pulumi.Output[str]
    """EKS cluster name, known once the cluster exists (dependents wait for it)."""
    kubeconfig: pulumi.Output[str]
    """Kubeconfig of the cluster (secret)."""
    oidc_provider_arn: pulumi.Output[str]
    """ARN of the cluster's IAM OIDC provider, for IRSA trusts."""
    oidc_provider_url: pulumi.Output[str]
    """Issuer URL of the cluster's OIDC provider, for IRSA conditions."""
    node_security_group_id: pulumi.Output[str]
    """The EKS cluster security group the managed nodes use."""
    provider: k8s.Provider
    """Kubernetes provider of the cluster (server-side apply)."""
    ebs_csi_driver: aws.eks.Addon
    """The EBS CSI driver add-on: what provisions PersistentVolumes."""

    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("airflow-eks:index:Cluster", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        protected = pulumi.ResourceOptions(parent=self, protect=args.protect)

        # EKS would create this group itself, with no retention and no encryption.
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-control-plane-logs",
            name=f"/aws/eks/{args.cluster_name}/cluster",
            retention_in_days=args.log_retention_days,
            kms_key_id=args.kms_key_arn,
            opts=protected,
        )

        def aws_managed_policy(path: str) -> pulumi.Output[str]:
            return pulumi.Output.concat("arn:", args.partition, ":iam::aws:policy/", path)

        node_role = aws.iam.Role(f"{name}-node-role", opts=child, assume_role_policy=service_trust_policy(
            "ec2.amazonaws.com", parent=self))
        for policy in _NODE_POLICIES:
            aws.iam.RolePolicyAttachment(
                f"{name}-node-{policy}", role=node_role.name,
                policy_arn=aws_managed_policy(policy),
                opts=child)

        cluster = eks.Cluster(
            f"{name}-eks",
            name=args.cluster_name,
            version=args.kubernetes_version,
            vpc_id=args.vpc_id,
            private_subnet_ids=args.private_subnet_ids,
            public_subnet_ids=args.public_subnet_ids,
            node_associate_public_ip_address=False,
            skip_default_node_group=True,
            # Managed nodes then use the EKS-created cluster security group,
            # which is what cluster_security_group_id returns.
            skip_default_security_groups=True,
            authentication_mode=eks.AuthenticationMode.API,
            instance_roles=[node_role],
            create_oidc_provider=True,
            endpoint_private_access=True,
            endpoint_public_access=bool(args.public_access_cidrs),
            public_access_cidrs=list(args.public_access_cidrs) or None,
            enabled_cluster_log_types=list(CONTROL_PLANE_LOG_TYPES),
            encryption_config_key_arn=args.kms_key_arn,
            deletion_protection=args.protect,
            # The VPC CNI add-on is created below, with its IRSA role; inside
            # eks.Cluster it could not be given one, as the role needs the
            # OIDC provider that eks.Cluster creates.
            use_default_vpc_cni=True,
            coredns_addon_options=eks.CoreDnsAddonOptionsArgs(enabled=True),
            kube_proxy_addon_options=eks.KubeProxyAddonOptionsArgs(enabled=True),
            storage_classes={"gp3": eks.StorageClassArgs(
                type="gp3", default=True, encrypted=True, allow_volume_expansion=True,
                volume_binding_mode="WaitForFirstConsumer")},
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect, depends_on=[log_group]),
        )
        cluster_name = pulumi.Output.from_input(cluster.kubeconfig_json).apply(
            lambda _: args.cluster_name)

        def addon_role(suffix: str, service_account: tuple[str, str], aws_policy: str) -> IrsaRole:
            """An add-on's IRSA role with the managed policy AWS maintains for it."""
            return IrsaRole(f"{name}-{suffix}", IrsaRoleArgs(
                oidc_provider_arn=cluster.oidc_provider_arn,
                oidc_provider_url=cluster.oidc_provider_url,
                namespace=service_account[0],
                service_account=service_account[1],
                managed_policies={aws_policy.rsplit("/", 1)[-1]: aws_managed_policy(aws_policy)},
            ), opts=child)

        cni_role = addon_role("vpc-cni", VPC_CNI_SERVICE_ACCOUNT, "AmazonEKS_CNI_Policy")
        # Takes over the aws-node DaemonSet EKS bootstraps (OVERWRITE), before
        # any node exists: nodes start with a CNI that has its role, and the
        # node role needs no ENI permissions (terraform-aws-eks' before_compute).
        vpc_cni = eks.VpcCniAddon(
            f"{name}-vpc-cni",
            cluster_name=cluster_name,
            cluster_version=args.kubernetes_version,
            service_account_role_arn=cni_role.arn,
            enable_network_policy=True,
            resolve_conflicts_on_create=eks.ResolveConflictsOnCreate.OVERWRITE,
            resolve_conflicts_on_update=eks.ResolveConflictsOnUpdate.OVERWRITE,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[cluster, cni_role]),
        )

        node_groups = [
            self._node_group(name, "system", args.system, cluster, node_role,
                             args.system_subnet_ids if args.system_subnet_ids is not None
                             else args.private_subnet_ids, taint=False, after=[vpc_cni]),
            self._node_group(name, "tasks", args.tasks, cluster, node_role,
                             args.private_subnet_ids, taint=True, after=[vpc_cni]),
        ]

        # The EBS CSI policy's write actions are conditioned on the ebs.csi.aws.com tags.
        ebs_role = addon_role("ebs-csi", EBS_CSI_SERVICE_ACCOUNT, "service-role/AmazonEBSCSIDriverPolicy")
        self.ebs_csi_driver = aws.eks.Addon(
            f"{name}-ebs-csi",
            cluster_name=args.cluster_name,
            addon_name="aws-ebs-csi-driver",
            service_account_role_arn=ebs_role.arn,
            resolve_conflicts_on_create="OVERWRITE",
            resolve_conflicts_on_update="OVERWRITE",
            # Its controller needs nodes to become ACTIVE.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[cluster, *node_groups]),
        )

        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=cluster.kubeconfig_json,
            enable_server_side_apply=True,
            opts=child,
        )
        self.cluster_name = cluster_name
        self.kubeconfig = pulumi.Output.secret(cluster.kubeconfig_json)
        self.oidc_provider_arn = cluster.oidc_provider_arn
        self.oidc_provider_url = cluster.oidc_provider_url
        self.node_security_group_id = cluster.cluster_security_group_id
        self.register_outputs({
            "clusterName": self.cluster_name,
            "kubeconfig": self.kubeconfig,
            "oidcProviderArn": self.oidc_provider_arn,
            "oidcProviderUrl": self.oidc_provider_url,
            "nodeSecurityGroupId": self.node_security_group_id,
        })

    def _node_group(self, name: str, group: str, cfg: NodeGroupConfig, cluster: eks.Cluster,
                    node_role: aws.iam.Role, subnet_ids: pulumi.Input[list[str]],
                    *, taint: bool, after: list[pulumi.Resource]) -> eks.ManagedNodeGroup:
        child = pulumi.ResourceOptions(parent=self)
        template = aws.ec2.LaunchTemplate(
            f"{name}-{group}-lt",
            description=f"airflow-eks {group} nodes: IMDSv2 with hop limit 1, encrypted root",
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                http_endpoint="enabled",
                http_tokens="required",
                # 1, not pulumi-eks' 2: a pod's extra network hop cannot reach IMDS.
                http_put_response_hop_limit=1,
            ),
            block_device_mappings=[aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                device_name="/dev/xvda",
                ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                    volume_size=cfg.disk_size_gib, volume_type="gp3",
                    encrypted="true", delete_on_termination="true"),
            )],
            update_default_version=True,
            opts=child,
        )
        return eks.ManagedNodeGroup(
            f"{name}-{group}",
            cluster=cluster,
            node_role=node_role,
            subnet_ids=subnet_ids,
            ami_type="AL2023_ARM_64_STANDARD" if cfg.arm64 else "AL2023_x86_64_STANDARD",
            instance_types=list(cfg.instance_types),
            capacity_type=cfg.capacity_type,
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                min_size=cfg.min_size, max_size=cfg.max_size, desired_size=cfg.desired_size),
            # The Cluster Autoscaler owns the desired size; a second `pulumi up`
            # must not reset it.
            ignore_scaling_changes=True,
            labels={NODE_GROUP_LABEL: group},
            taints=[aws.eks.NodeGroupTaintArgs(key=TASKS_TAINT_KEY, value="true",
                                               effect="NO_SCHEDULE")] if taint else [],
            launch_template=aws.eks.NodeGroupLaunchTemplateArgs(
                id=template.id, version=template.latest_version.apply(str)),
            opts=pulumi.ResourceOptions(parent=self, depends_on=after),
        )
