"""StackConfig: every bad value stops the program before any resource, naming the key."""

from __future__ import annotations

import pulumi
import pytest

from components.config import _MISSING, OPTIONAL_SECRETS, ConfigError, load_declarations, parse_stack_config
from plan.engine import Secret
from tests.conftest import FAKE_SSH_KEY

P = "airflow-eks:"

# (stack, overrides, full key named, fragment of the allowed values)
BAD_INPUTS = [
    ("dev", {P + "airflow.pools": "analytics_db=4"}, P + "airflow.pools", "JSON object"),
    ("dev", {P + "airflow.pools": '{"analytics db": 4}'}, P + "airflow.pools", "letters, digits"),
    ("dev", {P + "airflow.pools": '{"default_pool": 4}'}, P + "airflow.pools", "Airflow's own"),
    ("dev", {P + "airflow.pools": '{"api": 0}'}, P + "airflow.pools", "1 to 10000"),
    ("dev", {P + "network.cidr": "10.20.0.0/33"}, P + "network.cidr", "IPv4 network"),
    ("dev", {P + "network.cidr": "not-a-cidr"}, P + "network.cidr", "IPv4 network"),
    ("dev", {P + "network.cidr": "10.20.0.0/24"}, P + "network.cidr", "/16 to /20"),
    ("dev", {P + "network.cidr": "8.8.0.0/16"}, P + "network.cidr", "private"),
    ("dev", {P + "network.availabilityZones": ["us-east-1a"]}, P + "network.availabilityZones",
     "2 to 4"),
    ("dev", {P + "network.availabilityZones": ["eu-west-1a", "eu-west-1b"]},
     P + "network.availabilityZones", "aws:region us-east-1"),
    ("prod", {P + "network.natGateways": "single"}, P + "network.natGateways", "onePerAz"),
    ("dev", {P + "cluster.nodeGroups.tasks.minSize": 5, P + "cluster.nodeGroups.tasks.maxSize": 2},
     P + "cluster.nodeGroups.tasks.minSize", "at most"),
    ("dev", {P + "cluster.nodeGroups.tasks.maxSize": -1}, P + "cluster.nodeGroups.tasks.maxSize",
     "from 1 to 100"),
    ("dev", {P + "cluster.nodeGroups.tasks.minSize": -2}, P + "cluster.nodeGroups.tasks.minSize",
     "from 0 to 100"),
    ("dev", {P + "cluster.nodeGroups.system.desiredSize": 9}, P + "cluster.nodeGroups.system.desiredSize",
     "from minSize"),
    ("dev", {P + "cluster.nodeGroups.tasks.instanceTypes": ["m7g.large", "m7i.large"]},
     P + "cluster.nodeGroups.tasks.instanceTypes", "one CPU architecture"),
    ("dev", {P + "cluster.nodeGroups.tasks.capacityType": "spot"},
     P + "cluster.nodeGroups.tasks.capacityType", "ON_DEMAND, SPOT"),
    # Cost levers (issue 19).
    ("dev", {P + "network.natGateways": "nat-instance"}, P + "network.natGateways",
     "single, onePerAz, instance"),
    ("prod", {P + "network.natGateways": "instance"}, P + "network.natGateways", "onePerAz"),
    ("dev", {P + "network.natInstanceType": "t3.nano"}, P + "network.natInstanceType", "Graviton"),
    ("dev", {P + "network.natInstanceType": "nano"}, P + "network.natInstanceType", "Graviton"),
    ("dev", {P + "cluster.nodeGroups.system.instanceTypes": ["t4g.medium", "m7g.medium"]},
     P + "cluster.nodeGroups.system.instanceTypes", "at least 3 distinct"),
    ("dev", {P + "cluster.nodeGroups.tasks.instanceTypes": ["t4g.large"] * 3},
     P + "cluster.nodeGroups.tasks.instanceTypes", "at least 3 distinct"),
    ("dev", {P + "cluster.kubernetesVersion": "1.24"}, P + "cluster.kubernetesVersion", "1.35"),
    ("prod", {P + "cluster.publicAccessCidrs": ["0.0.0.0/0"]}, P + "cluster.publicAccessCidrs",
     "may not be open to the world"),
    ("dev", {P + "cluster.publicAccessCidrs": ["203.0.113.0/24", "::/0"]}, P + "cluster.publicAccessCidrs",
     "may not be open to the world"),
    ("dev", {P + "cluster.publicAccessCidrs": ["10.0.0.1/8"]}, P + "cluster.publicAccessCidrs",
     "not a CIDR"),
    ("dev", {P + "cluster.logRetentionDays": 10}, P + "cluster.logRetentionDays", "CloudWatch"),
    ("dev", {P + "dags.repo": "ftp://example.com/dags.git"}, P + "dags.repo", "https://, ssh://"),
    ("dev", {P + "dags.repo": "http://github.com/org/dags.git"}, P + "dags.repo", "https://, ssh://"),
    ("dev", {P + "dags.branch": ""}, P + "dags.branch", "exactly one"),
    ("dev", {P + "dags.branch": "   "}, P + "dags.branch", "non-empty"),
    ("prod", {P + "dags.ref": ""}, P + "dags.ref", "non-empty"),
    ("dev", {P + "dags.ref": "v1.0.0"}, P + "dags.ref", "exactly one"),
    ("dev", {P + "dags.branch": "feature..x"}, P + "dags.branch", "valid git"),
    ("dev", {P + "dags.subPath": "../etc"}, P + "dags.subPath", "relative"),
    ("dev", {P + "dags.repo": "git@gitlab.com:org/dags.git", P + "dags.sshPrivateKey": Secret(FAKE_SSH_KEY)},
     P + "dags.knownHosts", "gitlab.com"),
    ("dev", {P + "dags.repo": "git@github.com:org/dags.git"}, P + "dags.sshPrivateKey", "deploy key"),
    ("dev", {P + "cluster.nodeGroups.tasks.maxSize": "ten"}, P + "cluster.nodeGroups.tasks.maxSize",
     "whole number"),
    ("dev", {P + "production": "yes"}, P + "production", "true or false"),
    ("dev", {P + "network.availabilityZones": "us-east-1a"}, P + "network.availabilityZones",
     "list of strings"),
    ("dev", {P + "cluster.nodeGroups.tasks.maxSzie": 10}, P + "cluster.nodeGroups.tasks.maxSzie",
     "did you mean airflow-eks:cluster.nodeGroups.tasks.maxSize"),
    ("dev", {P + "database.instanceClass": "t4g.micro"}, P + "database.instanceClass", "db.t4g.micro"),
    ("dev", {P + "database.engineVersion": "12"}, P + "database.engineVersion", "15, 16, 17"),
    ("dev", {P + "database.backupRetentionDays": 36}, P + "database.backupRetentionDays", "0 to 35"),
    ("prod", {P + "database.backupRetentionDays": 3}, P + "database.backupRetentionDays", "7 to 35"),
    ("prod", {P + "database.multiAz": False}, P + "database.multiAz", "needs true"),
    ("dev", {P + "database.maxAllocatedStorageGiB": 10}, P + "database.maxAllocatedStorageGiB",
     "from 20"),
    ("dev", {P + "database.allocatedStorageGiB": 50, P + "database.maxAllocatedStorageGiB": 30},
     P + "database.maxAllocatedStorageGiB", "at least database.allocatedStorageGiB"),
    ("dev", {P + "database.logRetentionDays": 0}, P + "database.logRetentionDays", "at least 1"),
    ("prod", {P + "database.engine": "inCluster"}, P + "database.engine", "a production stack needs rds"),
    ("dev", {P + "database.engine": "aurora"}, P + "database.engine", "rds, inCluster"),
    ("prod", {P + "database.caCertIdentifier": "rds-ca-2019"}, P + "database.caCertIdentifier",
     "rds-ca-rsa2048-g1, rds-ca-rsa4096-g1, rds-ca-ecc384-g1"),
    ("dev", {P + "database.multiAz": True}, P + "database.multiAz", "false with database.engine inCluster"),
    ("dev", {P + "database.engineVersion": "16"}, P + "database.engineVersion",
     "one of 17 with database.engine inCluster"),
    ("dev", {P + "buckets.taskLogRetentionDays": 0}, P + "buckets.taskLogRetentionDays", "from 1"),
    ("dev", {P + "airflow.adminUsername": "admin"}, P + "airflow.adminUsername", "not 'admin'"),
    ("dev", {P + "airflow.imageTag": "2.10.5"}, P + "airflow.imageTag", "3.3.2"),
    ("dev", {P + "airflow.imageTag": "3.0.6-python3.11"}, P + "airflow.imageTag", "3.3.2"),
    ("dev", {P + "airflow.databaseCleanupRetentionDays": 6}, P + "airflow.databaseCleanupRetentionDays",
     "from 7 to 3650"),
    ("prod", {P + "airflow.databaseCleanupRetentionDays": "a year"},
     P + "airflow.databaseCleanupRetentionDays", "whole number"),
    ("prod", {P + "cluster.nodeGroups.system.minSize": 1}, P + "cluster.nodeGroups.system.minSize",
     "at least 2"),
    ("dev", {"aws:region": "moon-1"}, "aws:region", "us-east-1"),
    ("dev", {"aws:region": "us-east-7"}, "aws:region", "did you mean us-east-"),
    ("dev", {"aws:region": "eu-west-1", P + "network.availabilityZones": ["eu-west-1a", "eu-west-1b"]},
     P + "network.availabilityZones", None),  # valid: a region pulumi-aws knows, its zones
    ("dev", {P + "network.availabilityZones": ["us-east-1a", "us-east-1z"]}, P + "network.availabilityZones",
     "us-east-1z is not a zone of us-east-1"),
    ("dev", {P + "cluster.nodeGroups.system.instanceTypes": ["t4g.medum", "m6g.medium", "m7g.medium"]},
     P + "cluster.nodeGroups.system.instanceTypes", "t4g.medum is not an instance type offered in us-east-1"),
    ("dev", {P + "network.natInstanceType": "t4g.nanoo"}, P + "network.natInstanceType",
     "t4g.nanoo is not an instance type offered in us-east-1"),
    ("dev", {P + "cluster.publicAccessCidrs": ["0.0.0.0/1", "128.0.0.0/1"]}, P + "cluster.publicAccessCidrs",
     "0.0.0.0/1 is too wide"),
    # Every /8 on its own is allowed; all 256 together are the world.
    ("dev", {P + "cluster.publicAccessCidrs": [f"{i}.0.0.0/8" for i in range(256)]},
     P + "cluster.publicAccessCidrs", "together the CIDRs cover 0.0.0.0/0"),
    ("dev", {P + "cluster.publicAccessCidrs": ["2001:db8::/33", "::/1", "8000::/1"]},
     P + "cluster.publicAccessCidrs", "::/1 is too wide"),
    ("dev", {P + "cluster.publicAccessCidrs": ["10.0.0.0/7"]}, P + "cluster.publicAccessCidrs",
     "IPv4 /8 or longer"),
    ("dev", {P + "cluster.publicAccessCidrs": ["2001:db8::/31"]}, P + "cluster.publicAccessCidrs",
     "IPv6 /32 or longer"),
    ("dev", {"airflw-eks:dags.branch": "main"}, "airflw-eks:dags.branch",
     "did you mean airflow-eks:dags.branch?"),
    ("dev", {P + "monitoring.alertEmails": ["oncall@example.com", "oncall.example.com"]},
     P + "monitoring.alertEmails", "'oncall.example.com' is not an email address"),
    ("dev", {P + "monitoring.alertEmails": ["ops@example.com", "ops@example.com"]},
     P + "monitoring.alertEmails", "each address once"),
    ("dev", {P + "monitoring.logRetentionDays": 10}, P + "monitoring.logRetentionDays",
     "CloudWatch Logs retention: 1, 3, 5, 7, 14"),
    ("prod", {P + "monitoring.alertEmails": []}, P + "monitoring.alertEmails",
     "a production stack needs at least one address"),
]


@pytest.mark.parametrize("stack,overrides,key,allowed", BAD_INPUTS,
                         ids=[f"{s}:{k.split(':', 1)[1]}" for s, _, k, _ in BAD_INPUTS])
def test_bad_input_stops_before_any_resource(engine, stack, overrides, key, allowed):
    if allowed is None:  # a valid neighbour of a refused value
        assert engine.program(stack, overrides).resources
        return
    recording = engine.failing_program(stack, overrides)
    assert isinstance(recording.error, ConfigError), recording.error
    message = str(recording.error)
    assert key + " " in message or message.startswith(f"invalid stack config {key} ")
    assert allowed in message
    bad = overrides.get(key)
    if "unknown" in message:  # an unknown key's value may be a misspelt secret
        assert "[value not shown]" in message and repr(bad) not in message
    elif bad is not None and "secret" not in key.lower():
        assert repr(bad) in message or repr(str(bad)) in message or str(bad) in message
    assert recording.resources == [], "resources were registered before the config error"


def test_secret_values_are_never_echoed(engine):
    overrides = {P + "dags.repo": "https://github.com/org/dags.git", P + "dags.sshPrivateKey": Secret(FAKE_SSH_KEY)}
    recording = engine.failing_program("dev", overrides)
    assert isinstance(recording.error, ConfigError)
    assert "[secret]" in str(recording.error)
    assert "PRIVATE KEY" not in str(recording.error)


def test_every_declared_key_has_type_description_and_default_or_is_required():
    decls = load_declarations()
    assert len(decls) > 40
    for decl in decls.values():
        assert decl.type in ("string", "integer", "boolean", "array")
        assert decl.description
    required = {k for k, d in decls.items() if d.default is _MISSING}
    # The CLI refuses to run a stack that lacks a declared key with no default:
    # only dags.repo (set by make init) may be one. Optional secrets have a ""
    # default and are checked by the program (OPTIONAL_SECRETS).
    assert required == {"dags.repo"}
    assert {k for k, d in decls.items() if d.secret} >= OPTIONAL_SECRETS


def test_stacks_differ_where_a_platform_team_expects(engine):
    dev, prod = engine.stack_config("dev"), engine.stack_config("prod")
    assert (len(dev.network.availability_zones), dev.network.nat_gateways) == (2, "instance")
    assert dev.network.nat_instance is not None and dev.network.nat_instance.instance_type == "t4g.nano"
    assert (len(prod.network.availability_zones), prod.network.nat_gateways) == (3, "onePerAz")
    assert prod.network.nat_instance is None
    assert dev.cluster.system.capacity_type == "SPOT" and prod.cluster.system.capacity_type == "ON_DEMAND"
    assert dev.cluster.tasks.capacity_type == "SPOT" and dev.cluster.tasks.min_size == 0
    assert prod.cluster.system.min_size >= 2 and prod.database.multi_az
    assert prod.production and not dev.production
    assert prod.airflow.high_availability and not dev.airflow.high_availability
    assert dev.dags.revision_is_branch and not prod.dags.revision_is_branch


def test_values_as_the_cli_passes_them_and_as_plain_types_parse_alike(engine):
    raw = engine.config("dev")
    typed = dict(raw, **{P + "cluster.nodeGroups.tasks.maxSize": 7,
                         P + "production": False,
                         P + "network.availabilityZones": ["us-east-1a", "us-east-1b"]})
    stringly = dict(raw, **{P + "cluster.nodeGroups.tasks.maxSize": "7",
                            P + "production": "false",
                            P + "network.availabilityZones": '["us-east-1a", "us-east-1b"]'})
    assert parse_stack_config(typed, stack="dev") == parse_stack_config(stringly, stack="dev")


def test_ssh_key_gets_its_final_newline_and_stays_secret(engine):
    cfg = engine.stack_config("dev", {P + "dags.repo": "git@github.com:org/dags.git",
                                      P + "dags.sshPrivateKey": Secret(FAKE_SSH_KEY)})
    assert cfg.dags.uses_ssh and cfg.dags.ssh_private_key is not None
    assert "github.com ssh-ed25519" in cfg.dags.known_hosts


# ----------------------------------------------- connections and variables

CONNS, VARS = P + "connections", P + "variables"
SECRET_KEYS = (CONNS, VARS)
PASSWORD = "pw-do-not-echo-4711"
BAD_CONNECTIONS = [
    ({"analytics_db": f"not a uri {PASSWORD}"}, "'analytics_db': expected Airflow's connection JSON"),
    ({"analytics_db": f'{{"conn_type": "postgres", "password": "{PASSWORD}"'}, "or a URI"),  # cut JSON
    ({"analytics_db": {"host": "db", "password": PASSWORD}}, "with conn_type"),
    ({"analytics_db": {"conn_type": "postgres", "pasword": PASSWORD}}, "any of host, login"),
    ({"analytics_db": {"conn_type": "postgres", "port": "54x", "password": PASSWORD}}, "or a URI"),
    ({"analytics_db": f"postgresql://u:{PASSWORD}@db:port/analytics"}, "or a URI"),
    ({"analytics db": f"postgresql://u:{PASSWORD}@db/analytics"}, "id 'analytics db': expected"),
    ({"team/analytics": f"postgresql://u:{PASSWORD}@db/analytics"}, "id 'team/analytics'"),
    ({"a..b": f"postgresql://u:{PASSWORD}@db/analytics"}, "no '..'"),
    ([f"postgresql://u:{PASSWORD}@db/analytics"], "one JSON object"),
    ({"analytics_db": f"postgresql://u:{PASSWORD}@db/" + "a" * 65536}, "or a URI"),
]


@pytest.mark.parametrize("connections,allowed", BAD_CONNECTIONS)
def test_bad_connections_stop_before_any_resource_and_never_echo(engine, connections, allowed):
    recording = engine.failing_program("dev", {CONNS: connections}, secret_keys=SECRET_KEYS)
    assert isinstance(recording.error, ConfigError), recording.error
    message = str(recording.error)
    assert message.startswith(f"invalid stack config {CONNS} = [secret]: ") and allowed in message
    assert PASSWORD not in message and "@db" not in message
    assert recording.resources == []


def test_a_variable_too_large_for_secrets_manager_is_refused(engine):
    recording = engine.failing_program("dev", {VARS: {"big": PASSWORD * 5000}}, secret_keys=SECRET_KEYS)
    assert "Variable 'big': at most 65536 bytes" in str(recording.error)
    assert PASSWORD not in str(recording.error) and recording.resources == []


def test_connections_and_variables_must_be_pulumi_secrets(engine):
    recording = engine.failing_program("dev", {VARS: {"usgs_feed_url": PASSWORD}})
    assert isinstance(recording.error, ConfigError)
    assert f"{VARS} = [secret]: must be a secret: pulumi config set --secret" in str(recording.error)
    assert PASSWORD not in str(recording.error) and recording.resources == []


def unsecret(output):
    from pulumi.runtime import sync_await
    return sync_await._sync_await(output.future())


def test_connections_parse_to_canonical_json_or_the_uri_as_given(engine):
    uri = f"postgresql://analytics:{PASSWORD}@db.example:5432/analytics"
    cfg = engine.stack_config("dev", {CONNS: {
        "analytics_db": {"port": 5432, "conn_type": "postgres", "extra": {"sslmode": "require"}},
        "warehouse": f"  {uri} ", "api.v2": {"conn_type": "http", "extra": '{"timeout": 3}'},
    }, VARS: {"usgs_feed_url": "http://x", "retries": 3}}, secret_keys=SECRET_KEYS).secrets
    conns = {k: unsecret(v) for k, v in cfg.connections.items()}
    assert conns == {
        "analytics_db": '{"conn_type":"postgres","extra":{"sslmode":"require"},"port":5432}',
        "api.v2": '{"conn_type":"http","extra":"{\\"timeout\\": 3}"}',
        "warehouse": uri,
    }
    assert {k: unsecret(v) for k, v in cfg.variables.items()} == {"retries": "3", "usgs_feed_url": "http://x"}
    unset = engine.stack_config("dev").secrets
    assert unset.connections == {} and unset.variables == {}


def test_every_independent_error_is_reported_at_once(engine):
    overrides = {P + "network.cidr": "10.20.0.0/33", P + "database.backupRetentionDays": 99,
                 P + "cluster.nodeGroups.tasks.capacityType": "spot", P + "dags.subPath": "../x",
                 P + "database.instanceClass": "t4g.micro", P + "network.availabilityZones": ["us-east-1z", "us-east-1a"],
                 P + "cluster.nodeGroups.tasks.instanceTypes": ["t4g.medum", "m6g.large", "m7g.large"],
                 "airflw-eks:x": "y"}
    recording = engine.failing_program("dev", overrides)
    error = recording.error
    assert isinstance(error, ConfigError) and isinstance(error, pulumi.RunError)
    assert sorted(e.key for e in error.errors) == sorted(k for k in overrides)
    lines = str(error).splitlines()
    assert lines[0] == "stack dev: 8 invalid config values"
    assert all(line.startswith("  invalid stack config ") for line in lines[1:])
    assert recording.resources == []


def test_a_dependent_check_stays_quiet_when_its_input_is_already_wrong(engine):
    """maxAllocated < allocated is not reported when allocated itself is invalid."""
    recording = engine.failing_program("dev", {P + "database.allocatedStorageGiB": "lots",
                                               P + "database.maxAllocatedStorageGiB": 30})
    assert [e.key for e in recording.error.errors] == [P + "database.allocatedStorageGiB"]


@pytest.mark.parametrize("repo", ["https://x-access-token:ghp_s3cr3t@github.com/org/dags.git",
                                  "https://ghp_s3cr3t@github.com/org/dags.git",
                                  "ssh://git:s3cr3t@github.com/org/dags.git",
                                  "http://ghp_s3cr3t@github.com/org/dags.git",
                                  "me:s3cr3t@github.com:org/dags.git"])
def test_credentials_in_the_dags_repo_url_are_refused_without_echoing_them(engine, repo):
    recording = engine.failing_program("dev", {P + "dags.repo": repo})
    message = str(recording.error)
    assert f"invalid stack config {P}dags.repo = " in message
    assert "s3cr3t" not in message and "ghp_" not in message
    assert recording.resources == []


def test_the_dags_repo_export_never_carries_userinfo(engine):
    from components.config import without_userinfo
    assert without_userinfo("ssh://git@github.com/org/dags.git") == "ssh://github.com/org/dags.git"
    assert without_userinfo("https://u:t@h.example/r.git") == "https://h.example/r.git"
    rec = engine.program("dev", {P + "dags.repo": "ssh://git@github.com/org/dags.git",
                                 P + "dags.sshPrivateKey": Secret(FAKE_SSH_KEY)})
    assert rec.exports["dagsRepo"] == "ssh://github.com/org/dags.git"


def test_a_misspelt_secret_key_never_prints_its_value(engine):
    recording = engine.failing_program("dev", {P + "dags.httpsTokn": "ghp_s3cr3t"})
    assert "did you mean airflow-eks:dags.httpsToken?" in str(recording.error)
    assert "ghp_s3cr3t" not in str(recording.error)


@pytest.mark.parametrize("key,value", [("dags.httpsToken", "ghp_s3cr3t"),
                                       ("dags.sshPrivateKey", FAKE_SSH_KEY)])
def test_a_secret_in_plaintext_is_refused_with_the_command_to_fix_it(engine, key, value):
    overrides = {P + key: value}
    if key == "dags.sshPrivateKey":
        overrides[P + "dags.repo"] = "git@github.com:org/dags.git"
    message = str(engine.failing_program("dev", overrides).error)
    assert f"invalid stack config {P}{key} = [secret]: a secret is stored in plaintext" in message
    assert f"pulumi config set --secret {P}{key}" in message
    assert "s3cr3t" not in message and "PRIVATE KEY" not in message


def test_an_encrypted_value_of_a_stack_file_counts_as_secret(tmp_path):
    from plan.engine import OFFLINE_SECRET, stack_config
    (tmp_path / "Pulumi.x.yaml").write_text(
        "config:\n  airflow-eks:dags.httpsToken:\n    secure: v1:abc\n  aws:region: us-east-1\n")
    settings = stack_config("x", root=tmp_path)
    assert settings.secret_keys == (P + "dags.httpsToken",)
    assert settings[P + "dags.httpsToken"] == OFFLINE_SECRET and "v1:abc" not in str(dict(settings))


def test_ui_errors_come_with_the_others_and_the_hosted_zone_is_looked_up(engine):
    """The ui.* section reports through the same mechanism; its Route 53 lookup is
    one of the checks against AWS (the engine's zone answers example.com)."""
    recording = engine.failing_program("dev", {P + "ui.exposure": "internal", P + "ui.hostname": "airflow.other.org",
                                               P + "ui.hostedZoneId": "Z0123456789EXAMPLE",
                                               P + "ui.allowedCidrs": ["0.0.0.0/1", "128.0.0.0/1"],
                                               P + "network.availabilityZones": ["us-east-1a", "us-east-1z"]})
    assert sorted(e.key for e in recording.error.errors) == [
        P + "network.availabilityZones", P + "ui.allowedCidrs", P + "ui.hostname"]
    assert "expected a name inside hosted zone Z0123456789EXAMPLE (example.com)" in str(recording.error)
    assert recording.resources == []
def test_a_bad_https_endpoint_is_refused_without_echoing_it(engine):
    token_url = "http://events.example.com/integration/0123456789abcdef"
    endpoint = P + "monitoring.httpsEndpoint"
    recording = engine.failing_program("dev", {endpoint: token_url}, secret_keys=(endpoint,))
    assert isinstance(recording.error, ConfigError)
    message = str(recording.error)
    assert "monitoring.httpsEndpoint" in message and "https:// URL" in message
    assert "0123456789abcdef" not in message and "[secret]" in message
    assert recording.resources == []
    # and in plaintext in the stack file: refused, with the command that fixes it
    plain = engine.failing_program("dev", {endpoint: token_url.replace("http:", "https:")})
    assert "pulumi config set --secret airflow-eks:monitoring.httpsEndpoint" in str(plain.error)
    assert "0123456789abcdef" not in str(plain.error) and plain.resources == []


def test_database_tls_defaults_and_choices(engine):
    tls = engine.stack_config("prod").database_tls
    assert (tls.ca_cert_identifier, tls.ca_bundle_file) == ("rds-ca-rsa2048-g1", "")
    for identifier in ("rds-ca-rsa4096-g1", "rds-ca-ecc384-g1"):
        cfg = engine.stack_config("prod", {P + "database.caCertIdentifier": identifier})
        assert cfg.database_tls.ca_cert_identifier == identifier


def test_ca_bundle_file_must_be_a_readable_pem_file(engine, tmp_path):
    """Checked when the config is parsed, before any resource (the offline
    engine itself swaps in its placeholder bundle, plan/engine.py)."""
    good = tmp_path / "bundle.pem"
    good.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    cfg = engine.stack_config("prod", {P + "database.caBundleFile": str(good)})
    assert cfg.database_tls.ca_bundle_file == str(good)
    empty = tmp_path / "empty.pem"
    empty.write_text("<html>not a bundle</html>")
    for path, allowed in ((tmp_path / "missing.pem", "No such file"), (empty, "no BEGIN CERTIFICATE"),
                          (tmp_path, "readable PEM file")):
        with pytest.raises(ConfigError) as err:
            engine.stack_config("prod", {P + "database.caBundleFile": str(path)})
        assert str(err.value).startswith(f"invalid stack config {P}database.caBundleFile = {str(path)!r}: ")
        assert allowed in str(err.value)
