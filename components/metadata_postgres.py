"""InClusterPostgres: Airflow's metadata database as a PostgreSQL StatefulSet (dev only).

``database.engine: inCluster`` replaces RDS (components/database.py) with this,
which saves RDS's ~$14 a month: what takes dev under $100 (README "Cost").
Production stacks refuse it (components/config.py): no automated backups, no
point-in-time recovery, no standby.

Creates, in its own namespace (Pod Security ``restricted`` enforced):
- a generated password (pulumi-random, held only as a Pulumi secret) in a
  Kubernetes Secret;
- a StorageClass of encrypted gp3 volumes through the EBS CSI driver
  (components/cluster.py installs it; AWS's managed ``AmazonEBSCSIDriverPolicy``
  allows CreateVolume/AttachVolume with the AWS-managed EBS key, which is the
  key used: no grant on the stack's key is needed), WaitForFirstConsumer, and
  volumes allowed only in one availability zone;
- a PersistentVolumeClaim on it, a Pulumi resource of its own: replacing the
  StatefulSet keeps the data; ``pulumi destroy`` deletes the volume;
- a one-replica StatefulSet of the official ``postgres`` image pinned by tag
  and digest: uid/gid 999 (the image's ``postgres`` user), read-only root file
  system, no capabilities, RuntimeDefault seccomp, requests and limits,
  ``pg_isready`` probes, on the system node group in the database's zone;
- a ClusterIP Service, and a NetworkPolicy admitting 5432 only from the
  Airflow namespace (where pgbouncer runs).

The zone: an EBS volume lives in one availability zone. The caller passes the
zone and runs the system node group there only (``__main__.py``), so every
system node the Cluster Autoscaler adds or spot replaces can mount the volume;
the StorageClass and the pod's node affinity pin the same zone.

It hands on the same ``connection_url`` shape as :class:`components.database.Database`
(a secret SQLAlchemy URL), with ``sslmode=disable``: traffic stays inside the
cluster's private network (README "Known gaps").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.database import DB_NAME, MASTER_USERNAME, PORT

# The official image (Debian trixie; uid/gid 999), pinned by tag and by the
# digest of its multi-arch index, as docker-library/repo-info records it
# (repos/postgres/remote/17.11-trixie.md). Bump both together.
IMAGES = {
    "17": "postgres:17.11-trixie@sha256:f4c66b820c6f974249089d3d16d86a3698eae11e8746eb6644b2271031e91232",
}
POSTGRES_UID = 999
NAMESPACE = "airflow-metadata"
ZONE_LABEL = "topology.kubernetes.io/zone"
DATA_DIR = "/var/lib/postgresql/data"
SERVICE_NAME = "postgresql"


@dataclass(frozen=True, kw_only=True)
class InClusterPostgresArgs:
    """Inputs of :class:`InClusterPostgres`."""

    provider: k8s.Provider
    """Kubernetes provider of the cluster."""
    engine_version: str
    """PostgreSQL major version; must have an image in ``IMAGES``."""
    storage_gib: int
    """Size of the data volume."""
    availability_zone: str
    """The one zone of the volume and of the pod (the system node group's zone)."""
    node_selector: dict[str, str]
    """The system node group's label (no toleration: never on task nodes)."""
    client_namespace: str
    """The only namespace admitted on 5432 (Airflow's, where pgbouncer runs)."""
    storage_driver: Sequence[pulumi.Resource] = ()
    """What provisions the volume (the EBS CSI driver add-on): created first."""


class InClusterPostgres(pulumi.ComponentResource):
    """A single PostgreSQL pod on an encrypted EBS volume, for a dev stack."""

    address: pulumi.Output[str]
    """In-cluster DNS name of the Service, known once the pod is ready."""
    port: pulumi.Output[int]
    """Port of the Service."""
    endpoint: pulumi.Output[str]
    """``host:port`` of the Service."""
    connection_url: pulumi.Output[str]
    """SQLAlchemy URL of the metadata database with its password (secret)."""

    def __init__(self, name: str, args: InClusterPostgresArgs,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("airflow-eks:index:InClusterPostgres", name, None, opts)
        if args.engine_version not in IMAGES:
            raise ValueError(f"no pinned postgres image for major {args.engine_version}: "
                             f"one of {', '.join(IMAGES)}")
        k8s_opts = pulumi.ResourceOptions(parent=self, provider=args.provider)
        labels = {"app.kubernetes.io/name": "postgresql", "app.kubernetes.io/instance": name}

        namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=NAMESPACE, labels={
                "pod-security.kubernetes.io/enforce": "restricted",
            }),
            opts=k8s_opts,
        )
        ns = namespace.metadata.apply(lambda m: m.name or NAMESPACE)

        # Same alphabet and length as RDS's master password (components/database.py):
        # URL-safe in the SQLAlchemy URL and pgbouncer's userlist. Created once.
        password = random.RandomPassword(f"{name}-password", length=40, special=False,
                                         opts=pulumi.ResourceOptions(parent=self))
        credentials = k8s.core.v1.Secret(
            f"{name}-credentials",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="postgresql-credentials", namespace=ns),
            type="Opaque",
            string_data={"password": password.result},
            opts=k8s_opts,
        )

        storage_class = k8s.storage.v1.StorageClass(
            f"{name}-storage",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="metadata-gp3-encrypted"),
            provisioner="ebs.csi.aws.com",
            # encrypted without kmsKeyId: the AWS-managed aws/ebs key, which
            # the driver's managed policy may use without a key grant.
            parameters={"type": "gp3", "encrypted": "true", "csi.storage.k8s.io/fstype": "ext4"},
            reclaim_policy="Delete",
            allow_volume_expansion=True,
            # Provisioned where the pod is scheduled, and only in the one zone.
            volume_binding_mode="WaitForFirstConsumer",
            allowed_topologies=[k8s.core.v1.TopologySelectorTermArgs(
                match_label_expressions=[k8s.core.v1.TopologySelectorLabelRequirementArgs(
                    key=ZONE_LABEL, values=[args.availability_zone])])],
            opts=pulumi.ResourceOptions.merge(k8s_opts, pulumi.ResourceOptions(
                depends_on=list(args.storage_driver))),
        )
        # Its own resource, not a volumeClaimTemplate: a StatefulSet replaced by
        # Pulumi keeps the claim, and `pulumi destroy` does not leave it behind.
        # pulumi-kubernetes treats a Pending WaitForFirstConsumer claim as ready
        # (pulumi/pulumi-kubernetes#3130), so the StatefulSet is created next.
        claim = k8s.core.v1.PersistentVolumeClaim(
            f"{name}-data",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="postgresql-data", namespace=ns, labels=labels),
            spec=k8s.core.v1.PersistentVolumeClaimSpecArgs(
                access_modes=["ReadWriteOnce"],
                storage_class_name=storage_class.metadata.apply(lambda m: m.name or ""),
                resources=k8s.core.v1.VolumeResourceRequirementsArgs(
                    requests={"storage": f"{args.storage_gib}Gi"}),
            ),
            opts=k8s_opts,
        )

        service = k8s.core.v1.Service(
            f"{name}-service",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=SERVICE_NAME, namespace=ns, labels=labels),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="ClusterIP", selector=labels,
                ports=[k8s.core.v1.ServicePortArgs(name="postgresql", port=PORT, target_port=PORT)]),
            opts=k8s_opts,
        )

        k8s.networking.v1.NetworkPolicy(
            f"{name}-ingress",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="postgresql-ingress", namespace=ns),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels),
                policy_types=["Ingress"],
                ingress=[k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                    from_=[k8s.networking.v1.NetworkPolicyPeerArgs(
                        namespace_selector=k8s.meta.v1.LabelSelectorArgs(match_labels={
                            "kubernetes.io/metadata.name": args.client_namespace}))],
                    ports=[k8s.networking.v1.NetworkPolicyPortArgs(port=PORT, protocol="TCP")])],
            ),
            opts=k8s_opts,
        )

        in_zone = k8s.core.v1.AffinityArgs(node_affinity=k8s.core.v1.NodeAffinityArgs(
            required_during_scheduling_ignored_during_execution=k8s.core.v1.NodeSelectorArgs(
                node_selector_terms=[k8s.core.v1.NodeSelectorTermArgs(
                    match_expressions=[k8s.core.v1.NodeSelectorRequirementArgs(
                        key=ZONE_LABEL, operator="In", values=[args.availability_zone])])])))
        ready = ["pg_isready", "-h", "127.0.0.1", "-p", str(PORT), "-U", MASTER_USERNAME, "-d", DB_NAME]
        statefulset = k8s.apps.v1.StatefulSet(
            f"{name}-statefulset",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="postgresql", namespace=ns, labels=labels),
            spec=k8s.apps.v1.StatefulSetSpecArgs(
                replicas=1,
                service_name=SERVICE_NAME,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels),
                    spec=k8s.core.v1.PodSpecArgs(
                        node_selector=args.node_selector,
                        affinity=in_zone,
                        automount_service_account_token=False,
                        enable_service_links=False,
                        # A clean shutdown (checkpoint) before SIGKILL.
                        termination_grace_period_seconds=60,
                        security_context=k8s.core.v1.PodSecurityContextArgs(
                            run_as_user=POSTGRES_UID, run_as_group=POSTGRES_UID,
                            run_as_non_root=True, fs_group=POSTGRES_UID,
                            fs_group_change_policy="OnRootMismatch",
                            seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault")),
                        containers=[k8s.core.v1.ContainerArgs(
                            name="postgresql",
                            image=IMAGES[args.engine_version],
                            image_pull_policy="IfNotPresent",
                            ports=[k8s.core.v1.ContainerPortArgs(name="postgresql", container_port=PORT)],
                            env=[
                                k8s.core.v1.EnvVarArgs(name="POSTGRES_USER", value=MASTER_USERNAME),
                                k8s.core.v1.EnvVarArgs(name="POSTGRES_DB", value=DB_NAME),
                                k8s.core.v1.EnvVarArgs(
                                    name="POSTGRES_PASSWORD",
                                    value_from=k8s.core.v1.EnvVarSourceArgs(
                                        secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(
                                            name=credentials.metadata.apply(lambda m: m.name or ""),
                                            key="password"))),
                                # scram-sha-256 for host connections, as pgbouncer authenticates.
                                k8s.core.v1.EnvVarArgs(name="POSTGRES_INITDB_ARGS",
                                                       value="--auth-host=scram-sha-256"),
                                # A subdirectory: the volume's root holds lost+found.
                                k8s.core.v1.EnvVarArgs(name="PGDATA", value=f"{DATA_DIR}/pgdata"),
                            ],
                            resources=k8s.core.v1.ResourceRequirementsArgs(
                                requests={"cpu": "100m", "memory": "256Mi"},
                                limits={"memory": "512Mi"}),
                            readiness_probe=k8s.core.v1.ProbeArgs(
                                exec_=k8s.core.v1.ExecActionArgs(command=ready),
                                period_seconds=10, timeout_seconds=5, failure_threshold=3),
                            liveness_probe=k8s.core.v1.ProbeArgs(
                                exec_=k8s.core.v1.ExecActionArgs(command=ready),
                                # Crash recovery after an unclean stop can take a while.
                                initial_delay_seconds=30, period_seconds=20, timeout_seconds=5,
                                failure_threshold=6),
                            security_context=k8s.core.v1.SecurityContextArgs(
                                allow_privilege_escalation=False, read_only_root_filesystem=True,
                                run_as_non_root=True,
                                capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"])),
                            volume_mounts=[
                                k8s.core.v1.VolumeMountArgs(name="data", mount_path=DATA_DIR),
                                # Writable paths besides the data: socket and temp files.
                                k8s.core.v1.VolumeMountArgs(name="run", mount_path="/var/run/postgresql"),
                                k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp"),
                            ],
                        )],
                        volumes=[
                            k8s.core.v1.VolumeArgs(
                                name="data",
                                persistent_volume_claim=k8s.core.v1.PersistentVolumeClaimVolumeSourceArgs(
                                    claim_name=claim.metadata.apply(lambda m: m.name or ""))),
                            k8s.core.v1.VolumeArgs(name="run", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(
                                medium="Memory", size_limit="16Mi")),
                            k8s.core.v1.VolumeArgs(name="tmp", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(
                                size_limit="256Mi")),
                        ],
                    ),
                ),
            ),
            opts=k8s_opts,
        )

        # Known once the Service and the StatefulSet are created (pulumi-kubernetes
        # waits for the StatefulSet's pod to be ready), so pgbouncer starts after.
        self.address = pulumi.Output.all(ns, service.id, statefulset.id).apply(
            lambda a: f"{SERVICE_NAME}.{a[0]}.svc.cluster.local")
        self.port = pulumi.Output.from_input(PORT)
        self.endpoint = self.address.apply(lambda h: f"{h}:{PORT}")
        self.connection_url = pulumi.Output.secret(pulumi.Output.all(password.result, self.address).apply(
            lambda a: connection_url(MASTER_USERNAME, a[0], a[1], PORT, DB_NAME)))
        self.register_outputs({"address": self.address, "port": self.port,
                               "endpoint": self.endpoint, "connectionUrl": self.connection_url})


def connection_url(username: str, password: str, host: str, port: int, db_name: str) -> str:
    """SQLAlchemy URL of the in-cluster database: plaintext inside the cluster's network."""
    return f"postgresql://{username}:{password}@{host}:{port}/{db_name}?sslmode=disable"
