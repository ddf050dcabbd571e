"""ClusterAutoscaler: IRSA scoped to this cluster's node groups, pinned release."""

from components.autoscaler import CHART_VERSION, ClusterAutoscaler, ClusterAutoscalerArgs
from tests.components import fake_cluster
from tests.conftest import policy_of, statements


def build(engine):
    return engine.build(lambda: ClusterAutoscaler("ca", ClusterAutoscalerArgs(
        cluster_name="airflow-eks-dev", kubernetes_version="1.35", region="us-east-1",
        **fake_cluster.system_addon())))


def test_write_actions_only_on_this_clusters_groups(engine):
    doc = policy_of(build(engine).one("aws:iam/rolePolicy:RolePolicy"))
    by_sid = {s["Sid"]: s for s in statements(doc)}
    scale = by_sid["ScaleOwnNodeGroups"]
    assert scale["Resource"] == [
        "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:*:autoScalingGroupName/eks-*"]
    assert scale["Condition"] == {"StringEquals": {
        "aws:ResourceTag/k8s.io/cluster-autoscaler/airflow-eks-dev": ["owned"]}}
    assert by_sid["DescribeNodegroups"]["Resource"] == [
        "arn:aws:eks:us-east-1:123456789012:nodegroup/airflow-eks-dev/*/*"]
    for st in statements(doc):
        if st["Resource"] == ["*"]:
            assert all(a.split(":")[1].startswith(("Describe", "Get")) for a in st["Action"])


def test_release_pinned_and_annotated(engine):
    rec = build(engine)
    release = rec.one("kubernetes:helm.sh/v3:Release").plain_inputs
    assert release["version"] == CHART_VERSION and release["chart"] == "cluster-autoscaler"
    values = release["values"]
    assert values["autoDiscovery"]["clusterName"] == "airflow-eks-dev"
    assert values["image"]["tag"] == "v1.35.0"
    role = rec.one("aws:iam/role:Role")
    assert values["rbac"]["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"] == role.outputs["arn"]
    assert values["nodeSelector"] == {"airflow-eks/node-group": "system"}
