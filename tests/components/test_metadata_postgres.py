"""InClusterPostgres (dev's database.engine inCluster): what replaces RDS, where
it runs, and that its password is only ever a secret."""

from __future__ import annotations

import pytest

from components.config import IN_CLUSTER_POSTGRES_MAJORS
from components.metadata_postgres import IMAGES, POSTGRES_UID, ZONE_LABEL
from plan.engine import MOCK_SECRET_PREFIX, Secret, walk

P = "airflow-eks:"


@pytest.fixture(scope="module")
def dev(engine):
    return engine.program("dev")


def pod_spec(rec):
    return rec.one("kubernetes:apps/v1:StatefulSet").plain_inputs["spec"]["template"]["spec"]


def test_dev_has_no_rds_and_an_in_cluster_database_instead(dev, engine):
    assert dev.of_type("aws:rds/instance:Instance") == []
    assert not [r for r in dev.resources if r.type.startswith("aws:rds/")]
    for type_ in ("kubernetes:apps/v1:StatefulSet", "kubernetes:core/v1:PersistentVolumeClaim",
                  "kubernetes:storage.k8s.io/v1:StorageClass",
                  "kubernetes:networking.k8s.io/v1:NetworkPolicy"):
        dev.one(type_)
    dev.one("kubernetes:core/v1:Service", "metadata-service")
    prod = engine.program("prod")
    assert prod.of_type("kubernetes:apps/v1:StatefulSet") == [] and prod.one("aws:rds/instance:Instance")
    assert dev.exports["databaseEndpoint"] == "postgresql.airflow-metadata.svc.cluster.local:5432"


def test_the_password_is_a_secret_everywhere(dev):
    credentials = dev.one("kubernetes:core/v1:Secret", "metadata-credentials")
    assert isinstance(credentials.inputs["stringData"], Secret)
    # The StatefulSet reads it by reference; no input of the database's
    # resources holds the generated password in plaintext.
    env = {e["name"]: e for e in pod_spec(dev)["containers"][0]["env"]}
    assert "value" not in env["POSTGRES_PASSWORD"]
    assert env["POSTGRES_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "postgresql-credentials", "key": "password"}
    for r in dev.resources:
        for _, value, secret in walk(r.inputs):
            assert secret or MOCK_SECRET_PREFIX not in str(value), r.name
    # pgbouncer receives the in-cluster URL, as a secret.
    pgbouncer = dev.one("kubernetes:core/v1:Secret", "airflow-pgbouncer-config")
    assert isinstance(pgbouncer.inputs["stringData"], Secret)
    assert "host=postgresql.airflow-metadata.svc.cluster.local" in \
        pgbouncer.plain_inputs["stringData"]["pgbouncer.ini"]


def test_the_volume_is_encrypted_gp3_through_the_csi_driver_in_the_first_zone(dev, engine):
    zone = engine.stack_config("dev").network.availability_zones[0]
    sc = dev.one("kubernetes:storage.k8s.io/v1:StorageClass").plain_inputs
    assert sc["provisioner"] == "ebs.csi.aws.com"
    assert sc["parameters"]["type"] == "gp3" and sc["parameters"]["encrypted"] == "true"
    assert sc["volumeBindingMode"] == "WaitForFirstConsumer"
    assert sc["allowedTopologies"] == [{"matchLabelExpressions": [{"key": ZONE_LABEL, "values": [zone]}]}]
    claim = dev.one("kubernetes:core/v1:PersistentVolumeClaim").plain_inputs["spec"]
    assert claim["storageClassName"] == sc["metadata"]["name"]
    assert claim["resources"]["requests"]["storage"] == "10Gi"
    volumes = {v["name"]: v for v in pod_spec(dev)["volumes"]}
    assert volumes["data"]["persistentVolumeClaim"]["claimName"] == "postgresql-data"


def test_the_pod_and_the_system_nodes_share_one_zone(dev, engine):
    zone = engine.stack_config("dev").network.availability_zones[0]
    spec = pod_spec(dev)
    assert spec["nodeSelector"] == {"airflow-eks/node-group": "system"} and "tolerations" not in spec
    terms = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert terms["nodeSelectorTerms"] == [
        {"matchExpressions": [{"key": ZONE_LABEL, "operator": "In", "values": [zone]}]}]
    # The system group runs in the first private subnet only (the mock names them in AZ order)...
    assert dev.one("eks:index:ManagedNodeGroup", "system").plain_inputs["subnetIds"] == ["subnet-private-0"]
    assert len(dev.one("eks:index:ManagedNodeGroup", "tasks").plain_inputs["subnetIds"]) == 2
    # ...and in every zone when the database is RDS.
    rds = engine.program("dev", {P + "database.engine": "rds", P + "database.allocatedStorageGiB": 20})
    assert len(rds.one("eks:index:ManagedNodeGroup", "system").plain_inputs["subnetIds"]) == 2


def test_the_container_is_pinned_restricted_probed_and_bounded(dev):
    spec = pod_spec(dev)
    (container,) = spec["containers"]
    image = container["image"]
    assert image == IMAGES["17"] and image.startswith("postgres:17.") and "@sha256:" in image
    pod_sc = spec["securityContext"]
    assert pod_sc["runAsUser"] == pod_sc["runAsGroup"] == pod_sc["fsGroup"] == POSTGRES_UID
    assert pod_sc["runAsNonRoot"] is True and pod_sc["seccompProfile"] == {"type": "RuntimeDefault"}
    sc = container["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert spec["automountServiceAccountToken"] is False
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["exec"]["command"][0] == "pg_isready"
    assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]
    ns = dev.one("kubernetes:core/v1:Namespace", "metadata-namespace").plain_inputs
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_only_the_airflow_namespace_reaches_5432(dev):
    policy = dev.one("kubernetes:networking.k8s.io/v1:NetworkPolicy").plain_inputs["spec"]
    (rule,) = policy["ingress"]
    assert rule["from"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "airflow"}}}]
    assert rule["ports"] == [{"port": 5432, "protocol": "TCP"}]
    service = dev.one("kubernetes:core/v1:Service", "metadata-service").plain_inputs["spec"]
    assert service["type"] == "ClusterIP"


def test_every_accepted_major_has_a_pinned_image():
    assert set(IN_CLUSTER_POSTGRES_MAJORS) == set(IMAGES)


def test_the_volume_waits_for_the_ebs_csi_driver(dev):
    driver = dev.one("aws:eks/addon:Addon", "ebs-csi")
    storage_class = dev.one("kubernetes:storage.k8s.io/v1:StorageClass")
    assert driver.urn in storage_class.dependencies
    # and the claim and the StatefulSet come after the class
    claim = dev.one("kubernetes:core/v1:PersistentVolumeClaim")
    assert storage_class.urn in dev.ancestors_and_deps(claim)
    assert claim.urn in dev.ancestors_and_deps(dev.one("kubernetes:apps/v1:StatefulSet"))
