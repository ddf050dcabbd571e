"""Bucket: a private, encrypted, versioned S3 bucket (task logs, data, access logs).

Creates the bucket and, as separate resources:
- all four Block Public Access flags;
- object ownership ``BucketOwnerEnforced`` (ACLs off);
- default encryption SSE-KMS with the stack's key and an S3 Bucket Key (the
  Bucket Key cuts KMS requests, and so their cost, by about 99%; a
  customer-managed key gives a key policy and a CloudTrail trail per decrypt,
  which SSE-S3 does not); SSE-S3 for the access-log bucket, the only default
  encryption that S3 server access logging and ALB access logging support;
- for an access-log bucket, the server access logging (FSBP S3.9) of its
  source buckets into it, one prefix per source;
- versioning;
- lifecycle rules: current objects expire after ``expire_after_days`` (task
  logs), noncurrent versions expire, incomplete multipart uploads are aborted
  after 7 days;
- a bucket policy that denies every request made without TLS and, on an
  access-log bucket, lets the S3 logging service write only the logs of the
  named source buckets of this account, each under its own prefix, and, with
  ``alb_logs``, lets Elastic Load Balancing write only
  ``<prefix>/AWSLogs/<this account>/*``: the region's ELB account (regions
  before August 2022) and the log-delivery service principal (newer regions),
  as the ALB guide documents.

One access-log bucket serves both writers: each requires SSE-S3 (not
SSE-KMS), a bucket in its region and a policy grant, and neither a bucket of
its own (the S3 and ELB guides allow any bucket of the account meeting those).

``force_destroy`` only outside production; ``protect=True`` in production.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.iam import Condition, Principal, Statement, policy_document

ABORT_MULTIPART_DAYS = 7
ELB_LOG_DELIVERY = "logdelivery.elasticloadbalancing.amazonaws.com"


@dataclass(frozen=True, kw_only=True)
class AccessLogSource:
    """A bucket whose server access logs an access-log bucket receives."""

    bucket_name: pulumi.Input[str]
    """Name of the source bucket."""
    bucket_arn: pulumi.Input[str]
    """ARN of the source bucket (the logging service's ``aws:SourceArn``)."""
    prefix: str
    """Key prefix of its logs in the access-log bucket, e.g. ``data/``."""


@dataclass(frozen=True, kw_only=True)
class AlbLogDelivery:
    """Application Load Balancers of this account that write their access logs
    into an access-log bucket."""

    region: str
    """Region of the load balancers (and of the bucket): its ELB account writes the logs."""
    prefix: str = "alb"
    """Key prefix, the load balancer's ``access_logs.s3.prefix``; ELB appends
    ``/AWSLogs/<account>/`` (so it may not contain ``AWSLogs``)."""


@dataclass(frozen=True, kw_only=True)
class BucketArgs:
    """Inputs of :class:`Bucket`."""

    purpose: str
    """What the bucket holds, for its tags (``logs``, ``data``, ``access-logs``)."""
    kms_key_arn: pulumi.Input[str] | None
    """Key of the default SSE-KMS encryption; None for SSE-S3, which only an
    access-log bucket uses."""
    noncurrent_version_days: int
    """Days before noncurrent versions expire."""
    expire_after_days: int | None = None
    """Days before current objects expire; None keeps them."""
    protect: bool = False
    """Production: protect=True and no force_destroy."""
    access_log_sources: Sequence[AccessLogSource] = ()
    """Makes this the access-log bucket of these buckets (requires SSE-S3): it
    turns their server access logging on, so that they need not exist after it."""
    alb_logs: AlbLogDelivery | None = None
    """Also lets these load balancers write their access logs into this
    access-log bucket (requires ``access_log_sources``)."""
    account_id: pulumi.Input[str] | None = None
    """This account; required with ``access_log_sources`` (``aws:SourceAccount``)."""


class Bucket(pulumi.ComponentResource):
    """A locked-down S3 bucket."""

    bucket_name: pulumi.Output[str]
    """The bucket's name."""
    arn: pulumi.Output[str]
    """The bucket's ARN."""
    policy: aws.s3.BucketPolicy
    """The bucket policy: a writer that checks its grant when logging is turned
    on (an ALB does) must wait for it."""

    def __init__(self, name: str, args: BucketArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("airflow-eks:index:Bucket", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        if args.access_log_sources and (args.kms_key_arn is not None or args.account_id is None):
            # S3 delivers server access logs only to SSE-S3 buckets.
            raise ValueError(f"{name}: an access-log bucket needs kms_key_arn=None and account_id")
        if args.kms_key_arn is None and not args.access_log_sources:
            raise ValueError(f"{name}: only an access-log bucket may do without SSE-KMS")
        if args.alb_logs is not None and (not args.access_log_sources or "AWSLogs" in args.alb_logs.prefix):
            raise ValueError(f"{name}: ALB logs go to the access-log bucket, under a prefix without AWSLogs")

        bucket = aws.s3.Bucket(
            f"{name}-bucket",
            force_destroy=not args.protect,
            tags={"airflow-eks/purpose": args.purpose},
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        )
        public_block = aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access-block", bucket=bucket.id,
            block_public_acls=True, block_public_policy=True,
            ignore_public_acls=True, restrict_public_buckets=True, opts=child)
        aws.s3.BucketOwnershipControls(
            f"{name}-ownership", bucket=bucket.id,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=child)
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption", bucket=bucket.id,
            rules=[aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                apply_server_side_encryption_by_default=aws.s3.
                BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                    sse_algorithm="aws:kms", kms_master_key_id=args.kms_key_arn)
                if args.kms_key_arn is not None else aws.s3.
                BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                    sse_algorithm="AES256"),
                bucket_key_enabled=args.kms_key_arn is not None)],
            opts=child)
        versioning = aws.s3.BucketVersioning(
            f"{name}-versioning", bucket=bucket.id,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
            opts=child)

        Rule = aws.s3.BucketLifecycleConfigurationRuleArgs
        everything = aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix="")
        rules = [
            Rule(id="abort-incomplete-multipart-uploads", status="Enabled", filter=everything,
                 abort_incomplete_multipart_upload=aws.s3.
                 BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                     days_after_initiation=ABORT_MULTIPART_DAYS)),
            Rule(id="expire-noncurrent-versions", status="Enabled", filter=everything,
                 noncurrent_version_expiration=aws.s3.
                 BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                     noncurrent_days=args.noncurrent_version_days)),
        ]
        if args.expire_after_days is not None:
            rules.append(Rule(id="expire-objects", status="Enabled", filter=everything,
                              expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(
                                  days=args.expire_after_days)))
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle", bucket=bucket.id, rules=rules,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[versioning]))

        statements = [Statement(
            sid="DenyInsecureTransport",
            effect="Deny",
            actions=["s3:*"],
            principals=[Principal(type="*", identifiers=["*"])],
            resources=[bucket.arn, pulumi.Output.concat(bucket.arn, "/*")],
            conditions=[Condition(test="Bool", variable="aws:SecureTransport", values=["false"])],
        )]
        # ACLs are off (BucketOwnerEnforced), so the logging service writes by
        # this policy: one statement per source, each only under its prefix.
        for source in args.access_log_sources:
            statements.append(Statement(
                sid=f"S3ServerAccessLogs{source.prefix.strip('/').title().replace('-', '')}",
                actions=["s3:PutObject"],
                principals=[Principal(type="Service", identifiers=["logging.s3.amazonaws.com"])],
                resources=[pulumi.Output.concat(bucket.arn, "/", source.prefix, "*")],
                conditions=[
                    Condition(test="ArnLike", variable="aws:SourceArn", values=[source.bucket_arn]),
                    Condition(test="StringEquals", variable="aws:SourceAccount",
                              values=[args.account_id or ""]),
                ],
            ))
        if args.alb_logs is not None:
            invoke = pulumi.InvokeOutputOptions(parent=self)
            elb_account = aws.elb.get_service_account_output(region=args.alb_logs.region, opts=invoke).arn
            alb_objects = pulumi.Output.concat(bucket.arn, f"/{args.alb_logs.prefix}/AWSLogs/",
                                               args.account_id or "", "/*")
            statements += [
                Statement(sid="AlbLogDeliveryRegionalAccount", actions=["s3:PutObject"],
                          principals=[Principal(type="AWS", identifiers=[elb_account])],
                          resources=[alb_objects]),
                Statement(sid="AlbLogDeliveryService", actions=["s3:PutObject"],
                          principals=[Principal(type="Service", identifiers=[ELB_LOG_DELIVERY])],
                          resources=[alb_objects]),
            ]
        policy = aws.s3.BucketPolicy(
            f"{name}-policy", bucket=bucket.id, policy=policy_document(statements, parent=self).json,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[public_block]))
        for source in args.access_log_sources:
            aws.s3.BucketLogging(
                f"{name}-from-{source.prefix.strip('/')}",
                bucket=source.bucket_name,
                target_bucket=bucket.bucket,
                target_prefix=source.prefix,
                # Delivery is checked against the policy: grant first.
                opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]),
            )

        self.bucket_name = bucket.bucket
        self.arn = bucket.arn
        self.policy = policy
        self.register_outputs({"bucketName": self.bucket_name, "arn": self.arn})
