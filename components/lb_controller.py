"""LoadBalancerController: the AWS Load Balancer Controller, which turns the
Airflow API server's Ingress into an Application Load Balancer.

Creates an IRSA role for the controller's service account and a Helm release
of its official chart (``aws/eks-charts``, pinned), on the system nodes.

The role starts from the policy the controller documents for this release
(``docs/install/iam_policy.json`` at v3.5.0) and narrows it:

- every ARN is this account and region, and only Application Load Balancers
  (``loadbalancer/app``), not NLBs;
- where the documented policy accepts any controller-owned resource
  (``Null`` on the ``elbv2.k8s.aws/cluster`` tag), this role requires the tag
  to name *this* cluster: on creation (``aws:RequestTag``) and afterwards
  (``aws:ResourceTag``), and it may never re-tag that key;
- security-group rules only on groups of this VPC (``ec2:Vpc``), security
  groups created only in this VPC;
- no WAF, Shield or Cognito permissions: the chart is told not to use them
  (``enableWaf``, ``enableWafv2``, ``enableShield`` false).

Write actions the documentation grants on ``"*"`` without a tag condition
(listeners and rules) are limited to this account's and region's ALB
listener ARNs. The only ``"*"`` resources left are read calls (Describe,
ListCertificates, GetSecurityGroupsForVpc, GetCoipPoolUsage), which IAM
cannot scope.

The service mutator webhook is off (the platform creates no Service of type
LoadBalancer): with it on, every Service creation in the cluster fails while
the controller is not ready.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.helm import pinned_release
from components.iam import Condition, Statement, StatementArgs
from components.irsa import IrsaRole, IrsaRoleArgs

CHART = "aws-load-balancer-controller"
CHART_REPO = "https://aws.github.io/eks-charts"
# Chart 3.5.0 ships controller v3.5.0 (the chart's appVersion and image tag).
CHART_VERSION = "3.5.0"
NAMESPACE = "kube-system"
SERVICE_ACCOUNT = "aws-load-balancer-controller"
# The tag the controller puts on everything it creates, valued with the cluster name.
CLUSTER_TAG = "elbv2.k8s.aws/cluster"
# TLS 1.3 and 1.2 only (ELB's predefined policy).
SSL_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"

# Read calls of the documented policy: IAM has no resource-level permissions for them.
READ_ACTIONS = [
    "ec2:DescribeAccountAttributes", "ec2:DescribeAddresses", "ec2:DescribeAvailabilityZones",
    "ec2:DescribeInternetGateways", "ec2:DescribeVpcs", "ec2:DescribeVpcPeeringConnections",
    "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups", "ec2:DescribeInstances",
    "ec2:DescribeNetworkInterfaces", "ec2:DescribeTags", "ec2:GetCoipPoolUsage",
    "ec2:DescribeCoipPools", "ec2:GetSecurityGroupsForVpc", "ec2:DescribeIpamPools",
    "ec2:DescribeRouteTables",
    "elasticloadbalancing:DescribeLoadBalancers", "elasticloadbalancing:DescribeLoadBalancerAttributes",
    "elasticloadbalancing:DescribeListeners", "elasticloadbalancing:DescribeListenerCertificates",
    "elasticloadbalancing:DescribeSSLPolicies", "elasticloadbalancing:DescribeRules",
    "elasticloadbalancing:DescribeTargetGroups", "elasticloadbalancing:DescribeTargetGroupAttributes",
    "elasticloadbalancing:DescribeTargetHealth", "elasticloadbalancing:DescribeTags",
    "elasticloadbalancing:DescribeTrustStores", "elasticloadbalancing:DescribeListenerAttributes",
    "elasticloadbalancing:DescribeCapacityReservation",
    "acm:ListCertificates",
]


@dataclass(frozen=True, kw_only=True)
class LoadBalancerControllerArgs:
    """Inputs of :class:`LoadBalancerController`."""

    cluster_name: pulumi.Input[str]
    """EKS cluster name: the controller's ``clusterName`` and the value of its ownership tag."""
    region: str
    """AWS region (passed to the controller: pods cannot reach IMDS, hop limit 1)."""
    account_id: pulumi.Input[str]
    """This account (ARNs of the role's policy)."""
    partition: pulumi.Input[str]
    """AWS partition (ARNs of the role's policy)."""
    vpc_id: pulumi.Input[str]
    """The cluster's VPC (passed to the controller, and the only VPC its role may touch)."""
    oidc_provider_arn: pulumi.Input[str]
    """Cluster OIDC provider ARN, for IRSA."""
    oidc_provider_url: pulumi.Input[str]
    """Cluster OIDC issuer URL, for IRSA."""
    provider: k8s.Provider
    """Kubernetes provider of the cluster."""
    node_selector: dict[str, str]
    """Where the controller runs (the system node group)."""
    replicas: int = 2
    """Controller replicas (one leader, the others standby for the webhooks)."""


def controller_statements(*, partition: pulumi.Input[str], region: str, account: pulumi.Input[str],
                          cluster_name: pulumi.Input[str],
                          vpc_id: pulumi.Input[str]) -> list[pulumi.Output[StatementArgs]]:
    """The controller's permissions, narrowed to this cluster, VPC, account and region."""
    def arn(service: str, resource: str) -> pulumi.Output[str]:
        return pulumi.Output.concat("arn:", partition, f":{service}:{region}:", account, ":", resource)

    cluster = pulumi.Output.from_input(cluster_name)
    vpc = pulumi.Output.concat("arn:", partition, f":ec2:{region}:", account, ":vpc/", vpc_id)
    security_groups = arn("ec2", "security-group/*")
    load_balancers = arn("elasticloadbalancing", "loadbalancer/app/*/*")
    target_groups = arn("elasticloadbalancing", "targetgroup/*/*")
    listeners = arn("elasticloadbalancing", "listener/app/*/*/*")
    rules = arn("elasticloadbalancing", "listener-rule/app/*/*/*")

    def owned(kind: str) -> pulumi.Output:
        """StringEquals aws:<kind>Tag/elbv2.k8s.aws/cluster = this cluster."""
        return Condition(test="StringEquals", variable=f"aws:{kind}Tag/{CLUSTER_TAG}", values=[cluster])

    keeps_owner = Condition(test="Null", variable=f"aws:RequestTag/{CLUSTER_TAG}", values=["true"])

    return [
        Statement(sid="CreateElbServiceLinkedRole", actions=["iam:CreateServiceLinkedRole"],
                  resources=[pulumi.Output.concat(
                      "arn:", partition, ":iam::", account,
                      ":role/aws-service-role/elasticloadbalancing.amazonaws.com/"
                      "AWSServiceRoleForElasticLoadBalancing")],
                  conditions=[Condition(test="StringEquals", variable="iam:AWSServiceName",
                                        values=["elasticloadbalancing.amazonaws.com"])]),
        Statement(sid="Read", actions=READ_ACTIONS, resources=["*"]),
        Statement(sid="ReadCertificates", actions=["acm:DescribeCertificate"],
                  resources=[arn("acm", "certificate/*")]),
        # Rules on the ALB's own groups and on the nodes' groups (backend traffic).
        Statement(sid="SecurityGroupRulesInThisVpc",
                  actions=["ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress"],
                  resources=[security_groups],
                  conditions=[Condition(test="ArnEquals", variable="ec2:Vpc", values=[vpc])]),
        Statement(sid="CreateSecurityGroupsInThisVpc", actions=["ec2:CreateSecurityGroup"],
                  resources=[vpc]),
        Statement(sid="CreateOwnedSecurityGroups", actions=["ec2:CreateSecurityGroup"],
                  resources=[security_groups], conditions=[owned("Request")]),
        Statement(sid="TagSecurityGroupsOnCreate", actions=["ec2:CreateTags"],
                  resources=[security_groups],
                  conditions=[Condition(test="StringEquals", variable="ec2:CreateAction",
                                        values=["CreateSecurityGroup"]),
                              owned("Request")]),
        Statement(sid="RetagOwnedSecurityGroups", actions=["ec2:CreateTags", "ec2:DeleteTags"],
                  resources=[security_groups], conditions=[owned("Resource"), keeps_owner]),
        Statement(sid="DeleteOwnedSecurityGroups", actions=["ec2:DeleteSecurityGroup"],
                  resources=[security_groups], conditions=[owned("Resource")]),
        Statement(sid="CreateOwnedLoadBalancers",
                  actions=["elasticloadbalancing:CreateLoadBalancer",
                           "elasticloadbalancing:CreateTargetGroup"],
                  resources=[load_balancers, target_groups], conditions=[owned("Request")]),
        Statement(sid="TagLoadBalancersOnCreate", actions=["elasticloadbalancing:AddTags"],
                  resources=[load_balancers, target_groups],
                  conditions=[Condition(test="StringEquals", variable="elasticloadbalancing:CreateAction",
                                        values=["CreateTargetGroup", "CreateLoadBalancer"]),
                              owned("Request")]),
        Statement(sid="RetagOwnedLoadBalancers",
                  actions=["elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags"],
                  resources=[load_balancers, target_groups], conditions=[owned("Resource"), keeps_owner]),
        Statement(sid="ManageOwnedLoadBalancers",
                  actions=["elasticloadbalancing:ModifyLoadBalancerAttributes",
                           "elasticloadbalancing:SetIpAddressType",
                           "elasticloadbalancing:SetSecurityGroups",
                           "elasticloadbalancing:SetSubnets",
                           "elasticloadbalancing:DeleteLoadBalancer",
                           "elasticloadbalancing:ModifyTargetGroup",
                           "elasticloadbalancing:ModifyTargetGroupAttributes",
                           "elasticloadbalancing:DeleteTargetGroup",
                           "elasticloadbalancing:ModifyListenerAttributes",
                           "elasticloadbalancing:ModifyCapacityReservation",
                           "elasticloadbalancing:ModifyIpPools"],
                  resources=[load_balancers, target_groups, listeners], conditions=[owned("Resource")]),
        Statement(sid="RegisterTargetsOfOwnedGroups",
                  actions=["elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets"],
                  resources=[target_groups], conditions=[owned("Resource")]),
        # The documentation grants these on "*" with no tag condition.
        Statement(sid="ListenersAndRulesOfAlbs",
                  actions=["elasticloadbalancing:CreateListener", "elasticloadbalancing:DeleteListener",
                           "elasticloadbalancing:CreateRule", "elasticloadbalancing:DeleteRule",
                           "elasticloadbalancing:ModifyListener", "elasticloadbalancing:ModifyRule",
                           "elasticloadbalancing:SetRulePriorities",
                           "elasticloadbalancing:AddListenerCertificates",
                           "elasticloadbalancing:RemoveListenerCertificates"],
                  resources=[load_balancers, listeners, rules]),
        Statement(sid="TagListenersAndRules",
                  actions=["elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags"],
                  resources=[listeners, rules]),
    ]


class LoadBalancerController(pulumi.ComponentResource):
    """AWS Load Balancer Controller with least-privilege IRSA."""

    role_arn: pulumi.Output[str]
    """ARN of the controller's IRSA role."""
    release: k8s.helm.v3.Release
    """The controller's Helm release: Ingresses wait for its webhook."""

    def __init__(self, name: str, args: LoadBalancerControllerArgs,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("airflow-eks:index:LoadBalancerController", name, None, opts)
        role = IrsaRole(f"{name}-irsa", IrsaRoleArgs(
            oidc_provider_arn=args.oidc_provider_arn,
            oidc_provider_url=args.oidc_provider_url,
            namespace=NAMESPACE,
            service_account=SERVICE_ACCOUNT,
            statements=controller_statements(
                partition=args.partition,
                region=args.region,
                account=args.account_id,
                cluster_name=args.cluster_name,
                vpc_id=args.vpc_id),
        ), opts=pulumi.ResourceOptions(parent=self))

        values = {
            "clusterName": args.cluster_name,
            "region": args.region,
            "vpcId": args.vpc_id,
            "replicaCount": args.replicas,
            "podDisruptionBudget": {"maxUnavailable": 1},
            "serviceAccount": {"create": True, "name": SERVICE_ACCOUNT,
                               "annotations": {"eks.amazonaws.com/role-arn": role.arn}},
            "nodeSelector": args.node_selector,
            "enableShield": False,
            "enableWaf": False,
            "enableWafv2": False,
            "enableServiceMutatorWebhook": False,
            # Pods are targets by IP (VPC CNI): no NodePort on every node.
            "defaultTargetType": "ip",
            "defaultSSLPolicy": SSL_POLICY,
            "resources": {"requests": {"cpu": "50m", "memory": "128Mi"},
                          "limits": {"memory": "256Mi"}},
            "securityContext": {"readOnlyRootFilesystem": True, "runAsNonRoot": True,
                                "allowPrivilegeEscalation": False,
                                "capabilities": {"drop": ["ALL"]},
                                "seccompProfile": {"type": "RuntimeDefault"}},
        }
        self.release = pinned_release(f"{name}-release", chart=CHART, version=CHART_VERSION,
                                      repo=CHART_REPO, namespace=NAMESPACE, values=values,
                                      timeout=600, provider=args.provider, parent=self)
        self.role_arn = role.arn
        self.register_outputs({"roleArn": self.role_arn})


# ------------------------------------------------- what the controller reads
# Pure helpers (no resources): the Ingress annotations this controller
# understands, for the Airflow chart's API-server Ingress.

HEALTH_PATH = "/api/v2/monitor/health"  # the chart's API-server probes use it too


def load_balancer_name(cluster_name: str) -> str:
    """The ALB's name (at most 32 characters, letters, digits and hyphens):
    fixed, so the program can find the ALB the controller creates."""
    return f"{cluster_name}-ui"[:32].rstrip("-")


def alb_ingress_values(*, exposure: str, hostname: str, certificate_arn: pulumi.Input[str],
                       allowed_cidrs: tuple[str, ...], alb_name: str,
                       deletion_protection: bool, access_logs_bucket: pulumi.Input[str] | None = None,
                       access_logs_prefix: str = "alb") -> dict:
    """Chart values for the API server's Ingress as an HTTPS-only ALB.

    HTTP (80) only redirects to HTTPS (443); TLS 1.3/1.2 policy; the source
    allow-list; pods as IP targets, health-checked on the API server's health
    path; invalid header fields dropped; deletion protection in production;
    access logs to ``access_logs_bucket`` under ``access_logs_prefix``.
    Task pods keep using the in-cluster execution API: the chart sets
    ``core.execution_api_server_url`` to the api-server Service
    (``http://airflow-api-server:8080/execution/``), and nothing here changes
    it (``api.base_url`` stays unset: its path would move that URL)."""
    attributes = [
        "routing.http.drop_invalid_header_fields.enabled=true",
        f"deletion_protection.enabled={'true' if deletion_protection else 'false'}",
    ]
    if access_logs_bucket is not None:
        attributes += ["access_logs.s3.enabled=true",
                       pulumi.Output.concat("access_logs.s3.bucket=", access_logs_bucket),
                       f"access_logs.s3.prefix={access_logs_prefix}"]
    annotations = {
        "alb.ingress.kubernetes.io/load-balancer-name": alb_name,
        "alb.ingress.kubernetes.io/scheme": "internal" if exposure == "internal" else "internet-facing",
        "alb.ingress.kubernetes.io/target-type": "ip",
        "alb.ingress.kubernetes.io/listen-ports": '[{"HTTP": 80}, {"HTTPS": 443}]',
        "alb.ingress.kubernetes.io/ssl-redirect": "443",
        "alb.ingress.kubernetes.io/certificate-arn": certificate_arn,
        "alb.ingress.kubernetes.io/ssl-policy": SSL_POLICY,
        "alb.ingress.kubernetes.io/inbound-cidrs": ",".join(allowed_cidrs),
        "alb.ingress.kubernetes.io/healthcheck-path": HEALTH_PATH,
        "alb.ingress.kubernetes.io/success-codes": "200",
        "alb.ingress.kubernetes.io/load-balancer-attributes": pulumi.Output.all(*attributes).apply(",".join)
        if access_logs_bucket is not None else ",".join(attributes),
    }
    return {
        "ingress": {"apiServer": {
            "enabled": True,
            "ingressClassName": "alb",
            "hosts": [hostname],
            "path": "/",
            "pathType": "Prefix",
            "annotations": annotations,
        }},
    }
