"""Single sign-on (issue 14 §4): sso.* checked before any resource; the API
server's webserver_config.py is helm/api_server_config.py as is; the client
secret and the role mapping reach it through a Kubernetes Secret only."""

from __future__ import annotations

import json

import pytest

from components.airflow import API_SERVER_CONFIG, SSO_SECRET
from components.config import ConfigError
from plan.engine import Secret

P = "airflow-eks:"
SECRET = "sso-client-secret-value-do-not-leak"
SECRET_SET = Secret(SECRET)  # as `pulumi config set --secret` stores it
SSO = {P + "sso.issuerUrl": "https://login.example.com/tenant/v2.0", P + "sso.clientId": "airflow-client",
       P + "sso.clientSecret": SECRET_SET,
       P + "sso.roleMapping": ["airflow-admins=Admin", "data-team=User", "analysts=Viewer"]}
INTERNET = {P + "ui.exposure": "internet", P + "ui.hostname": "airflow.example.com",
            P + "ui.hostedZoneId": "Z0123456789EXAMPLE", P + "ui.allowedCidrs": ["0.0.0.0/0"]}

# (overrides, key named, fragment of what is allowed)
BAD_INPUTS = [
    ({P + "sso.issuerUrl": SSO[P + "sso.issuerUrl"]}, P + "sso.clientId", "half-configured (sso.issuerUrl set)"),
    ({P + "sso.clientId": "x", P + "sso.clientSecret": SECRET_SET}, P + "sso.issuerUrl", "half-configured"),
    ({**SSO, P + "sso.clientSecret": ""}, P + "sso.clientSecret", "half-configured"),
    ({**SSO, P + "sso.issuerUrl": "http://login.example.com"}, P + "sso.issuerUrl", "https://"),
    ({**SSO, P + "sso.issuerUrl": "https://idp.example.com/.well-known/openid-configuration"},
     P + "sso.issuerUrl", "without /.well-known"),
    ({**SSO, P + "sso.roleMapping": ["airflow-admins=Superuser"]}, P + "sso.roleMapping", "Admin, Op, User, Viewer"),
    ({**SSO, P + "sso.roleMapping": ["airflow-admins"]}, P + "sso.roleMapping", "'<IdP group>=<role>'"),
    ({**SSO, P + "sso.roleMapping": []}, P + "sso.roleMapping", "every user would be refused"),
    ({**SSO, P + "sso.defaultRole": "Guest"}, P + "sso.defaultRole", "or empty to refuse"),
    ({P + "sso.roleMapping": ["a=Admin"]}, P + "sso.roleMapping", "only used with single sign-on"),
    (INTERNET, P + "ui.exposure", "needs single sign-on"),
]


@pytest.mark.parametrize("overrides,key,allowed", BAD_INPUTS,
                         ids=[f"{k.split(':', 1)[1]}-{i}" for i, (_, k, _) in enumerate(BAD_INPUTS)])
def test_bad_sso_input_stops_before_any_resource(engine, overrides, key, allowed):
    recording = engine.failing_program("dev", overrides)
    assert isinstance(recording.error, ConfigError), recording.error
    message = str(recording.error)
    assert message.startswith(f"invalid stack config {key} "), message
    assert allowed in message, message
    assert SECRET not in message
    assert recording.resources == [], "resources were registered before the config error"


def test_internet_with_sso_may_be_world_open(engine):
    cfg = engine.stack_config("dev", {**INTERNET, **SSO})
    assert (cfg.ui.exposure, cfg.ui.allowed_cidrs, cfg.sso.enabled) == ("internet", ("0.0.0.0/0",), True)
    assert cfg.sso.roles_by_group() == {"airflow-admins": ["Admin"], "data-team": ["User"], "analysts": ["Viewer"]}


def values_of(rec):
    return rec.one("kubernetes:helm.sh/v3:Release", "airflow-release").plain_inputs["values"]


def env_of(values):
    return {e["name"]: e for e in values["apiServer"]["env"]}


def test_without_sso_the_same_config_file_and_password_login(engine):
    values = values_of(engine.program("dev"))
    assert values["apiServer"]["apiServerConfig"] == API_SERVER_CONFIG.read_text()
    assert set(env_of(values)) == {"AIRFLOW_EKS_BREAK_GLASS_USER"}
    assert values["config"]["core"]["auth_manager"].endswith("FabAuthManager")


def test_with_sso_the_secret_reaches_the_api_server_through_a_kubernetes_secret(engine):
    rec = engine.program("prod", {**SSO, P + "sso.defaultRole": "Viewer"})
    values = values_of(rec)
    assert SECRET not in json.dumps(values), "the client secret is in the Helm values"
    env = env_of(values)
    assert env["AIRFLOW_EKS_SSO_ISSUER_URL"]["value"] == "https://login.example.com/tenant/v2.0"
    assert env["AIRFLOW_EKS_SSO_CLIENT_ID"]["value"] == "airflow-client"
    assert env["AIRFLOW_EKS_SSO_DEFAULT_ROLE"]["value"] == "Viewer"
    assert env["AIRFLOW_EKS_BREAK_GLASS_USER"]["value"] == "platform-admin"
    for name, key in (("AIRFLOW_EKS_SSO_CLIENT_SECRET", "client-secret"),
                      ("AIRFLOW_EKS_SSO_ROLE_MAPPING", "role-mapping")):
        assert env[name]["valueFrom"] == {"secretKeyRef": {"name": SSO_SECRET, "key": key}}
    (secret,) = [s for s in rec.of_type("kubernetes:core/v1:Secret") if s.name.endswith("-sso")]
    data = secret.plain_inputs["stringData"]
    assert secret.plain_inputs["metadata"]["name"] == SSO_SECRET
    assert data["client-secret"] == SECRET
    assert json.loads(data["role-mapping"]) == {"airflow-admins": ["Admin"], "analysts": ["Viewer"],
                                                "data-team": ["User"]}
    other = values_of(engine.program("prod", {**SSO, P + "sso.roleMapping": ["airflow-admins=Admin"]}))
    annotation = "airflow-eks/sso-role-mapping"
    assert values["apiServer"]["podAnnotations"][annotation] != other["apiServer"]["podAnnotations"][annotation], \
        "a new role mapping must roll the API server"
    assert SSO_SECRET and secret.urn in rec.one("kubernetes:helm.sh/v3:Release", "airflow-release").dependencies


def test_the_config_file_survives_helms_tpl():
    """The chart renders apiServerConfig through tpl: a double brace would be a template."""
    assert "{{" not in API_SERVER_CONFIG.read_text()


def test_the_redirect_uri_path_is_fabs():
    """README and Pulumi.yaml tell admins to register /auth/oauth-authorized/oidc."""
    from components.config import SSO_PROVIDER
    text = API_SERVER_CONFIG.read_text()
    assert f'SSO_PROVIDER = "{SSO_PROVIDER}"' in text
