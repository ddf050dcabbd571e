"""UiDnsRecord: the UI's DNS name, an alias of the load balancer.

Creates a Route 53 alias A record ``ui.hostname`` -> the ALB that the Load
Balancer Controller created from the Airflow Ingress. The ALB is not a Pulumi
resource (the controller owns it); it is found by its fixed name
(``alb.ingress.kubernetes.io/load-balancer-name``) once the Airflow release
is in place. The controller creates the ALB within seconds of the Ingress,
long before the release's own wait (migrations, readiness) ends; should a
first `pulumi up` still find none, the next one creates the record.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws


@dataclass(frozen=True, kw_only=True)
class UiDnsRecordArgs:
    """Inputs of :class:`UiDnsRecord`."""

    hostname: str
    """The record's name."""
    hosted_zone_id: str
    """Route 53 zone of ``hostname``."""
    load_balancer_name: str
    """Name of the controller-created ALB."""
    after: Sequence[pulumi.Resource]
    """Resources that must exist before the ALB is looked up (the Airflow release)."""


class UiDnsRecord(pulumi.ComponentResource):
    """Alias record of the UI's load balancer."""

    fqdn: pulumi.Output[str]
    """The record's fully qualified name."""

    def __init__(self, name: str, args: UiDnsRecordArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("airflow-eks:index:UiDnsRecord", name, None, opts)
        alb = aws.lb.get_load_balancer_output(
            name=args.load_balancer_name,
            opts=pulumi.InvokeOutputOptions(parent=self, depends_on=list(args.after)))
        record = aws.route53.Record(
            f"{name}-alias",
            zone_id=args.hosted_zone_id,
            name=args.hostname,
            type="A",
            aliases=[aws.route53.RecordAliasArgs(name=alb.dns_name, zone_id=alb.zone_id,
                                                 evaluate_target_health=True)],
            opts=pulumi.ResourceOptions(parent=self))
        self.fqdn = record.fqdn
        self.register_outputs({"fqdn": self.fqdn})
