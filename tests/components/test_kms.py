"""EncryptionKey: rotating CMK whose policy names the logs service, scoped by context."""

from components.kms import EncryptionKey, EncryptionKeyArgs
from tests.conftest import policy_of, statements

GROUPS = ("/airflow-eks/dev/vpc-flow-logs", "/aws/rds/instance/airflow-eks-dev-metadata/*")


def build(engine, protect):
    return engine.build(lambda: EncryptionKey("k", EncryptionKeyArgs(
        description="test", region="us-east-1", account_id="123456789012", partition="aws",
        log_group_names=GROUPS, protect=protect)))


def test_key_rotates_and_is_protected_in_production(engine):
    rec = build(engine, protect=True)
    key = rec.one("aws:kms/key:Key")
    assert key.plain_inputs["enableKeyRotation"] is True
    assert key.plain_inputs["deletionWindowInDays"] == 30
    assert key.protect is True
    assert rec.one("aws:kms/alias:Alias").plain_inputs["name"] == "alias/k"


def test_logs_service_limited_to_this_stacks_log_groups(engine):
    key = build(engine, protect=False).one("aws:kms/key:Key")
    logs = [s for s in statements(policy_of(key)) if s.get("Sid") == "CloudWatchLogs"][0]
    assert logs["Principal"] == {"Service": ["logs.us-east-1.amazonaws.com"]}
    assert logs["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"] == [
        f"arn:aws:logs:us-east-1:123456789012:log-group:{g}" for g in GROUPS]
    admin = [s for s in statements(policy_of(key)) if s.get("Sid") == "AccountAdministration"][0]
    assert admin["Principal"] == {"AWS": ["arn:aws:iam::123456789012:root"]}
