"""Bucket: private, SSE-KMS with a bucket key, versioned, lifecycle, TLS only;
the access-log bucket: SSE-S3, receiving the S3 server access logs of the logs
and data buckets and, with a load-balanced UI, the ALB's access logs (issue 14
§3), each writer only under its own prefix."""

import pytest

from components.bucket import AccessLogSource, AlbLogDelivery, Bucket, BucketArgs
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


def test_alb_log_delivery_writes_only_under_its_prefix(engine):
    rec = build_access_logs(engine, alb_logs=AlbLogDelivery(region="us-east-1"))
    arn = rec.one("aws:s3/bucket:Bucket").outputs["arn"]
    by_sid = {s["Sid"]: s for s in statements(policy_of(rec.one("aws:s3/bucketPolicy:BucketPolicy")))}
    objects = [f"{arn}/alb/AWSLogs/123456789012/*"]
    # us-east-1's ELB account (regions before August 2022), and the service
    # principal of newer regions; nothing else, nowhere else.
    assert by_sid["AlbLogDeliveryRegionalAccount"]["Principal"] == {"AWS": ["arn:aws:iam::127311923021:root"]}
    assert by_sid["AlbLogDeliveryService"]["Principal"] == {
        "Service": ["logdelivery.elasticloadbalancing.amazonaws.com"]}
    for sid in ("AlbLogDeliveryRegionalAccount", "AlbLogDeliveryService"):
        assert (by_sid[sid]["Effect"], by_sid[sid]["Action"], by_sid[sid]["Resource"]) == (
            "Allow", ["s3:PutObject"], objects)
    # The S3 server access log grants are still there, beside them.
    assert {s["Resource"][0] for s in by_sid.values() if s["Principal"] == {
        "Service": ["logging.s3.amazonaws.com"]}} == {f"{arn}/logs/*", f"{arn}/data/*"}


def test_without_alb_logs_no_load_balancer_may_write(engine):
    doc = policy_of(build_access_logs(engine).one("aws:s3/bucketPolicy:BucketPolicy"))
    assert not [s for s in statements(doc) if s["Sid"].startswith("AlbLogDelivery")]


@pytest.mark.parametrize("kw", [{}, {"prefix": "alb/AWSLogs"}])
def test_alb_logs_need_the_access_log_bucket_and_a_plain_prefix(engine, kw):
    with pytest.raises(ValueError, match="ALB logs"):
        if kw:
            build_access_logs(engine, alb_logs=AlbLogDelivery(region="us-east-1", **kw))
        else:
            build(engine, alb_logs=AlbLogDelivery(region="us-east-1"))


def test_prod_alb_writes_its_logs_into_the_protected_access_log_bucket(engine):
    rec = engine.program("prod")
    bucket = rec.one("aws:s3/bucket:Bucket", "access-logs-bucket")
    assert bucket.protect  # production
    assert not [r for r in rec.resources if "alb-logs" in r.name], "no bucket of its own any more"
    annotations = rec.one("kubernetes:helm.sh/v3:Release", "airflow-release").plain_inputs[
        "values"]["ingress"]["apiServer"]["annotations"]
    attributes = dict(kv.split("=", 1)
                      for kv in annotations["alb.ingress.kubernetes.io/load-balancer-attributes"].split(","))
    assert (attributes["access_logs.s3.bucket"], attributes["access_logs.s3.prefix"]) == (
        bucket.outputs["bucket"], "alb")
    # The ALB checks its grant when logging is turned on: the policy comes first.
    policy = rec.one("aws:s3/bucketPolicy:BucketPolicy", "access-logs-policy")
    assert policy.urn in rec.one("kubernetes:helm.sh/v3:Release", "airflow-release").dependencies
    assert any(s["Sid"] == "AlbLogDeliveryService" for s in statements(policy_of(policy)))


def test_port_forward_stacks_grant_no_load_balancer(engine):
    policy = engine.program("dev").one("aws:s3/bucketPolicy:BucketPolicy", "access-logs-policy")
    assert not [s for s in statements(policy_of(policy)) if s["Sid"].startswith("AlbLogDelivery")]
