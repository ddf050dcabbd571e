"""EncryptionKey: a customer-managed KMS key with yearly rotation and an alias.

Creates the key and its alias ``alias/<name>``. One key per stack encrypts the
EKS secrets envelope, RDS storage and Performance Insights, the logs and data
buckets, the Secrets Manager secrets, the stack's CloudWatch log groups and its
alarm topic. One key instead of one per service keeps dev within its cost
target ($1/month per key). The account root administers it, as in the KMS
default key policy (IAM policies grant the roles their use); the key policy
names the two services that use it without a role: CloudWatch Logs, for this
stack's log groups only, and CloudWatch alarms publishing to the topic.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.iam import Condition, Principal, Statement, policy_document


@dataclass(frozen=True, kw_only=True)
class EncryptionKeyArgs:
    """Inputs of :class:`EncryptionKey`."""

    description: str
    """What the key protects, shown in the KMS console."""
    region: str
    """Region whose CloudWatch Logs service may use the key."""
    account_id: pulumi.Input[str]
    """This account: its root administers the key; log groups are in it."""
    partition: pulumi.Input[str]
    """AWS partition of the ARNs (``aws``, ``aws-cn``, ``aws-us-gov``)."""
    log_group_names: tuple[str, ...]
    """Names (``*`` wildcards allowed) of this stack's log groups: the only ones
    CloudWatch Logs may use the key for."""
    protect: bool
    """Protect the key from deletion (production)."""
    deletion_window_days: int = 30
    """Waiting period before a scheduled deletion takes effect."""


class EncryptionKey(pulumi.ComponentResource):
    """A rotating symmetric KMS key for the stack's data at rest."""

    key_arn: pulumi.Output[str]
    """ARN of the key."""
    key_id: pulumi.Output[str]
    """ID of the key."""

    def __init__(self, name: str, args: EncryptionKeyArgs,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("airflow-eks:index:EncryptionKey", name, None, opts)
        if not args.log_group_names:
            raise ValueError("EncryptionKeyArgs.log_group_names: name this stack's log groups")
        root = pulumi.Output.concat("arn:", args.partition, ":iam::", args.account_id, ":root")
        # Not log-group:*: another stack's or team's group in this account may not
        # borrow this stack's key.
        log_groups = [pulumi.Output.concat("arn:", args.partition, ":logs:", args.region, ":",
                                           args.account_id, ":log-group:", group)
                      for group in args.log_group_names]
        policy = policy_document([
            # The account root keeps administration, as in the KMS default key policy;
            # without it the key becomes unmanageable. IAM policies grant the rest.
            Statement(sid="AccountAdministration", actions=["kms:*"], resources=["*"],
                      principals=[Principal(type="AWS", identifiers=[root])]),
            Statement(sid="CloudWatchLogs",
                      actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*",
                               "kms:GenerateDataKey*", "kms:Describe*"],
                      resources=["*"],
                      principals=[Principal(type="Service",
                                            identifiers=[f"logs.{args.region}.amazonaws.com"])],
                      conditions=[Condition(test="ArnLike",
                                            variable="kms:EncryptionContext:aws:logs:arn",
                                            values=log_groups)]),
            # CloudWatch alarms publish to the stack's SNS topic, which this key
            # encrypts; the AWS-managed aws/sns key could not grant this.
            Statement(sid="CloudWatchAlarmsToEncryptedTopic",
                      actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                      resources=["*"],
                      principals=[Principal(type="Service", identifiers=["cloudwatch.amazonaws.com"])]),
        ], parent=self)

        key = aws.kms.Key(
            f"{name}-key",
            description=args.description,
            enable_key_rotation=True,
            rotation_period_in_days=365,
            deletion_window_in_days=args.deletion_window_days,
            policy=policy.json,
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        )
        aws.kms.Alias(f"{name}-alias", name=f"alias/{name}", target_key_id=key.key_id,
                      opts=pulumi.ResourceOptions(parent=self))
        self.key_arn = key.arn
        self.key_id = key.key_id
        self.register_outputs({"keyArn": self.key_arn, "keyId": self.key_id})
