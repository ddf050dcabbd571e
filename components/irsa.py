"""IrsaRole: an IAM role that exactly one Kubernetes service account can assume.

Creates an IAM role whose trust policy allows only
``sts:AssumeRoleWithWebIdentity`` from the cluster's OIDC provider, with
``StringEquals`` on both ``<issuer>:sub = system:serviceaccount:<ns>:<sa>`` and
``<issuer>:aud = sts.amazonaws.com``, and an inline policy built from the
given statements. Every pod that talks to AWS gets its role from here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components.iam import Condition, Principal, Statement, StatementArgs, policy_document


@dataclass(frozen=True, kw_only=True)
class IrsaRoleArgs:
    """Inputs of :class:`IrsaRole`."""

    oidc_provider_arn: pulumi.Input[str]
    """ARN of the cluster's IAM OIDC provider."""
    oidc_provider_url: pulumi.Input[str]
    """Issuer URL of that provider, with or without ``https://``."""
    namespace: str
    """Namespace of the service account."""
    service_account: str
    """Name of the service account."""
    statements: Sequence[pulumi.Output[StatementArgs]] = ()
    """Permissions, each scoped to exact resources. Empty: no inline policy."""
    managed_policies: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """AWS-managed policies to attach, name -> ARN (only for AWS add-ons that
    publish one); each attachment is named after its policy."""


class IrsaRole(pulumi.ComponentResource):
    """IAM role for a service account (IRSA)."""

    arn: pulumi.Output[str]
    """ARN of the role."""
    name: pulumi.Output[str]
    """Name of the role."""

    def __init__(self, name: str, args: IrsaRoleArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("airflow-eks:index:IrsaRole", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        issuer = pulumi.Output.from_input(args.oidc_provider_url).apply(
            lambda url: url.removeprefix("https://"))
        subject = f"system:serviceaccount:{args.namespace}:{args.service_account}"

        trust = policy_document([Statement(
            actions=["sts:AssumeRoleWithWebIdentity"],
            principals=[Principal(type="Federated", identifiers=[args.oidc_provider_arn])],
            conditions=[
                Condition(test="StringEquals", variable=issuer.apply(lambda i: f"{i}:sub"),
                          values=[subject]),
                Condition(test="StringEquals", variable=issuer.apply(lambda i: f"{i}:aud"),
                          values=["sts.amazonaws.com"]),
            ],
        )], parent=self)
        role = aws.iam.Role(
            f"{name}-role",
            assume_role_policy=trust.json,
            description=f"IRSA role of {subject}",
            max_session_duration=3600,
            opts=child,
        )
        if args.statements:
            policy = policy_document(list(args.statements), parent=self)
            aws.iam.RolePolicy(f"{name}-policy", role=role.id, policy=policy.json, opts=child)
        for i, (policy, arn) in enumerate(args.managed_policies.items()):
            # Named after the policy, not its position (which renames on a
            # reorder). Stacks created before were "-managed-<i>", every role
            # with one policy: the alias keeps that attachment in place.
            aws.iam.RolePolicyAttachment(
                f"{name}-{policy}", role=role.name, policy_arn=arn,
                opts=pulumi.ResourceOptions(parent=self, aliases=[pulumi.Alias(name=f"{name}-managed-{i}")]))

        self.arn = role.arn
        self.name = role.name
        self.register_outputs({"arn": self.arn, "name": self.name})
