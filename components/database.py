"""Database: RDS PostgreSQL for Airflow's metadata.

Creates:
- a DB subnet group of the private subnets, and a security group that admits
  5432 only from the cluster's node/pod security group (no egress);
- a parameter group with ``rds.force_ssl=1``;
- the ``postgresql`` and ``upgrade`` CloudWatch log groups, KMS-encrypted with
  a retention (RDS would otherwise create them with none);
- an enhanced-monitoring role that RDS may assume only for this account;
- a generated master password (pulumi-random, held only as a Pulumi secret);
- the instance: pinned major version with automatic minor upgrades, gp3 with
  storage autoscaling, encrypted with the stack's KMS key, not publicly
  accessible, Performance Insights (encrypted) and enhanced monitoring,
  tags copied to snapshots. In production: Multi-AZ, deletion protection, a
  final snapshot under a unique name (a random suffix kept in the state),
  automated backups retained after deletion, and ``protect=True`` on the
  instance and its log groups. The server certificate is signed by the RDS CA
  of ``database.caCertIdentifier``, set explicitly (not left to the account's
  default, which AWS changes over time).

It hands on the SQLAlchemy URL of the database as a secret Output, and the
PEM of that CA certificate (``ca_certificate``), looked up with the
``aws.rds.getCertificate`` data source and verified by components/rds_ca.py,
for clients that verify the server (pgbouncer, ``verify-full``).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from components import rds_ca
from components.config import DatabaseConfig, DatabaseTlsConfig
from components.iam import service_trust_policy

MASTER_USERNAME = "airflow_owner"
DB_NAME = "airflow"
PORT = 5432
LOG_EXPORTS = ("postgresql", "upgrade")


@dataclass(frozen=True, kw_only=True)
class DatabaseArgs:
    """Inputs of :class:`Database`."""

    identifier: str
    """RDS instance identifier (also names its log groups)."""
    settings: DatabaseConfig
    """Validated database settings from the stack config."""
    vpc_id: pulumi.Input[str]
    """VPC of the database."""
    subnet_ids: pulumi.Input[list[str]]
    """Private subnets of the DB subnet group."""
    client_security_group_id: pulumi.Input[str]
    """The only security group admitted on 5432 (the cluster's nodes and pods)."""
    kms_key_arn: pulumi.Input[str]
    """Key for storage, Performance Insights and the log groups."""
    account_id: pulumi.Input[str]
    """This account: RDS may assume the monitoring role only for its instances."""
    partition: pulumi.Input[str]
    """AWS partition of the managed policy ARN."""
    protect: bool
    """Production: deletion protection, a uniquely named final snapshot, automated
    backups kept after deletion, protect=True on the instance and its log groups."""
    region: str
    """AWS region of the instance: whose RDS CA bundle is fetched."""
    tls: DatabaseTlsConfig = DatabaseTlsConfig()
    """The RDS CA of the server certificate, and an optional local bundle to take it from."""


def connection_url(username: str, password: str, host: str, port: int, db_name: str) -> str:
    """The metadata DB's URL: what pgbouncer's config is made of (host, port,
    database, user). The query says what pgbouncer does with it: verify the
    server's certificate and name (``server_tls_sslmode = verify-full``).
    No pod connects with this URL (README, Security)."""
    return f"postgresql://{username}:{password}@{host}:{port}/{db_name}?sslmode=verify-full"


class Database(pulumi.ComponentResource):
    """RDS PostgreSQL instance for the Airflow metadata database."""

    address: pulumi.Output[str]
    """Host name of the RDS instance."""
    port: pulumi.Output[int]
    """Port of the RDS instance."""
    endpoint: pulumi.Output[str]
    """``host:port`` of the RDS instance."""
    connection_url: pulumi.Output[str]
    """SQLAlchemy URL of the metadata database with its password (secret)."""
    ca_certificate: pulumi.Output[str]
    """PEM of the RDS CA that signs the server certificate, verified by thumbprint (public)."""

    def __init__(self, name: str, args: DatabaseArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("airflow-eks:index:Database", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        s = args.settings

        subnets = aws.rds.SubnetGroup(f"{name}-subnets", subnet_ids=args.subnet_ids, opts=child)
        # No inline rules: the provider then also drops AWS's default allow-all
        # egress. The one ingress rule is its own resource, so that the instance
        # waits only for this group, not for the EKS cluster: RDS and EKS are
        # created in parallel.
        sg = aws.ec2.SecurityGroup(
            f"{name}-sg",
            vpc_id=args.vpc_id,
            description="PostgreSQL from the EKS cluster security group only",
            opts=child,
        )
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-from-cluster",
            security_group_id=sg.id,
            referenced_security_group_id=args.client_security_group_id,
            ip_protocol="tcp", from_port=PORT, to_port=PORT,
            description="Airflow (via pgbouncer) on EKS",
            opts=child,
        )
        params = aws.rds.ParameterGroup(
            f"{name}-params",
            family=f"postgres{s.engine_version}",
            description="airflow-eks metadata DB: TLS only",
            parameters=[
                aws.rds.ParameterGroupParameterArgs(name="rds.force_ssl", value="1"),
                aws.rds.ParameterGroupParameterArgs(name="log_min_duration_statement", value="2000"),
            ],
            opts=child,
        )
        log_groups = [aws.cloudwatch.LogGroup(
            f"{name}-log-{kind}",
            name=f"/aws/rds/instance/{args.identifier}/{kind}",
            retention_in_days=s.log_retention_days,
            kms_key_id=args.kms_key_arn,
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        ) for kind in LOG_EXPORTS]

        monitoring_role = aws.iam.Role(f"{name}-monitoring", opts=child, assume_role_policy=service_trust_policy(
            "monitoring.rds.amazonaws.com", source_account=args.account_id, parent=self))
        aws.iam.RolePolicyAttachment(
            f"{name}-monitoring-policy", role=monitoring_role.name,
            policy_arn=pulumi.Output.concat(
                "arn:", args.partition, ":iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"),
            opts=child)

        # A fixed final-snapshot name makes the second deletion of an instance
        # with this identifier fail (the first one's snapshot holds the name).
        # Random once per identifier and kept in the state: no diff on later runs.
        snapshot_suffix = random.RandomId(
            f"{name}-final-snapshot-suffix", byte_length=4,
            keepers={"identifier": args.identifier}, opts=child) if args.protect else None

        # Letters and digits only: URL-safe in the SQLAlchemy URL and pgbouncer's
        # userlist, and 40 of them give ~238 bits. Stored once, in the state, as a secret.
        password = random.RandomPassword(f"{name}-master-password", length=40, special=False,
                                         opts=child)

        instance = aws.rds.Instance(
            f"{name}-instance",
            identifier=args.identifier,
            engine="postgres",
            # Major only: AWS applies minor upgrades, and a pinned minor would
            # then show a diff (a downgrade) on the next `pulumi up`.
            engine_version=s.engine_version,
            engine_lifecycle_support="open-source-rds-extended-support-disabled",
            instance_class=s.instance_class,
            allocated_storage=s.allocated_storage_gib,
            max_allocated_storage=s.max_allocated_storage_gib,
            storage_type="gp3",
            storage_encrypted=True,
            kms_key_id=args.kms_key_arn,
            db_name=DB_NAME,
            username=MASTER_USERNAME,
            password=password.result,
            port=PORT,
            db_subnet_group_name=subnets.name,
            vpc_security_group_ids=[sg.id],
            parameter_group_name=params.name,
            publicly_accessible=False,
            multi_az=s.multi_az,
            backup_retention_period=s.backup_retention_days,
            backup_window="03:00-04:00",
            maintenance_window="sun:04:30-sun:05:30",
            auto_minor_version_upgrade=True,
            copy_tags_to_snapshot=True,
            deletion_protection=args.protect,
            skip_final_snapshot=not args.protect,
            final_snapshot_identifier=pulumi.Output.concat(
                args.identifier, "-final-", snapshot_suffix.hex) if snapshot_suffix else None,
            # The automated backups outlive the instance: a deletion, even a
            # mistaken one past every protection, stays restorable.
            delete_automated_backups=not args.protect,
            enabled_cloudwatch_logs_exports=list(LOG_EXPORTS),
            performance_insights_enabled=True,
            performance_insights_kms_key_id=args.kms_key_arn,
            performance_insights_retention_period=7,
            monitoring_interval=60,
            monitoring_role_arn=monitoring_role.arn,
            # Explicit: clients verify against this CA's certificate (below).
            ca_cert_identifier=args.tls.ca_cert_identifier,
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect, depends_on=log_groups),
        )

        self.address = instance.address
        self.port = instance.port
        self.endpoint = instance.endpoint
        self.connection_url = pulumi.Output.secret(pulumi.Output.all(
            password.result, instance.address, instance.port,
        ).apply(lambda a: connection_url(MASTER_USERNAME, a[0], a[1], int(a[2]), DB_NAME)))
        # The RDS API's thumbprint of the CA (in the instance's region) decides
        # which certificate of the published bundle is trusted. A data source,
        # not a resource: fetching the bundle inside its apply registers nothing.
        tls = args.tls
        certificate = aws.rds.get_certificate_output(
            id=tls.ca_cert_identifier, region=args.region, opts=pulumi.InvokeOutputOptions(parent=self))
        self.ca_certificate = certificate.thumbprint.apply(lambda thumbprint: rds_ca.ca_certificate(
            identifier=tls.ca_cert_identifier, region=args.region, expected_thumbprint=thumbprint,
            bundle_file=tls.ca_bundle_file or None))
        self.register_outputs({"address": self.address, "port": self.port,
                               "endpoint": self.endpoint, "connectionUrl": self.connection_url,
                               "caCertificate": self.ca_certificate})
