"""Database: private, encrypted, TLS-only RDS; password only ever a secret."""

import pytest
from cryptography import x509

from components.config import DatabaseTlsConfig
from components.database import Database, DatabaseArgs
from plan.engine import placeholder_ca, placeholder_ca_bundle, walk
from tests.conftest import policy_of, statements

KEY = "arn:aws:kms:us-east-1:123456789012:key/k"


def build(engine, stack, ca_cert_identifier="rds-ca-rsa2048-g1"):
    cfg = engine.stack_config(stack)
    holder = {}
    # The offline stand-in for AWS's bundle, whose thumbprints the mocks answer: no download.
    tls = DatabaseTlsConfig(ca_cert_identifier=ca_cert_identifier,
                            ca_bundle_file=str(placeholder_ca_bundle("us-east-1")))

    def fn():
        holder["db"] = Database("db", DatabaseArgs(
            identifier=f"airflow-eks-{stack}-metadata", settings=cfg.database, vpc_id="vpc-1",
            subnet_ids=["subnet-p1", "subnet-p2"], client_security_group_id="sg-cluster",
            kms_key_arn=KEY, account_id="123456789012", partition="aws", protect=cfg.production,
            region="us-east-1", tls=tls))
        holder["db"].ca_certificate.apply(lambda pem: holder.update(ca=pem))
    rec = engine.build(fn, stack=stack)
    rec.ca_certificate = holder.get("ca")
    return rec


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_instance_security_and_operations(engine, stack):
    rec = build(engine, stack)
    db = rec.one("aws:rds/instance:Instance")
    i = db.plain_inputs
    assert i["engine"] == "postgres" and i["engineVersion"] == "17"
    assert i["storageEncrypted"] is True and i["kmsKeyId"] == KEY
    assert i["storageType"] == "gp3" and i["maxAllocatedStorage"] >= i["allocatedStorage"]
    assert i["publiclyAccessible"] is False
    assert i["enabledCloudwatchLogsExports"] == ["postgresql", "upgrade"]
    assert i["performanceInsightsEnabled"] is True and i["performanceInsightsKmsKeyId"] == KEY
    assert i["monitoringInterval"] == 60 and i["monitoringRoleArn"]
    assert i["autoMinorVersionUpgrade"] is True and i["copyTagsToSnapshot"] is True
    assert i["username"] not in ("postgres", "admin")
    params = rec.one("aws:rds/parameterGroup:ParameterGroup").plain_inputs
    assert {p["name"]: p["value"] for p in params["parameters"]}["rds.force_ssl"] == "1"
    assert params["family"] == "postgres17"
    if stack == "prod":
        assert i["multiAz"] is True and i["backupRetentionPeriod"] >= 7
        assert i["deletionProtection"] is True and i["skipFinalSnapshot"] is False
        assert i["deleteAutomatedBackups"] is False
        assert db.protect is True
    else:
        assert i["multiAz"] is False and i["backupRetentionPeriod"] == 1
        assert i["deletionProtection"] is False and i["skipFinalSnapshot"] is True
        assert i["deleteAutomatedBackups"] is True
        assert db.protect is False
    assert all(g.protect is (stack == "prod") for g in rec.of_type("aws:cloudwatch/logGroup:LogGroup"))


@pytest.mark.parametrize("identifier", ["rds-ca-rsa2048-g1", "rds-ca-rsa4096-g1", "rds-ca-ecc384-g1"])
def test_server_certificate_ca_is_explicit_and_handed_on_verified(engine, identifier):
    rec = build(engine, "prod", identifier)
    assert rec.one("aws:rds/instance:Instance").plain_inputs["caCertIdentifier"] == identifier
    ca = x509.load_pem_x509_certificate(rec.ca_certificate.encode())
    # The one certificate of the bundle whose thumbprint the (mocked) RDS API gives.
    assert ca == placeholder_ca(identifier, "us-east-1")


def test_final_snapshot_name_is_unique_per_instance_and_stable(engine):
    rec = build(engine, "prod")
    suffix = rec.one("random:index/randomId:RandomId")
    # Drawn once per identifier and kept in the state: a later `pulumi up` keeps
    # the name, a new instance (new identifier, or a new stack) gets a new one.
    assert suffix.plain_inputs["keepers"] == {"identifier": "airflow-eks-prod-metadata"}
    name = rec.one("aws:rds/instance:Instance").plain_inputs["finalSnapshotIdentifier"]
    assert name == f"airflow-eks-prod-metadata-final-{suffix.outputs['hex']}"
    assert len(suffix.outputs["hex"]) == 8
    assert not build(engine, "dev").of_type("random:index/randomId:RandomId")


def test_monitoring_role_assumable_only_for_this_account(engine):
    rec = build(engine, "dev")
    (trust,) = statements(policy_of(rec.one("aws:iam/role:Role", "monitoring"), "assumeRolePolicy"))
    assert trust["Principal"] == {"Service": ["monitoring.rds.amazonaws.com"]}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": ["123456789012"]}}


def test_only_the_cluster_security_group_reaches_5432(engine):
    rec = build(engine, "dev")
    sg = rec.one("aws:ec2/securityGroup:SecurityGroup").plain_inputs
    assert not sg.get("ingress") and not sg.get("egress")
    (rule,) = rec.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
    assert rule.plain_inputs["referencedSecurityGroupId"] == "sg-cluster"
    assert (rule.plain_inputs["fromPort"], rule.plain_inputs["toPort"]) == (5432, 5432)
    assert "cidrIpv4" not in rule.plain_inputs


def test_password_is_secret_wherever_it_goes(engine):
    rec = build(engine, "dev")
    password = rec.one("random:index/randomPassword:RandomPassword").outputs["result"]
    password = getattr(password, "value", password)
    assert len(password) == 40
    seen_secret = 0
    for resource in rec.resources:
        for path, value, secret in walk(resource.inputs):
            if isinstance(value, str) and password in value:
                assert secret, f"{resource.name}.{path} carries the password in plaintext"
                seen_secret += 1
    assert seen_secret >= 1  # the instance's password input


def test_rds_log_groups_precreated_encrypted(engine):
    groups = {g.plain_inputs["name"]: g.plain_inputs for g in build(engine, "dev").of_type(
        "aws:cloudwatch/logGroup:LogGroup")}
    assert set(groups) == {f"/aws/rds/instance/airflow-eks-dev-metadata/{k}" for k in ("postgresql", "upgrade")}
    assert all(g["kmsKeyId"] == KEY for g in groups.values())
