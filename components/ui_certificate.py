"""UiCertificate: the TLS certificate of the UI's load balancer.

Creates an ACM certificate for ``ui.hostname`` with DNS validation, the
validation record in the ``ui.hostedZoneId`` zone, and the validation
resource that waits until ACM has issued it. The Airflow release (and so the
Ingress the controller turns into an HTTPS listener) depends on the issued
certificate, not on a pending one.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws


@dataclass(frozen=True, kw_only=True)
class UiCertificateArgs:
    """Inputs of :class:`UiCertificate`."""

    hostname: str
    """The UI's DNS name (the certificate's only name)."""
    hosted_zone_id: str
    """Route 53 zone that holds ``hostname`` and receives the validation record."""


class UiCertificate(pulumi.ComponentResource):
    """DNS-validated ACM certificate for the UI."""

    certificate_arn: pulumi.Output[str]
    """ARN of the certificate, known once it is issued."""

    def __init__(self, name: str, args: UiCertificateArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("airflow-eks:index:UiCertificate", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        certificate = aws.acm.Certificate(
            f"{name}-certificate",
            domain_name=args.hostname,
            validation_method="DNS",
            options=aws.acm.CertificateOptionsArgs(certificate_transparency_logging_preference="ENABLED"),
            opts=child)
        # One name, so exactly one validation option.
        option = certificate.domain_validation_options.apply(lambda options: options[0])
        record = aws.route53.Record(
            f"{name}-validation-record",
            zone_id=args.hosted_zone_id,
            name=option.apply(lambda o: o.resource_record_name or ""),
            type=option.apply(lambda o: o.resource_record_type or "CNAME"),
            records=[option.apply(lambda o: o.resource_record_value or "")],
            ttl=300,
            # ACM reuses the same record for a re-issued certificate of this name.
            allow_overwrite=True,
            opts=child)
        validation = aws.acm.CertificateValidation(
            f"{name}-validation",
            certificate_arn=certificate.arn,
            validation_record_fqdns=[record.fqdn],
            opts=child)
        self.certificate_arn = validation.certificate_arn
        self.register_outputs({"certificateArn": self.certificate_arn})
