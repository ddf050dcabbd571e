"""AlbAccessLogs: the S3 bucket the UI's Application Load Balancer writes its access logs to.

Creates a bucket and, as separate resources:
- all four Block Public Access flags and object ownership ``BucketOwnerEnforced``;
- default encryption SSE-S3 (AES256): the only one ALB log delivery supports
  (not SSE-KMS, so not the stack's other buckets);
- a lifecycle rule expiring logs after ``retention_days`` (and incomplete uploads);
- a bucket policy that denies requests without TLS and lets Elastic Load
  Balancing write only ``<prefix>/AWSLogs/<this account>/*``: the region's
  ELB account (regions before August 2022) and the log-delivery service
  principal (newer regions), as the ALB guide documents.

The issue asks for the logs bucket; this is its own SSE-S3 bucket because
the logs bucket is SSE-KMS. ``force_destroy`` only outside production.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.iam import Condition, Principal, Statement, policy_document

ALB_LOG_PREFIX = "alb"
ELB_LOG_DELIVERY = "logdelivery.elasticloadbalancing.amazonaws.com"


@dataclass(frozen=True, kw_only=True)
class AlbAccessLogsArgs:
    """Inputs of :class:`AlbAccessLogs`."""

    region: str
    """Region of the load balancer (its ELB account writes the logs)."""
    retention_days: int
    """Days before access logs expire."""
    protect: bool = False
    """Production: protect=True and no force_destroy."""


class AlbAccessLogs(pulumi.ComponentResource):
    """A private SSE-S3 bucket that only ALB log delivery writes to."""

    bucket_name: pulumi.Output[str]
    prefix: str
    policy: aws.s3.BucketPolicy

    def __init__(self, name: str, args: AlbAccessLogsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("airflow-eks:index:AlbAccessLogs", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        invoke = pulumi.InvokeOutputOptions(parent=self)

        bucket = aws.s3.Bucket(
            f"{name}-bucket", force_destroy=not args.protect,
            tags={"airflow-eks/purpose": "alb-access-logs"},
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect))
        public_block = aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access-block", bucket=bucket.id,
            block_public_acls=True, block_public_policy=True,
            ignore_public_acls=True, restrict_public_buckets=True, opts=child)
        aws.s3.BucketOwnershipControls(
            f"{name}-ownership", bucket=bucket.id,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"), opts=child)
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption", bucket=bucket.id,
            rules=[aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                apply_server_side_encryption_by_default=aws.s3.
                BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                    sse_algorithm="AES256"))],
            opts=child)
        everything = aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix="")
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle", bucket=bucket.id,
            rules=[aws.s3.BucketLifecycleConfigurationRuleArgs(
                id="expire-access-logs", status="Enabled", filter=everything,
                expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=args.retention_days),
                abort_incomplete_multipart_upload=aws.s3.
                BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(days_after_initiation=7))],
            opts=child)

        account = aws.get_caller_identity_output(opts=invoke).account_id
        elb_account = aws.elb.get_service_account_output(region=args.region, opts=invoke).arn
        log_objects = pulumi.Output.concat(bucket.arn, f"/{ALB_LOG_PREFIX}/AWSLogs/", account, "/*")
        document = policy_document([
            Statement(sid="DenyInsecureTransport", effect="Deny", actions=["s3:*"],
                      principals=[Principal(type="*", identifiers=["*"])],
                      resources=[bucket.arn, pulumi.Output.concat(bucket.arn, "/*")],
                      conditions=[Condition(test="Bool", variable="aws:SecureTransport", values=["false"])]),
            Statement(sid="AlbLogDeliveryRegionalAccount", actions=["s3:PutObject"],
                      principals=[Principal(type="AWS", identifiers=[elb_account])], resources=[log_objects]),
            Statement(sid="AlbLogDeliveryService", actions=["s3:PutObject"],
                      principals=[Principal(type="Service", identifiers=[ELB_LOG_DELIVERY])],
                      resources=[log_objects]),
        ], parent=self)
        self.policy = aws.s3.BucketPolicy(
            f"{name}-policy", bucket=bucket.id, policy=document.json,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[public_block]))

        self.bucket_name = bucket.bucket
        self.prefix = ALB_LOG_PREFIX
        self.register_outputs({"bucketName": self.bucket_name})
