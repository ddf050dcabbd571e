"""Typed builders for IAM policy documents (no ComponentResource here).

``aws.iam.get_policy_document_output`` takes plain strings inside its
statements. These builders accept ``pulumi.Input`` values (ARNs of resources
not created yet) and resolve them into the SDK's own argument types, so the
documents stay typed, are rendered by the provider, and are never string
templates.
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_aws as aws

StatementArgs = aws.iam.GetPolicyDocumentStatementArgs
PrincipalArgs = aws.iam.GetPolicyDocumentStatementPrincipalArgs
ConditionArgs = aws.iam.GetPolicyDocumentStatementConditionArgs


def _strings(values: Sequence[pulumi.Input[str]]) -> pulumi.Output[list[str]]:
    return pulumi.Output.all(*values).apply(lambda v: [str(x) for x in v])


def Principal(*, type: str, identifiers: Sequence[pulumi.Input[str]]) -> pulumi.Output[PrincipalArgs]:  # noqa: N802
    """A principal block: ``type`` is AWS, Service, Federated or *."""
    return _strings(identifiers).apply(lambda ids: PrincipalArgs(type=type, identifiers=ids))


def Condition(*, test: str, variable: pulumi.Input[str],  # noqa: N802
              values: Sequence[pulumi.Input[str]]) -> pulumi.Output[ConditionArgs]:
    """A condition block, e.g. StringEquals on ``<issuer>:sub``."""
    return pulumi.Output.all(pulumi.Output.from_input(variable), _strings(values)).apply(
        lambda a: ConditionArgs(test=test, variable=str(a[0]), values=a[1]))


def Statement(*, actions: Sequence[str], resources: Sequence[pulumi.Input[str]] = (),  # noqa: N802
              principals: Sequence[pulumi.Output[PrincipalArgs]] = (),
              conditions: Sequence[pulumi.Output[ConditionArgs]] = (),
              sid: str | None = None, effect: str = "Allow") -> pulumi.Output[StatementArgs]:
    """One statement. ``resources`` empty means none (trust policies)."""
    return pulumi.Output.all(_strings(resources), pulumi.Output.all(*principals),
                             pulumi.Output.all(*conditions)).apply(
        lambda a: StatementArgs(sid=sid, effect=effect, actions=list(actions),
                                resources=a[0] or None, principals=a[1] or None,
                                conditions=a[2] or None))


def policy_document(statements: Sequence[pulumi.Output[StatementArgs]], *,
                    parent: pulumi.Resource) -> pulumi.Output[aws.iam.GetPolicyDocumentResult]:
    """Renders the statements with the provider's getPolicyDocument."""
    return aws.iam.get_policy_document_output(
        statements=pulumi.Output.all(*statements),
        opts=pulumi.InvokeOutputOptions(parent=parent))


def service_trust_policy(service: str, *, parent: pulumi.Resource,
                         source_account: pulumi.Input[str] | None = None) -> pulumi.Output[str]:
    """Trust policy letting one AWS service principal assume a role.

    ``source_account``: for services that assume the role on behalf of a
    resource (flow logs, RDS monitoring), only on behalf of this account's
    resources (the confused-deputy guard AWS documents). EC2 instance roles
    take none: EC2 sends no ``aws:SourceAccount``."""
    conditions = [] if source_account is None else [
        Condition(test="StringEquals", variable="aws:SourceAccount", values=[source_account])]
    return policy_document([Statement(
        actions=["sts:AssumeRole"],
        principals=[Principal(type="Service", identifiers=[service])],
        conditions=conditions,
    )], parent=parent).json
