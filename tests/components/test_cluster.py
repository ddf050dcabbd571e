"""Cluster: EKS security properties and the two node groups."""

import pytest

from components.cluster import CONTROL_PLANE_LOG_TYPES, Cluster, ClusterArgs
from tests.conftest import policy_of, statements

KEY = "arn:aws:kms:us-east-1:123456789012:key/k"


def build(engine, stack="dev", cidrs=("203.0.113.0/24",)):
    cfg = engine.stack_config(stack)
    return engine.build(lambda: Cluster("c", ClusterArgs(
        cluster_name=cfg.cluster.name, kubernetes_version=cfg.cluster.kubernetes_version,
        vpc_id="vpc-1", private_subnet_ids=["subnet-p1", "subnet-p2"],
        public_subnet_ids=["subnet-u1", "subnet-u2"], public_access_cidrs=cidrs,
        kms_key_arn=KEY, partition="aws", log_retention_days=14, system=cfg.cluster.system,
        tasks=cfg.cluster.tasks, protect=cfg.production)), stack=stack)


def test_control_plane(engine):
    rec = build(engine)
    eks = rec.one("eks:index:Cluster").plain_inputs
    assert eks["version"] == "1.35"
    assert eks["createOidcProvider"] is True
    assert eks["enabledClusterLogTypes"] == list(CONTROL_PLANE_LOG_TYPES) and len(CONTROL_PLANE_LOG_TYPES) == 5
    assert eks["encryptionConfigKeyArn"] == KEY
    assert eks["endpointPrivateAccess"] is True and eks["endpointPublicAccess"] is True
    assert eks["publicAccessCidrs"] == ["203.0.113.0/24"]
    assert eks["nodeAssociatePublicIpAddress"] is False and eks["skipDefaultNodeGroup"] is True
    assert eks["corednsAddonOptions"]["enabled"] and eks["kubeProxyAddonOptions"]["enabled"]
    log_group = rec.one("aws:cloudwatch/logGroup:LogGroup").plain_inputs
    assert log_group["name"] == "/aws/eks/airflow-eks-dev/cluster" and log_group["kmsKeyId"] == KEY


def test_private_only_when_no_cidrs(engine):
    eks = build(engine, cidrs=()).one("eks:index:Cluster").plain_inputs
    assert eks["endpointPublicAccess"] is False and not eks.get("publicAccessCidrs")


@pytest.mark.parametrize("group", ["system", "tasks"])
def test_launch_templates_require_imdsv2_hop_limit_1_and_encrypt_root(engine, group):
    lt = build(engine).one("aws:ec2/launchTemplate:LaunchTemplate", f"{group}-lt").plain_inputs
    assert lt["metadataOptions"] == {"httpEndpoint": "enabled", "httpTokens": "required",
                                     "httpPutResponseHopLimit": 1}
    (disk,) = lt["blockDeviceMappings"]
    assert disk["ebs"]["encrypted"] == "true" and disk["ebs"]["volumeType"] == "gp3"


def test_node_groups_private_scaled_labelled_and_tasks_tainted(engine):
    rec = build(engine)
    system = rec.one("eks:index:ManagedNodeGroup", "-system").plain_inputs
    tasks = rec.one("eks:index:ManagedNodeGroup", "-tasks").plain_inputs
    for group in (system, tasks):
        assert group["subnetIds"] == ["subnet-p1", "subnet-p2"]
        assert group["amiType"] == "AL2023_ARM_64_STANDARD"
        assert group["ignoreScalingChanges"] is True
        assert "launchTemplate" in group
    # dev: the system node on spot over three pools (README, Cost); prod: ON_DEMAND (config check).
    assert system["capacityType"] == "SPOT" and len(set(system["instanceTypes"])) >= 3
    assert not system.get("taints")
    assert tasks["capacityType"] == "SPOT"
    assert tasks["scalingConfig"] == {"minSize": 0, "maxSize": 5, "desiredSize": 0}
    assert tasks["labels"] == {"airflow-eks/node-group": "tasks"}
    assert tasks["taints"] == [{"key": "airflow-eks/tasks", "value": "true", "effect": "NO_SCHEDULE"}]


def test_ebs_csi_addon_with_its_own_irsa_role(engine):
    rec = build(engine)
    addon = rec.one("aws:eks/addon:Addon", "ebs-csi").plain_inputs
    assert addon["addonName"] == "aws-ebs-csi-driver"
    role = rec.one("aws:iam/role:Role", "ebs-csi-role")
    assert addon["serviceAccountRoleArn"] == role.outputs["arn"]
    (trust,) = statements(policy_of(role, "assumeRolePolicy"))
    subs = [v for k, v in trust["Condition"]["StringEquals"].items() if k.endswith(":sub")]
    assert subs == [["system:serviceaccount:kube-system:ebs-csi-controller-sa"]]


def test_vpc_cni_has_its_own_irsa_role_and_the_node_role_no_cni_policy(engine):
    rec = build(engine)
    eks = rec.one("eks:index:Cluster")
    # pulumi-eks' own vpc-cni add-on could not take a role that needs its OIDC provider.
    assert eks.plain_inputs["useDefaultVpcCni"] is True and "vpcCniOptions" not in eks.plain_inputs
    cni = rec.one("eks:index:VpcCniAddon")
    role = rec.one("aws:iam/role:Role", "vpc-cni-role")
    assert cni.plain_inputs["serviceAccountRoleArn"] == role.outputs["arn"]
    assert cni.plain_inputs["enableNetworkPolicy"] is True
    assert cni.plain_inputs["resolveConflictsOnCreate"] == "OVERWRITE"
    (trust,) = statements(policy_of(role, "assumeRolePolicy"))
    subs = [v for k, v in trust["Condition"]["StringEquals"].items() if k.endswith(":sub")]
    assert subs == [["system:serviceaccount:kube-system:aws-node"]]
    attached = {a.name: a.plain_inputs["policyArn"]
                for a in rec.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")}
    assert attached["c-vpc-cni-AmazonEKS_CNI_Policy"] == "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy"
    node = {arn for name, arn in attached.items() if name.startswith("c-node-")}
    assert node == {"arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
                    "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly"}
    # Nodes start only once the CNI runs with its role: without the node
    # role's CNI policy, an earlier node would never become Ready.
    for group in rec.of_type("eks:index:ManagedNodeGroup"):
        assert cni.urn in group.dependencies


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_production_cluster_and_audit_log_group_protected(engine, stack):
    rec = build(engine, stack)
    production = stack == "prod"
    eks = rec.one("eks:index:Cluster")
    assert eks.plain_inputs["deletionProtection"] is production and eks.protect is production
    assert rec.one("aws:cloudwatch/logGroup:LogGroup").protect is production
