"""ClusterAutoscaler: node autoscaling for the managed node groups.

Creates an IRSA role and a Helm release of the Kubernetes Cluster Autoscaler,
which discovers the node groups through the tags EKS puts on their
Auto Scaling groups. Pending task pods bring task nodes up (from zero, as the
autoscaler reads the group's labels and taints through eks:DescribeNodegroup),
and idle task nodes go back to the floor after ``scale-down-unneeded-time``.

Why the Cluster Autoscaler rather than Karpenter: the platform's node groups
are EKS managed node groups with explicit floors and ceilings, which the
autoscaler drives directly; Karpenter would replace them with its own
NodePools, an interruption queue and EventBridge rules, for savings that an
idle-at-zero task group does not need. See README, "Autoscaling".
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.helm import pinned_release
from components.iam import Condition, Statement
from components.irsa import IrsaRole, IrsaRoleArgs

CHART = "cluster-autoscaler"
CHART_REPO = "https://kubernetes.github.io/autoscaler"
# Pinned chart; the image is pinned separately to the cluster's minor version,
# as the autoscaler supports only its own Kubernetes minor.
CHART_VERSION = "9.46.6"
IMAGE_TAGS = {"1.35": "v1.35.0", "1.36": "v1.36.0"}
NAMESPACE = "kube-system"
SERVICE_ACCOUNT = "cluster-autoscaler"


@dataclass(frozen=True, kw_only=True)
class ClusterAutoscalerArgs:
    """Inputs of :class:`ClusterAutoscaler`."""

    cluster_name: pulumi.Input[str]
    """EKS cluster name (auto-discovery tag)."""
    kubernetes_version: str
    """Cluster minor version; selects the image tag."""
    region: str
    """AWS region."""
    account_id: pulumi.Input[str]
    """This account (ARNs of the role's policy)."""
    partition: pulumi.Input[str]
    """AWS partition (ARNs of the role's policy)."""
    oidc_provider_arn: pulumi.Input[str]
    """Cluster OIDC provider ARN, for IRSA."""
    oidc_provider_url: pulumi.Input[str]
    """Cluster OIDC issuer URL, for IRSA."""
    provider: k8s.Provider
    """Kubernetes provider of the cluster."""
    node_selector: dict[str, str]
    """Where the autoscaler itself runs (the system node group)."""


class ClusterAutoscaler(pulumi.ComponentResource):
    """Cluster Autoscaler with least-privilege IRSA."""

    role_arn: pulumi.Output[str]
    """ARN of the autoscaler's IRSA role."""

    def __init__(self, name: str, args: ClusterAutoscalerArgs,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("airflow-eks:index:ClusterAutoscaler", name, None, opts)
        account, partition = args.account_id, args.partition
        cluster = pulumi.Output.from_input(args.cluster_name)
        # Managed node groups' Auto Scaling groups are named eks-<nodegroup>-<uuid>.
        asgs = pulumi.Output.concat("arn:", partition, ":autoscaling:", args.region, ":", account,
                                    ":autoScalingGroup:*:autoScalingGroupName/eks-*")
        nodegroups = pulumi.Output.concat("arn:", partition, ":eks:", args.region, ":", account,
                                          ":nodegroup/", cluster, "/*/*")

        role = IrsaRole(f"{name}-irsa", IrsaRoleArgs(
            oidc_provider_arn=args.oidc_provider_arn,
            oidc_provider_url=args.oidc_provider_url,
            namespace=NAMESPACE,
            service_account=SERVICE_ACCOUNT,
            statements=[
                # Describe/Get calls have no resource-level permissions in IAM;
                # "*" is the only resource they accept, and they are read-only.
                Statement(sid="DescribeScalingState",
                          actions=["autoscaling:DescribeAutoScalingGroups",
                                   "autoscaling:DescribeAutoScalingInstances",
                                   "autoscaling:DescribeLaunchConfigurations",
                                   "autoscaling:DescribeScalingActivities",
                                   "autoscaling:DescribeTags",
                                   "ec2:DescribeImages",
                                   "ec2:DescribeInstanceTypes",
                                   "ec2:DescribeLaunchTemplateVersions",
                                   "ec2:GetInstanceTypesFromInstanceRequirements"],
                          resources=["*"]),
                Statement(sid="DescribeNodegroups", actions=["eks:DescribeNodegroup"],
                          resources=[nodegroups]),
                Statement(sid="ScaleOwnNodeGroups",
                          actions=["autoscaling:SetDesiredCapacity",
                                   "autoscaling:TerminateInstanceInAutoScalingGroup"],
                          resources=[asgs],
                          conditions=[Condition(
                              test="StringEquals",
                              variable=cluster.apply(
                                  lambda c: f"aws:ResourceTag/k8s.io/cluster-autoscaler/{c}"),
                              values=["owned"])]),
            ],
        ), opts=pulumi.ResourceOptions(parent=self))

        values = {
            "autoDiscovery": {"clusterName": args.cluster_name},
            "awsRegion": args.region,
            "image": {"tag": IMAGE_TAGS[args.kubernetes_version]},
            "rbac": {"serviceAccount": {
                "create": True, "name": SERVICE_ACCOUNT,
                "annotations": {"eks.amazonaws.com/role-arn": role.arn}}},
            "extraArgs": {
                "balance-similar-node-groups": True,
                "expander": "least-waste",
                "skip-nodes-with-system-pods": False,
                "scale-down-unneeded-time": "5m",
                "scale-down-delay-after-add": "5m",
            },
            "nodeSelector": args.node_selector,
            "resources": {"requests": {"cpu": "50m", "memory": "128Mi"},
                          "limits": {"memory": "512Mi"}},
            "securityContext": {"runAsNonRoot": True, "runAsUser": 65534,
                                "seccompProfile": {"type": "RuntimeDefault"}},
            "containerSecurityContext": {"allowPrivilegeEscalation": False,
                                         "readOnlyRootFilesystem": True,
                                         "capabilities": {"drop": ["ALL"]}},
        }
        pinned_release(f"{name}-release", chart=CHART, version=CHART_VERSION, repo=CHART_REPO,
                       namespace=NAMESPACE, values=values, timeout=600,
                       provider=args.provider, parent=self)
        self.role_arn = role.arn
        self.register_outputs({"roleArn": self.role_arn})
