"""EmrServerless: a Spark application on EMR Serverless that DAGs submit jobs to.

Airflow orchestrates the heavy compute; it does not host it. Creates:
- a security group for the application's workers in the private subnets: no
  ingress, egress HTTPS only (S3, the EMR and STS endpoints through the NAT);
- the EMR Serverless application: Spark, a pinned release, arm64 (Graviton),
  auto-start on job submission, auto-stop after a few idle minutes (so its
  idle cost is zero), maximum capacity capped in vCPU and memory (the cost
  bound), its logs in the logs bucket under ``emr-serverless/``, encrypted
  with the stack's key;
- the job execution role, assumable only by EMR Serverless on behalf of this
  application (``aws:SourceArn``), that may read the configured data-bucket
  prefixes and the script prefix, read, write and delete the configured write
  prefixes, and write its logs; nothing else.

It also builds, as :attr:`task_statements`, what the Airflow task pods' IRSA
role needs to run jobs here: start, get and cancel job runs of this
application only, get (and start) the application, and pass this execution
role only to EMR Serverless (``iam:PassedToService``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.iam import Condition, Principal, Statement, StatementArgs, policy_document

SERVICE = "emr-serverless.amazonaws.com"
LOGS_PREFIX = "emr-serverless"


@dataclass(frozen=True, kw_only=True)
class EmrServerlessArgs:
    """Inputs of :class:`EmrServerless`."""

    release_label: str
    """Pinned EMR release, e.g. ``emr-7.12.0``."""
    max_vcpu: int
    """Most vCPUs the workers may hold at once (cost bound)."""
    max_memory_gib: int
    """Most memory the workers may hold at once, in GiB (cost bound)."""
    idle_timeout_minutes: int
    """Idle minutes before the application stops."""
    vpc_id: pulumi.Input[str]
    """VPC of the workers' security group."""
    subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]]
    """Private subnets the workers run in."""
    region: str
    """Region of the buckets (the KMS ``kms:ViaService`` condition)."""
    data_bucket_arn: pulumi.Input[str]
    """ARN of the data bucket jobs read and write."""
    logs_bucket_name: pulumi.Input[str]
    """Bucket the application's logs go to."""
    logs_bucket_arn: pulumi.Input[str]
    """ARN of that bucket."""
    kms_key_arn: pulumi.Input[str]
    """The buckets' SSE-KMS key."""
    read_prefixes: Sequence[str]
    """Data-bucket prefixes jobs may read (each ends with ``/``)."""
    write_prefixes: Sequence[str]
    """Data-bucket prefixes jobs may read, write and delete."""
    script_prefix: str
    """Data-bucket prefix of the job scripts: read-only to jobs."""


def _objects(bucket_arn: pulumi.Input[str], prefixes: Sequence[str]) -> list[pulumi.Output[str]]:
    return [pulumi.Output.concat(bucket_arn, "/", p, "*") for p in prefixes]


def execution_role_statements(args: EmrServerlessArgs) -> list[pulumi.Output[StatementArgs]]:
    """The job execution role: the listed prefixes of the data bucket, its own logs prefix."""
    readable = sorted({*args.read_prefixes, args.script_prefix})
    writable = sorted(set(args.write_prefixes))
    return [
        Statement(sid="ListJobPrefixes", actions=["s3:ListBucket"], resources=[args.data_bucket_arn],
                  conditions=[Condition(test="StringLike", variable="s3:prefix",
                                        values=[f"{p}*" for p in sorted({*readable, *writable})])]),
        Statement(sid="ReadInputsAndScripts", actions=["s3:GetObject"],
                  resources=_objects(args.data_bucket_arn, readable)),
        Statement(sid="WriteOutputs", actions=["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                  resources=_objects(args.data_bucket_arn, writable)),
        Statement(sid="WriteOwnLogs", actions=["s3:PutObject", "s3:GetObject"],
                  resources=_objects(args.logs_bucket_arn, [f"{LOGS_PREFIX}/"])),
        Statement(sid="UseBucketKeyThroughS3", actions=["kms:Decrypt", "kms:GenerateDataKey"],
                  resources=[args.kms_key_arn],
                  conditions=[Condition(test="StringEquals", variable="kms:ViaService",
                                        values=[f"s3.{args.region}.amazonaws.com"])]),
    ]


def task_statements(application_arn: pulumi.Input[str],
                    execution_role_arn: pulumi.Input[str]) -> list[pulumi.Output[StatementArgs]]:
    """For the Airflow task pods: run jobs on this application only. The amazon
    provider's EmrServerlessStartJobOperator reads the application's state and
    starts it when auto-stop has stopped it, so Get/StartApplication as well."""
    return [
        Statement(sid="EmrServerlessApplication",
                  actions=["emr-serverless:GetApplication", "emr-serverless:StartApplication"],
                  resources=[application_arn]),
        Statement(sid="EmrServerlessJobRuns",
                  actions=["emr-serverless:StartJobRun", "emr-serverless:GetJobRun",
                           "emr-serverless:CancelJobRun"],
                  resources=[application_arn,
                             pulumi.Output.concat(application_arn, "/jobruns/*")]),
        Statement(sid="PassJobExecutionRole", actions=["iam:PassRole"],
                  resources=[execution_role_arn],
                  conditions=[Condition(test="StringEquals", variable="iam:PassedToService",
                                        values=[SERVICE])]),
    ]


class EmrServerless(pulumi.ComponentResource):
    """An EMR Serverless Spark application and its job execution role."""

    application_id: pulumi.Output[str]
    """ID of the application (what a job run names)."""
    application_arn: pulumi.Output[str]
    """ARN of the application."""
    execution_role_arn: pulumi.Output[str]
    """ARN of the job execution role (passed with each job run)."""
    task_statements: list[pulumi.Output[StatementArgs]]
    """Statements for the Airflow task pods' role: run jobs here, nowhere else."""

    def __init__(self, name: str, args: EmrServerlessArgs,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("airflow-eks:index:EmrServerless", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        sg = aws.ec2.SecurityGroup(
            f"{name}-sg", vpc_id=args.vpc_id,
            description="EMR Serverless workers: no ingress, HTTPS egress only", opts=child)
        aws.vpc.SecurityGroupEgressRule(
            f"{name}-https-out", security_group_id=sg.id, ip_protocol="tcp",
            from_port=443, to_port=443, cidr_ipv4="0.0.0.0/0",
            description="S3, EMR and STS endpoints (through the NAT)", opts=child)

        app = aws.emrserverless.Application(
            f"{name}-app",
            name=name,
            type="spark",
            release_label=args.release_label,
            architecture="ARM64",
            auto_start_configuration=aws.emrserverless.ApplicationAutoStartConfigurationArgs(
                enabled=True),
            auto_stop_configuration=aws.emrserverless.ApplicationAutoStopConfigurationArgs(
                enabled=True, idle_timeout_minutes=args.idle_timeout_minutes),
            maximum_capacity=aws.emrserverless.ApplicationMaximumCapacityArgs(
                cpu=f"{args.max_vcpu} vCPU", memory=f"{args.max_memory_gib} GB"),
            network_configuration=aws.emrserverless.ApplicationNetworkConfigurationArgs(
                subnet_ids=args.subnet_ids, security_group_ids=[sg.id]),
            monitoring_configuration=aws.emrserverless.ApplicationMonitoringConfigurationArgs(
                s3_monitoring_configuration=(
                    aws.emrserverless.ApplicationMonitoringConfigurationS3MonitoringConfigurationArgs(
                        log_uri=pulumi.Output.concat("s3://", args.logs_bucket_name,
                                                     f"/{LOGS_PREFIX}/"),
                        encryption_key_arn=args.kms_key_arn))),
            opts=child,
        )

        # EMR Serverless assumes the role for this application's job runs only.
        trust = policy_document([Statement(
            actions=["sts:AssumeRole"],
            principals=[Principal(type="Service", identifiers=[SERVICE])],
            conditions=[Condition(test="ArnEquals", variable="aws:SourceArn", values=[app.arn])],
        )], parent=self)
        role = aws.iam.Role(
            f"{name}-job-role", assume_role_policy=trust.json,
            description=f"EMR Serverless job execution role of {name}",
            max_session_duration=3600, opts=child)
        aws.iam.RolePolicy(
            f"{name}-job-policy", role=role.id,
            policy=policy_document(execution_role_statements(args), parent=self).json, opts=child)

        self.application_id = app.id
        self.application_arn = app.arn
        self.execution_role_arn = role.arn
        self.task_statements = task_statements(app.arn, role.arn)
        self.register_outputs({"applicationId": self.application_id,
                               "applicationArn": self.application_arn,
                               "executionRoleArn": self.execution_role_arn})
