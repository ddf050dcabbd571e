"""The UI's Ingress and single sign-on as the real chart renders them (issue
14 §5): the ALB annotations on the rendered Ingress, the API server's
webserver_config.py mounted from helm/api_server_config.py, and the SSO
environment read from the airflow-sso Secret."""

from __future__ import annotations

from components.airflow import API_SERVER_CONFIG, SSO_SECRET
from plan.engine import Secret
from tests.helm.render import render_stack

P = "airflow-eks:"
SSO = {P + "sso.issuerUrl": "https://login.example.com/tenant/v2.0", P + "sso.clientId": "airflow-client",
       P + "sso.clientSecret": Secret("rendered-sso-secret"), P + "sso.roleMapping": ["airflow-admins=Admin"]}


def test_the_rendered_ingress_is_the_https_only_alb(engine):
    r = render_stack(engine, "prod", SSO)
    (ingress,) = r.of("Ingress")
    a = ingress["metadata"]["annotations"]
    assert ingress["spec"]["ingressClassName"] == "alb"
    assert [rule["host"] for rule in ingress["spec"]["rules"]] == ["airflow.example.com"]
    assert a["alb.ingress.kubernetes.io/scheme"] == "internal"
    assert a["alb.ingress.kubernetes.io/ssl-redirect"] == "443"
    assert a["alb.ingress.kubernetes.io/ssl-policy"].startswith("ELBSecurityPolicy-TLS13")
    assert a["alb.ingress.kubernetes.io/inbound-cidrs"] == "10.30.0.0/16,10.100.0.0/16"
    attributes = dict(kv.split("=", 1) for kv in a["alb.ingress.kubernetes.io/load-balancer-attributes"].split(","))
    assert attributes["deletion_protection.enabled"] == "true"
    assert attributes["access_logs.s3.enabled"] == "true" and attributes["access_logs.s3.prefix"] == "alb"
    assert attributes["access_logs.s3.bucket"].startswith("airflow-eks-prod-access-logs")


def test_the_api_server_runs_the_config_file_with_sso_from_the_secret(engine):
    r = render_stack(engine, "prod", SSO)
    configs = [c for c in r.of("ConfigMap") if "webserver_config.py" in c.get("data", {})]
    assert [c["data"]["webserver_config.py"].strip() for c in configs] == [API_SERVER_CONFIG.read_text().strip()]
    (api,) = [d for d in r.of("Deployment") if d["metadata"]["name"].endswith("api-server")]
    (container,) = [c for c in api["spec"]["template"]["spec"]["containers"] if c["name"] == "api-server"]
    env = {e["name"]: e for e in container["env"]}
    assert env["AIRFLOW_EKS_SSO_CLIENT_SECRET"]["valueFrom"]["secretKeyRef"] == {"name": SSO_SECRET,
                                                                               "key": "client-secret"}
    assert env["AIRFLOW_EKS_SSO_ISSUER_URL"]["value"] == "https://login.example.com/tenant/v2.0"
    assert any(m["mountPath"].endswith("webserver_config.py") for m in container["volumeMounts"])
    assert "rendered-sso-secret" not in str(r.objects), "the client secret is in what the chart renders"
