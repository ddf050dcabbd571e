"""The UI's exposure (issue 14 §1-§3): ui.* config, checked before any
resource; with ui.exposure internal, the Load Balancer Controller before the
Airflow release, a DNS-validated certificate, the chart's API-server Ingress
as an HTTPS-only ALB, and the alias record to that ALB."""

from __future__ import annotations

import json

import pytest

from components.config import ConfigError, check_ui_hostname_in_zone, world_open
from components.lb_controller import HEALTH_PATH, SSL_POLICY, alb_ingress_values, load_balancer_name

P = "airflow-eks:"
INTERNAL = {P + "ui.exposure": "internal", P + "ui.hostname": "airflow.example.com",
            P + "ui.hostedZoneId": "Z0123456789EXAMPLE"}

# (stack, overrides, key named, fragment of what is allowed)
BAD_INPUTS = [
    ("dev", {P + "ui.exposure": "public"}, P + "ui.exposure", "portForward, internal, internet"),
    ("dev", {P + "ui.exposure": "internet", P + "ui.hostname": "airflow.example.com",
             P + "ui.hostedZoneId": "Z0123456789EXAMPLE"}, P + "ui.exposure", "needs single sign-on"),
    ("dev", {**INTERNAL, P + "ui.allowedCidrs": ["0.0.0.0/0"]}, P + "ui.allowedCidrs", "whole Internet"),
    ("dev", {**INTERNAL, P + "ui.allowedCidrs": ["0.0.0.0/1", "128.0.0.0/1"]}, P + "ui.allowedCidrs",
     "whole Internet"),
    ("dev", {**INTERNAL, P + "ui.allowedCidrs": ["10.0.0.0/8", "::/0"]}, P + "ui.allowedCidrs",
     "whole Internet"),
    ("dev", {**INTERNAL, P + "ui.allowedCidrs": ["10.0.0.0/7"]}, P + "ui.allowedCidrs", "shorter than /8"),
    ("dev", {**INTERNAL, P + "ui.allowedCidrs": ["10.0.0.1/16"]}, P + "ui.allowedCidrs", "not a CIDR"),
    ("dev", {**INTERNAL, P + "ui.hostname": ""}, P + "ui.hostname", "required with ui.exposure internal"),
    ("dev", {**INTERNAL, P + "ui.hostname": "airflow_ui.example.com"}, P + "ui.hostname", "DNS name"),
    ("dev", {**INTERNAL, P + "ui.hostname": "airflow.example.org"}, P + "ui.hostname",
     "inside hosted zone Z0123456789EXAMPLE (example.com)"),
    ("dev", {**INTERNAL, P + "ui.hostedZoneId": "example.com"}, P + "ui.hostedZoneId", "hosted zone id"),
    ("dev", {P + "ui.exposure": "internal", P + "ui.hostname": "airflow.example.com"}, P + "ui.hostedZoneId",
     "needs a certificate"),
    ("dev", {**INTERNAL, P + "ui.certificateArn":
             "arn:aws:acm:eu-west-1:123456789012:certificate/12345678-1234-1234-1234-123456789012"},
     P + "ui.certificateArn", "aws:region us-east-1"),
    ("dev", {P + "ui.hostname": "airflow.example.com"}, P + "ui.hostname", "only used with ui.exposure"),
    ("dev", {P + "ui.allowedCidrs": ["10.8.0.0/16"]}, P + "ui.allowedCidrs", "only used with ui.exposure"),
]


@pytest.mark.parametrize("stack,overrides,key,allowed", BAD_INPUTS,
                         ids=[f"{k.split(':', 1)[1]}-{i}" for i, (_, _, k, _) in enumerate(BAD_INPUTS)])
def test_bad_ui_input_stops_before_any_resource(engine, stack, overrides, key, allowed):
    recording = engine.failing_program(stack, overrides)
    assert isinstance(recording.error, ConfigError), recording.error
    message = str(recording.error)
    assert message.startswith(f"invalid stack config {key} "), message
    assert allowed in message, message
    assert recording.resources == [], "resources were registered before the config error"


def test_world_open_is_the_union_not_each_cidr():
    assert world_open(["0.0.0.0/1", "128.0.0.0/1"]) and world_open(["::/1", "8000::/1"])
    assert not world_open(["10.0.0.0/8", "192.168.0.0/16", "2001:db8::/32"])
    assert not world_open([])


def test_the_zone_check_accepts_the_apex_and_names_below_it(engine):
    ui = engine.stack_config("prod").ui
    check_ui_hostname_in_zone(ui, "example.com.")  # Route 53 may answer with the final dot
    with pytest.raises(ConfigError, match="ui.hostname"):
        check_ui_hostname_in_zone(ui, "ample.com")  # a suffix, but not a parent domain


def test_defaults_per_stack(engine):
    dev, prod = engine.stack_config("dev").ui, engine.stack_config("prod").ui
    assert dev.exposure == "portForward" and not dev.load_balanced
    assert (prod.exposure, prod.hostname, prod.creates_certificate) == ("internal", "airflow.example.com", True)
    assert prod.allowed_cidrs == ("10.30.0.0/16", "10.100.0.0/16")


def test_an_empty_allow_list_means_the_vpc(engine):
    ui = engine.stack_config("dev", INTERNAL).ui
    assert ui.allowed_cidrs == ("10.20.0.0/16",)


def test_port_forward_stacks_build_no_load_balancing(engine):
    rec = engine.program("dev")
    types = {r.type for r in rec.resources}
    assert not types & {"airflow-eks:index:LoadBalancerController", "aws:acm/certificate:Certificate",
                        "aws:route53/record:Record"}
    values = json.loads(json.dumps(rec.one("kubernetes:helm.sh/v3:Release", "airflow-release")
                                   .plain_inputs["values"]))
    assert not values.get("ingress", {}).get("apiServer", {}).get("enabled")
    assert rec.exports["uiUrl"] == "http://localhost:8080"


def releases(rec):
    return {r.plain_inputs["chart"]: r for r in rec.of_type("kubernetes:helm.sh/v3:Release")}


def test_the_controller_and_an_issued_certificate_come_before_the_airflow_release(engine):
    rec = engine.program("prod")
    airflow = releases(rec)["airflow"]
    controller = releases(rec)["aws-load-balancer-controller"]
    validation = rec.one("aws:acm/certificateValidation:CertificateValidation")
    assert controller.urn in airflow.dependencies and validation.urn in airflow.dependencies
    assert controller.plain_inputs["values"]["nodeSelector"] == {"airflow-eks/node-group": "system"}


def test_the_certificate_is_validated_through_its_dns_record(engine):
    rec = engine.program("prod")
    cert = rec.one("aws:acm/certificate:Certificate")
    assert cert.plain_inputs["domainName"] == "airflow.example.com"
    assert cert.plain_inputs["validationMethod"] == "DNS"
    (option,) = cert.outputs["domainValidationOptions"]
    record = rec.one("aws:route53/record:Record", "validation-record")
    assert (record.plain_inputs["zoneId"], record.plain_inputs["name"], record.plain_inputs["type"],
            record.plain_inputs["records"]) == ("Z0123456789EXAMPLE", option["resourceRecordName"], "CNAME",
                                                [option["resourceRecordValue"]])
    validation = rec.one("aws:acm/certificateValidation:CertificateValidation")
    assert validation.plain_inputs["certificateArn"] == cert.outputs["arn"]
    assert validation.plain_inputs["validationRecordFqdns"] == [record.outputs["fqdn"]]


def test_an_own_certificate_is_used_as_is(engine):
    arn = "arn:aws:acm:us-east-1:123456789012:certificate/12345678-1234-1234-1234-123456789012"
    rec = engine.program("prod", {P + "ui.certificateArn": arn})
    assert not rec.of_type("aws:acm/certificate:Certificate")
    annotations = releases(rec)["airflow"].plain_inputs["values"]["ingress"]["apiServer"]["annotations"]
    assert annotations["alb.ingress.kubernetes.io/certificate-arn"] == arn
    assert rec.of_type("aws:route53/record:Record"), "the alias record is still made"


def test_the_api_server_ingress_is_an_https_only_internal_alb(engine):
    rec = engine.program("prod")
    ingress = releases(rec)["airflow"].plain_inputs["values"]["ingress"]["apiServer"]
    assert ingress["enabled"] is True and ingress["ingressClassName"] == "alb"
    assert ingress["hosts"] == ["airflow.example.com"]
    assert (ingress["path"], ingress["pathType"]) == ("/", "Prefix")
    a = {k.removeprefix("alb.ingress.kubernetes.io/"): v for k, v in ingress["annotations"].items()}
    validation = rec.one("aws:acm/certificateValidation:CertificateValidation")
    logs_bucket = rec.one("aws:s3/bucket:Bucket", "access-logs-bucket").outputs["bucket"]
    assert a == {
        "load-balancer-name": "airflow-eks-prod-ui",
        "scheme": "internal",
        "target-type": "ip",
        "listen-ports": '[{"HTTP": 80}, {"HTTPS": 443}]',
        "ssl-redirect": "443",
        "certificate-arn": validation.outputs["certificateArn"],
        "ssl-policy": SSL_POLICY,
        "inbound-cidrs": "10.30.0.0/16,10.100.0.0/16",
        "healthcheck-path": HEALTH_PATH,
        "success-codes": "200",
        "load-balancer-attributes":
            "routing.http.drop_invalid_header_fields.enabled=true,deletion_protection.enabled=true,"
            f"access_logs.s3.enabled=true,access_logs.s3.bucket={logs_bucket},access_logs.s3.prefix=alb",
    }
    assert json.loads(a["listen-ports"]) == [{"HTTP": 80}, {"HTTPS": 443}]


def test_deletion_protection_follows_production():
    """Production is wired in (prod's Ingress above has it on); a dev ALB can be deleted."""
    values = alb_ingress_values(exposure="internal", hostname="airflow.example.com", certificate_arn="arn",
                                allowed_cidrs=("10.20.0.0/16",), alb_name="x", deletion_protection=False)
    attributes = values["ingress"]["apiServer"]["annotations"]["alb.ingress.kubernetes.io/load-balancer-attributes"]
    assert "deletion_protection.enabled=false" in attributes


def test_task_pods_keep_the_in_cluster_execution_api(engine):
    """The chart points core.execution_api_server_url at the api-server
    Service unless the values set it or give api.base_url a path."""
    config = releases(engine.program("prod")).get("airflow").plain_inputs["values"]["config"]
    assert "execution_api_server_url" not in config.get("core", {})
    assert "base_url" not in config.get("api", {})


def test_the_alias_points_at_the_controllers_alb_after_the_release(engine):
    rec = engine.program("prod")
    alias = rec.one("aws:route53/record:Record", "ui-dns-alias")
    inputs = alias.plain_inputs
    assert (inputs["zoneId"], inputs["name"], inputs["type"]) == ("Z0123456789EXAMPLE", "airflow.example.com", "A")
    (target,) = inputs["aliases"]
    name = load_balancer_name("airflow-eks-prod")
    assert target["name"].startswith(f"internal-{name}-") and target["zoneId"] == "Z35SXDOTRQ7X7K"
    assert target["evaluateTargetHealth"] is True
    assert rec.exports["uiUrl"] == "https://airflow.example.com"


def test_the_alb_name_fits_elbs_limit():
    assert load_balancer_name("airflow-eks-prod") == "airflow-eks-prod-ui"
    long = load_balancer_name("airflow-eks-a-very-long-stack-name-x")
    assert len(long) <= 32 and not long.endswith("-")
