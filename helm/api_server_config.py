# The API server's webserver_config.py (chart value apiServer.apiServerConfig;
# the FAB auth manager reads it through [fab] config_file). Deployed as is by
# components/airflow.py and run as is by tests/airflow/test_sso_browser.py.
# The chart passes this text through Helm's tpl: it must never hold a
# double opening brace.
#
# Nothing here is stack-specific: the API server's environment carries it,
# the client secret and the role mapping from a Kubernetes Secret
# (airflow-sso), never from Helm values.
#   AIRFLOW_EKS_SSO_ISSUER_URL      OIDC issuer; empty: no single sign-on
#   AIRFLOW_EKS_SSO_CLIENT_ID       client id at the identity provider
#   AIRFLOW_EKS_SSO_CLIENT_SECRET   client secret       (Secret airflow-sso)
#   AIRFLOW_EKS_SSO_ROLE_MAPPING    JSON group -> roles (Secret airflow-sso)
#   AIRFLOW_EKS_SSO_DEFAULT_ROLE    role of users in no mapped group; empty refuses them
#   AIRFLOW_EKS_BREAK_GLASS_USER    the one account that may still use a password
import json
import logging
import os

from airflow.providers.fab.auth_manager.security_manager.override import FabAirflowSecurityManagerOverride
from flask_appbuilder.security.manager import AUTH_DB, AUTH_OAUTH

log = logging.getLogger(__name__)

# Flask-WTF CSRF protection of the FAB forms.
WTF_CSRF_ENABLED = True
WTF_CSRF_TIME_LIMIT = None

SSO_PROVIDER = "oidc"  # in the redirect URI: <UI URL>/auth/oauth-authorized/oidc
GROUPS_CLAIM = "groups"
ISSUER = os.environ.get("AIRFLOW_EKS_SSO_ISSUER_URL", "").rstrip("/")
BREAK_GLASS_USER = os.environ.get("AIRFLOW_EKS_BREAK_GLASS_USER", "")


class SsoSecurityManager(FabAirflowSecurityManagerOverride):
    """FAB's security manager, with three rules for single sign-on:
    - user info comes from the ID token's claims (any OIDC provider), the
      userinfo endpoint filling in what the token lacks;
    - a user whose groups map to no role, with no default role, is refused
      (FAB would register them with no role at all);
    - the break-glass account is never reachable through the identity
      provider, and no other account through a password."""

    def get_oauth_user_info(self, provider, resp):
        claims = dict(resp.get("userinfo") or {})  # the validated ID token
        if GROUPS_CLAIM not in claims or "email" not in claims:
            claims = {**dict(self.oauth_remotes[provider].userinfo(token=resp)), **claims}
        groups = claims.get(GROUPS_CLAIM) or []
        return {
            "username": claims.get("preferred_username") or claims.get("email") or f"{provider}_{claims['sub']}",
            "first_name": claims.get("given_name", ""),
            "last_name": claims.get("family_name", ""),
            "email": claims.get("email", ""),
            "role_keys": [groups] if isinstance(groups, str) else list(groups),
        }

    def auth_user_oauth(self, userinfo, rotate_session_id=True):
        username = userinfo.get("username") or userinfo.get("email")
        if BREAK_GLASS_USER and username == BREAK_GLASS_USER:
            log.warning("SSO login refused: %s is the break-glass account", username)
            return None
        if not self._oauth_calculate_user_roles(userinfo):
            log.warning("SSO login refused: %s is in no group mapped to an Airflow role", username)
            return None
        return super().auth_user_oauth(userinfo, rotate_session_id=rotate_session_id)

    def auth_user_db(self, username, password, rotate_session_id=True):
        if self.auth_type == AUTH_OAUTH and username != BREAK_GLASS_USER:
            return None
        return super().auth_user_db(username, password, rotate_session_id=rotate_session_id)


if ISSUER:
    AUTH_TYPE = AUTH_OAUTH
    SECURITY_MANAGER_CLASS = SsoSecurityManager
    OAUTH_PROVIDERS = [{
        "name": SSO_PROVIDER,
        "icon": "fa-sign-in",
        "token_key": "access_token",
        "remote_app": {
            "client_id": os.environ["AIRFLOW_EKS_SSO_CLIENT_ID"],
            "client_secret": os.environ["AIRFLOW_EKS_SSO_CLIENT_SECRET"],
            "server_metadata_url": ISSUER + "/.well-known/openid-configuration",
            "client_kwargs": {"scope": "openid email profile"},
        },
    }]
    # Group -> roles, re-applied at every login: a user removed from a group
    # at the identity provider loses its role at their next sign-in.
    AUTH_ROLES_MAPPING = json.loads(os.environ.get("AIRFLOW_EKS_SSO_ROLE_MAPPING") or "{}")
    AUTH_ROLES_SYNC_AT_LOGIN = True
    AUTH_USER_REGISTRATION = True
    # None: no role from registration; SsoSecurityManager then refuses a user
    # in no mapped group.
    AUTH_USER_REGISTRATION_ROLE = os.environ.get("AIRFLOW_EKS_SSO_DEFAULT_ROLE") or None
else:
    AUTH_TYPE = AUTH_DB
