"""Bucket: a private, encrypted, versioned S3 bucket (used for task logs and data).

Creates the bucket and, as separate resources:
- all four Block Public Access flags;
- object ownership ``BucketOwnerEnforced`` (ACLs off);
- default encryption SSE-KMS with the stack's key and an S3 Bucket Key (the
  Bucket Key cuts KMS requests, and so their cost, by about 99%; a
  customer-managed key gives a key policy and a CloudTrail trail per decrypt,
  which SSE-S3 does not);
- versioning;
- lifecycle rules: current objects expire after ``expire_after_days`` (task
  logs), noncurrent versions expire, incomplete multipart uploads are aborted
  after 7 days;
- a bucket policy that denies every request made without TLS.

``force_destroy`` only outside production; ``protect=True`` in production.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.iam import Condition, Principal, Statement, policy_document

ABORT_MULTIPART_DAYS = 7


@dataclass(frozen=True, kw_only=True)
class BucketArgs:
    """Inputs of :class:`Bucket`."""

    purpose: str
    """What the bucket holds, for its tags (``logs``, ``data``)."""
    kms_key_arn: pulumi.Input[str]
    """Key of the default SSE-KMS encryption."""
    noncurrent_version_days: int
    """Days before noncurrent versions expire."""
    expire_after_days: int | None = None
    """Days before current objects expire; None keeps them."""
    protect: bool = False
    """Production: protect=True and no force_destroy."""


class Bucket(pulumi.ComponentResource):
    """A locked-down S3 bucket."""

    bucket_name: pulumi.Output[str]
    arn: pulumi.Output[str]

    def __init__(self, name: str, args: BucketArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("airflow-eks:index:Bucket", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

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
                    sse_algorithm="aws:kms", kms_master_key_id=args.kms_key_arn),
                bucket_key_enabled=True)],
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

        tls_only = policy_document([Statement(
            sid="DenyInsecureTransport",
            effect="Deny",
            actions=["s3:*"],
            principals=[Principal(type="*", identifiers=["*"])],
            resources=[bucket.arn, pulumi.Output.concat(bucket.arn, "/*")],
            conditions=[Condition(test="Bool", variable="aws:SecureTransport", values=["false"])],
        )], parent=self)
        aws.s3.BucketPolicy(f"{name}-policy", bucket=bucket.id, policy=tls_only.json,
                            opts=pulumi.ResourceOptions(parent=self, depends_on=[public_block]))

        self.bucket_name = bucket.bucket
        self.arn = bucket.arn
        self.register_outputs({"bucketName": self.bucket_name, "arn": self.arn})
