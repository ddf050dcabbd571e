"""Bucket: private, SSE-KMS with a bucket key, versioned, lifecycle, TLS only."""

import pytest

from components.bucket import AccessLogSource, Bucket, BucketArgs
from tests.conftest import policy_of, statements

KEY = "arn:aws:kms:us-east-1:123456789012:key/k"


def build(engine, **kw):
    args = dict(purpose="logs", kms_key_arn=KEY, noncurrent_version_days=30)
    args.update(kw)
    return engine.build(lambda: Bucket("b", BucketArgs(**args)))


def test_public_access_fully_blocked_and_acls_off(engine):
    rec = build(engine)
    block = rec.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").plain_inputs
    for flag in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"):
        assert block[flag] is True
    owner = rec.one("aws:s3/bucketOwnershipControls:BucketOwnershipControls").plain_inputs
    assert owner["rule"]["objectOwnership"] == "BucketOwnerEnforced"


def test_kms_encryption_with_bucket_key_and_versioning(engine):
    rec = build(engine)
    (rule,) = rec.one("aws:s3/bucketServerSideEncryptionConfiguration:"
                      "BucketServerSideEncryptionConfiguration").plain_inputs["rules"]
    assert rule["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": KEY}
    assert rule["bucketKeyEnabled"] is True
    versioning = rec.one("aws:s3/bucketVersioning:BucketVersioning").plain_inputs
    assert versioning["versioningConfiguration"]["status"] == "Enabled"


def test_tls_only_policy(engine):
    (deny,) = statements(policy_of(build(engine).one("aws:s3/bucketPolicy:BucketPolicy")))
    assert deny["Effect"] == "Deny" and deny["Principal"] == "*"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": ["false"]}}
    assert len(deny["Resource"]) == 2 and deny["Resource"][1].endswith("/*")


@pytest.mark.parametrize("expire", [None, 30])
def test_lifecycle(engine, expire):
    rules = {r["id"]: r for r in build(engine, expire_after_days=expire).one(
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration").plain_inputs["rules"]}
    assert rules["abort-incomplete-multipart-uploads"]["abortIncompleteMultipartUpload"] == {
        "daysAfterInitiation": 7}
    assert rules["expire-noncurrent-versions"]["noncurrentVersionExpiration"]["noncurrentDays"] == 30
    if expire is None:
        assert "expire-objects" not in rules
    else:
        assert rules["expire-objects"]["expiration"]["days"] == 30


@pytest.mark.parametrize("protect", [False, True])
def test_force_destroy_only_outside_production(engine, protect):
    bucket = build(engine, protect=protect).one("aws:s3/bucket:Bucket")
    assert bucket.plain_inputs["forceDestroy"] is (not protect)
    assert bucket.protect is protect


def build_access_logs(engine, **kw):
    args = dict(purpose="access-logs", kms_key_arn=None, noncurrent_version_days=30,
                expire_after_days=90, account_id="123456789012", access_log_sources=[
                    AccessLogSource(bucket_name="logs-b", bucket_arn="arn:aws:s3:::logs-b", prefix="logs/"),
                    AccessLogSource(bucket_name="data-b", bucket_arn="arn:aws:s3:::data-b", prefix="data/")])
    args.update(kw)
    return engine.build(lambda: Bucket("a", BucketArgs(**args)))


def test_access_log_bucket_sse_s3_and_turns_on_logging_of_its_sources(engine):
    rec = build_access_logs(engine)
    (rule,) = rec.one("aws:s3/bucketServerSideEncryptionConfiguration:"
                      "BucketServerSideEncryptionConfiguration").plain_inputs["rules"]
    # S3 delivers server access logs to SSE-S3 destinations only.
    assert rule["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "AES256"}
    target = rec.one("aws:s3/bucket:Bucket").outputs["bucket"]
    logging = {r.plain_inputs["bucket"]: r.plain_inputs
               for r in rec.of_type("aws:s3/bucketLogging:BucketLogging")}
    assert logging == {"logs-b": {"bucket": "logs-b", "targetBucket": target, "targetPrefix": "logs/"},
                       "data-b": {"bucket": "data-b", "targetBucket": target, "targetPrefix": "data/"}}


def test_access_log_bucket_admits_the_logging_service_for_its_sources_only(engine):
    rec = build_access_logs(engine)
    arn = rec.one("aws:s3/bucket:Bucket").outputs["arn"]
    grants = {s["Resource"][0]: s for s in statements(policy_of(rec.one("aws:s3/bucketPolicy:BucketPolicy")))
              if s["Effect"] == "Allow"}
    assert set(grants) == {f"{arn}/logs/*", f"{arn}/data/*"}
    for source, grant in (("logs-b", grants[f"{arn}/logs/*"]), ("data-b", grants[f"{arn}/data/*"])):
        assert grant["Principal"] == {"Service": ["logging.s3.amazonaws.com"]}
        assert grant["Action"] == ["s3:PutObject"]
        assert grant["Condition"] == {"ArnLike": {"aws:SourceArn": [f"arn:aws:s3:::{source}"]},
                                      "StringEquals": {"aws:SourceAccount": ["123456789012"]}}
    # Logging is switched on only once the grant exists.
    policy = rec.one("aws:s3/bucketPolicy:BucketPolicy")
    assert all(policy.urn in r.dependencies for r in rec.of_type("aws:s3/bucketLogging:BucketLogging"))


@pytest.mark.parametrize("kw", [{"kms_key_arn": KEY}, {"account_id": None}])
def test_access_log_bucket_refuses_kms_or_no_account(engine, kw):
    with pytest.raises(ValueError, match="access-log bucket"):
        build_access_logs(engine, **kw)


def test_only_an_access_log_bucket_goes_without_kms(engine):
    with pytest.raises(ValueError, match="SSE-KMS"):
        build(engine, kms_key_arn=None)
