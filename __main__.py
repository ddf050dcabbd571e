"""airflow-eks: loads the stack config, builds the components, exports."""

import pulumi
import pulumi_aws as aws

from components.airflow import NAMESPACE as AIRFLOW_NAMESPACE
from components.airflow import Airflow, AirflowArgs
from components.autoscaler import ClusterAutoscaler, ClusterAutoscalerArgs
from components.bucket import AccessLogSource, AlbLogDelivery, Bucket, BucketArgs
from components.cluster import NODE_GROUP_LABEL, TASKS_TAINT_KEY, Cluster, ClusterArgs
from components.config import EMR_SCRIPT_PREFIX, load_stack_config, without_userinfo
from components.database import Database, DatabaseArgs
from components.emr_serverless import EmrServerless, EmrServerlessArgs
from components.kms import EncryptionKey, EncryptionKeyArgs
from components.lb_controller import (
    LoadBalancerController,
    LoadBalancerControllerArgs,
    alb_ingress_values,
    load_balancer_name,
)
from components.metadata_postgres import InClusterPostgres, InClusterPostgresArgs
from components.monitoring import Monitoring, MonitoringArgs, airflow_env
from components.network import Network, NetworkArgs
from components.secrets import AirflowSecrets, AirflowSecretsArgs, secrets_prefix
from components.ui_certificate import UiCertificate, UiCertificateArgs
from components.ui_dns import UiDnsRecord, UiDnsRecordArgs

# Raises one ConfigError (a pulumi.RunError: no traceback) listing every bad value.
cfg = load_stack_config()
prefix = f"{cfg.project}-{cfg.stack}"
in_cluster_db = cfg.database.engine == "inCluster"
database_id = f"{prefix}-metadata"
# Looked up once and passed down (ARNs, aws:SourceAccount conditions).
account_id = aws.get_caller_identity_output().account_id
partition = aws.get_partition_output().partition
flow_log_group = f"/{cfg.project}/{cfg.stack}/vpc-flow-logs"
# Where the CloudWatch observability add-on's Fluent Bit writes container stdout.
container_log_group = f"/aws/containerinsights/{cfg.cluster.name}/application"

key = EncryptionKey(prefix, EncryptionKeyArgs(
    description=f"{prefix}: EKS secrets, RDS, S3 and log groups",
    region=cfg.region, account_id=account_id, partition=partition, protect=cfg.production,
    # Every log group of this stack, and no other (tests/test_main.py checks both ways).
    log_group_names=(flow_log_group, f"/aws/eks/{cfg.cluster.name}/cluster", container_log_group,
                     # RDS's log exports; the in-cluster dev database has none.
                     *(() if in_cluster_db else (f"/aws/rds/instance/{database_id}/*",)))))

network = Network(prefix, NetworkArgs(
    cidr=cfg.network.cidr,
    availability_zones=cfg.network.availability_zones,
    one_nat_per_az=cfg.network.nat_gateways == "onePerAz",
    cluster_name=cfg.cluster.name,
    flow_log_group_name=flow_log_group,
    flow_log_retention_days=cfg.network.flow_log_retention_days,
    kms_key_arn=key.key_arn,
    account_id=account_id,
    region=cfg.region,
    partition=partition,
    protect=cfg.production,
    nat_instance_type=cfg.network.nat_instance.instance_type if cfg.network.nat_instance else None))

cluster = Cluster(prefix, ClusterArgs(
    cluster_name=cfg.cluster.name,
    kubernetes_version=cfg.cluster.kubernetes_version,
    vpc_id=network.vpc_id,
    private_subnet_ids=network.private_subnet_ids,
    public_subnet_ids=network.public_subnet_ids,
    public_access_cidrs=cfg.cluster.public_access_cidrs,
    kms_key_arn=key.key_arn,
    partition=partition,
    log_retention_days=cfg.cluster.log_retention_days,
    system=cfg.cluster.system,
    tasks=cfg.cluster.tasks,
    protect=cfg.production,
    # An in-cluster database's EBS volume lives in the first zone: every system
    # node must be able to mount it, so the group runs in that zone only.
    system_subnet_ids=network.private_subnet_ids.apply(lambda ids: ids[:1]) if in_cluster_db else None))

ClusterAutoscaler(f"{prefix}-autoscaler", ClusterAutoscalerArgs(
    cluster_name=cluster.cluster_name,
    kubernetes_version=cfg.cluster.kubernetes_version,
    region=cfg.region,
    account_id=account_id,
    partition=partition,
    oidc_provider_arn=cluster.oidc_provider_arn,
    oidc_provider_url=cluster.oidc_provider_url,
    provider=cluster.provider,
    node_selector={NODE_GROUP_LABEL: "system"}))

database: Database | InClusterPostgres
if in_cluster_db:
    # Dev only (components/config.py refuses it in production): see README "Cost".
    database = InClusterPostgres(database_id, InClusterPostgresArgs(
        provider=cluster.provider,
        engine_version=cfg.database.engine_version,
        storage_gib=cfg.database.allocated_storage_gib,
        availability_zone=cfg.network.availability_zones[0],
        node_selector={NODE_GROUP_LABEL: "system"},
        client_namespace=AIRFLOW_NAMESPACE,
        storage_driver=[cluster.ebs_csi_driver]))
else:
    # Depends on the network only, so RDS is created while EKS is.
    database = Database(database_id, DatabaseArgs(
        identifier=database_id,
        settings=cfg.database,
        vpc_id=network.vpc_id,
        subnet_ids=network.private_subnet_ids,
        client_security_group_id=cluster.node_security_group_id,
        kms_key_arn=key.key_arn,
        account_id=account_id,
        partition=partition,
        protect=cfg.production,
        region=cfg.region,
        tls=cfg.database_tls))

logs = Bucket(f"{prefix}-logs", BucketArgs(
    purpose="logs", kms_key_arn=key.key_arn,
    expire_after_days=cfg.buckets.task_log_retention_days,
    noncurrent_version_days=cfg.buckets.noncurrent_version_retention_days,
    protect=cfg.production))
data = Bucket(f"{prefix}-data", BucketArgs(
    purpose="data", kms_key_arn=key.key_arn,
    noncurrent_version_days=cfg.buckets.noncurrent_version_retention_days,
    protect=cfg.production))
# S3 server access logs (FSBP S3.9) and the UI's ALB access logs: both
# deliver only to an SSE-S3 bucket, so one bucket, a prefix each.
alb_logs = AlbLogDelivery(region=cfg.region)
access_logs = Bucket(f"{prefix}-access-logs", BucketArgs(
    purpose="access-logs", kms_key_arn=None,
    expire_after_days=cfg.buckets.access_log_retention_days,
    noncurrent_version_days=cfg.buckets.noncurrent_version_retention_days,
    access_log_sources=[
        AccessLogSource(bucket_name=logs.bucket_name, bucket_arn=logs.arn, prefix="logs/"),
        AccessLogSource(bucket_name=data.bucket_name, bucket_arn=data.arn, prefix="data/")],
    alb_logs=alb_logs if cfg.ui.load_balanced else None,
    account_id=account_id,
    protect=cfg.production))

# The UI's load balancer (ui.exposure internal/internet): the controller, the
# certificate, then the chart's Ingress; the DNS alias once the ALB exists.
ui_values: dict | None = None
before_airflow: list[pulumi.Resource] = []
if cfg.ui.load_balanced:
    controller = LoadBalancerController(f"{prefix}-lb-controller", LoadBalancerControllerArgs(
        cluster_name=cluster.cluster_name,
        region=cfg.region,
        account_id=account_id,
        partition=partition,
        vpc_id=network.vpc_id,
        oidc_provider_arn=cluster.oidc_provider_arn,
        oidc_provider_url=cluster.oidc_provider_url,
        provider=cluster.provider,
        node_selector={NODE_GROUP_LABEL: "system"}))
    before_airflow.append(controller.release)
    certificate_arn: pulumi.Input[str] = cfg.ui.certificate_arn
    if cfg.ui.creates_certificate:
        certificate = UiCertificate(f"{prefix}-ui-certificate", UiCertificateArgs(
            hostname=cfg.ui.hostname, hosted_zone_id=cfg.ui.hosted_zone_id))
        certificate_arn = certificate.certificate_arn
    # The ALB checks it may write when logging is turned on: policy first.
    before_airflow.append(access_logs.policy)
    ui_values = alb_ingress_values(
        exposure=cfg.ui.exposure, hostname=cfg.ui.hostname, certificate_arn=certificate_arn,
        allowed_cidrs=cfg.ui.allowed_cidrs, alb_name=load_balancer_name(cfg.cluster.name),
        deletion_protection=cfg.production, access_logs_bucket=access_logs.bucket_name,
        access_logs_prefix=alb_logs.prefix)
# Connections and Variables of the stack config; a production secret removed
# from config stays restorable for a week, others go at once (components/secrets.py).
secrets = AirflowSecrets(f"{prefix}-secrets", AirflowSecretsArgs(
    prefix=secrets_prefix(cfg.stack), region=cfg.region, account_id=account_id, partition=partition,
    connections=cfg.secrets.connections, variables=cfg.secrets.variables,
    kms_key_arn=key.key_arn, recovery_window_days=7 if cfg.production else 0))
emr = None
if cfg.emr_serverless.enabled:
    e = cfg.emr_serverless
    emr = EmrServerless(f"{prefix}-spark", EmrServerlessArgs(
        release_label=e.release_label, max_vcpu=e.max_vcpu, max_memory_gib=e.max_memory_gib,
        idle_timeout_minutes=e.idle_timeout_minutes,
        vpc_id=network.vpc_id, subnet_ids=network.private_subnet_ids, region=cfg.region,
        data_bucket_arn=data.arn, logs_bucket_name=logs.bucket_name, logs_bucket_arn=logs.arn,
        kms_key_arn=key.key_arn, read_prefixes=e.read_prefixes, write_prefixes=e.write_prefixes,
        script_prefix=EMR_SCRIPT_PREFIX))

# The alarm topic has a fixed name, so Airflow gets its ARN before Monitoring
# exists; Monitoring follows the release, whose Ingress makes the UI's ALB.
alerts_topic = f"{prefix}-alerts"
alerts_topic_arn = pulumi.Output.concat("arn:", partition, ":sns:", cfg.region, ":", account_id, ":",
                                        alerts_topic)

airflow = Airflow(f"{prefix}-airflow", AirflowArgs(
    provider=cluster.provider,
    oidc_provider_arn=cluster.oidc_provider_arn,
    oidc_provider_url=cluster.oidc_provider_url,
    region=cfg.region,
    settings=cfg.airflow,
    dags=cfg.dags,
    metadata_connection_url=database.connection_url,
    metadata_server_tls=not in_cluster_db,
    metadata_server_ca=None if isinstance(database, InClusterPostgres) else database.ca_certificate,
    logs_bucket_name=logs.bucket_name,
    logs_bucket_arn=logs.arn,
    data_bucket_name=data.bucket_name,
    data_bucket_arn=data.arn,
    kms_key_arn=key.key_arn,
    system_node_selector={NODE_GROUP_LABEL: "system"},
    tasks_node_selector={NODE_GROUP_LABEL: "tasks"},
    tasks_taint_key=TASKS_TAINT_KEY,
    connections_prefix=secrets.connections_prefix,
    variables_prefix=secrets.variables_prefix,
    secrets_read_arns=secrets.read_arns,
    extra_values=ui_values,
    release_depends_on=before_airflow,
    sso=cfg.sso,
    extra_env=airflow_env(topic_arn=alerts_topic_arn),
    alerts_topic_arn=alerts_topic_arn,
    worker_statements=emr.task_statements if emr else (),
    worker_variables={"emr_serverless_application_id": emr.application_id,
                      "emr_serverless_execution_role_arn": emr.execution_role_arn} if emr else {}))

if cfg.ui.load_balanced and cfg.ui.hosted_zone_id:
    UiDnsRecord(f"{prefix}-ui-dns", UiDnsRecordArgs(
        hostname=cfg.ui.hostname, hosted_zone_id=cfg.ui.hosted_zone_id,
        load_balancer_name=load_balancer_name(cfg.cluster.name), after=[airflow.release]))

monitoring = Monitoring(f"{prefix}-monitoring", MonitoringArgs(
    settings=cfg.monitoring,
    topic_name=alerts_topic,
    stack=cfg.stack,
    region=cfg.region,
    account_id=account_id,
    partition=partition,
    kms_key_arn=key.key_arn,
    cluster_name=cluster.cluster_name,
    container_log_group_name=container_log_group,
    metrics_namespace=f"{cfg.project}/{cfg.stack}",
    provider=cluster.provider,
    oidc_provider_arn=cluster.oidc_provider_arn,
    oidc_provider_url=cluster.oidc_provider_url,
    node_selector={NODE_GROUP_LABEL: "system"},
    database_identifier=None if in_cluster_db else database_id,
    database_instance_class=cfg.database.instance_class,
    database_allocated_storage_gib=cfg.database.allocated_storage_gib,
    alb_arn_suffix=aws.lb.get_load_balancer_output(
        name=load_balancer_name(cfg.cluster.name),
        opts=pulumi.InvokeOutputOptions(depends_on=[airflow.release])).arn_suffix
    if cfg.ui.load_balanced else None,
    protect=cfg.production))

pulumi.export("clusterName", cluster.cluster_name)
pulumi.export("kubeconfig", cluster.kubeconfig)
pulumi.export("oidcProviderArn", cluster.oidc_provider_arn)
pulumi.export("vpcId", network.vpc_id)
pulumi.export("privateSubnetIds", network.private_subnet_ids)
pulumi.export("publicSubnetIds", network.public_subnet_ids)
pulumi.export("kubectlSetupCommand",
              f"aws eks update-kubeconfig --region {cfg.region} --name {cfg.cluster.name}")
pulumi.export("databaseEndpoint", database.endpoint)
pulumi.export("logsBucket", logs.bucket_name)
pulumi.export("dataBucket", data.bucket_name)
pulumi.export("accessLogsBucket", access_logs.bucket_name)
pulumi.export("alertsTopicArn", monitoring.topic_arn)
pulumi.export("dashboardName", monitoring.dashboard_name)
pulumi.export("portForwardCommand", airflow.port_forward_command)
pulumi.export("uiUrl", f"https://{cfg.ui.hostname}" if cfg.ui.load_balanced else airflow.ui_url)
pulumi.export("airflowAdminUsername", cfg.airflow.admin_username)
pulumi.export("airflowAdminPassword", airflow.admin_password)
pulumi.export("dagsRepo", without_userinfo(cfg.dags.repo))
pulumi.export("dagsRevision", cfg.dags.revision)
pulumi.export("connectionsPrefix", secrets.connections_prefix)
pulumi.export("variablesPrefix", secrets.variables_prefix)
if emr:
    pulumi.export("emrServerlessApplicationId", emr.application_id)
    pulumi.export("emrServerlessExecutionRoleArn", emr.execution_role_arn)
