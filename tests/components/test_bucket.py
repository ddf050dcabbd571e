"""Bucket: private, SSE-KMS with a bucket key, versioned, lifecycle, TLS only."""

import pytest

from components.bucket import Bucket, BucketArgs
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
