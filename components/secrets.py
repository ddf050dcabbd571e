"""AirflowSecrets: the stack's Airflow Connections and Variables in Secrets Manager.

Creates, for every entry of the ``connections`` and ``variables`` stack config:
- a Secrets Manager secret ``<prefix>/connections/<conn_id>`` (or
  ``<prefix>/variables/<key>``), encrypted with the stack's KMS key, named
  after its id (not a list position), so adding or removing one entry touches
  only that entry's resources;
- its value as a secret version (a Pulumi secret, never plaintext in state).

Airflow's SecretsManagerBackend (configured by components/airflow.py) reads
``<prefix>/connections/<conn_id>`` and ``<prefix>/variables/<key>``. Secrets
created outside this program under the same prefixes are read the same way:
the IRSA policies (:attr:`AirflowSecrets.read_arns`) cover the prefixes, not
the secrets created here.

Deleting: production secrets wait ``recovery_window_days`` (restorable with
``aws secretsmanager restore-secret``); other stacks delete at once, so a
connection removed and added back is not refused for a week as "scheduled for
deletion".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

# Contract with the other components and the README: airflow-eks/<stack>/...
SECRETS_ROOT = "airflow-eks"


def secrets_prefix(stack: str) -> str:
    """The stack's prefix, ``airflow-eks/<stack>``."""
    return f"{SECRETS_ROOT}/{stack}"


@dataclass(frozen=True, kw_only=True)
class AirflowSecretsArgs:
    """Inputs of :class:`AirflowSecrets`."""

    prefix: str
    """``airflow-eks/<stack>``; connections and variables live under it."""
    region: str
    """Region of the secrets (the ARN patterns name it)."""
    account_id: pulumi.Input[str]
    """This account (the ARN patterns name it)."""
    partition: pulumi.Input[str]
    """AWS partition (of the ARN patterns)."""
    connections: Mapping[str, pulumi.Output[str]]
    """conn_id -> secret value (Airflow connection JSON or URI)."""
    variables: Mapping[str, pulumi.Output[str]]
    """Variable key -> secret value."""
    kms_key_arn: pulumi.Input[str]
    """The stack's key; Secrets Manager encrypts every version with it."""
    recovery_window_days: int
    """Days a deleted secret stays restorable: 7-30, or 0 to delete at once."""


class AirflowSecrets(pulumi.ComponentResource):
    """Airflow Connections and Variables as Secrets Manager secrets."""

    connections_prefix: str
    """Prefix the backend reads connections from (``<prefix>/connections``)."""
    variables_prefix: str
    """Prefix the backend reads Variables from (``<prefix>/variables``)."""
    read_arns: list[pulumi.Output[str]]
    """ARN patterns of everything under the two prefixes, for IAM."""
    secret_arns: dict[str, pulumi.Output[str]]
    """``connections/<id>`` or ``variables/<key>`` -> ARN of the secret created here."""

    def __init__(self, name: str, args: AirflowSecretsArgs,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("airflow-eks:index:AirflowSecrets", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.connections_prefix = f"{args.prefix}/connections"
        self.variables_prefix = f"{args.prefix}/variables"

        partition, account = args.partition, args.account_id
        # Secrets Manager appends "-" and 6 random characters to a secret's ARN.
        self.read_arns = [
            pulumi.Output.concat("arn:", partition, ":secretsmanager:", args.region, ":", account,
                                 f":secret:{prefix}/*")
            for prefix in (self.connections_prefix, self.variables_prefix)
        ]

        self.secret_arns = {}
        for kind, prefix, entries in (("conn", self.connections_prefix, args.connections),
                                      ("var", self.variables_prefix, args.variables)):
            for ident, value in entries.items():
                secret = aws.secretsmanager.Secret(
                    f"{name}-{kind}-{ident}",
                    name=f"{prefix}/{ident}",
                    description=f"Airflow {'connection' if kind == 'conn' else 'Variable'} {ident} "
                                "(Pulumi: airflow-eks stack config)",
                    kms_key_id=args.kms_key_arn,
                    recovery_window_in_days=args.recovery_window_days,
                    opts=child,
                )
                aws.secretsmanager.SecretVersion(
                    f"{name}-{kind}-{ident}-value",
                    secret_id=secret.id,
                    secret_string=pulumi.Output.secret(value),
                    opts=child,
                )
                self.secret_arns[f"{prefix.rsplit('/', 1)[1]}/{ident}"] = secret.arn

        self.register_outputs({
            "connectionsPrefix": self.connections_prefix,
            "variablesPrefix": self.variables_prefix,
            "readArns": self.read_arns,
            "secretArns": self.secret_arns,
        })
