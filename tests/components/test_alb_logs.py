"""The UI's ALB access logs (issue 14 §3): their own SSE-S3 bucket (ALB log
delivery does not support SSE-KMS), written only by Elastic Load Balancing
under alb/AWSLogs/<account>/, in place before the Ingress that turns them on."""

from __future__ import annotations

from tests.conftest import policy_of, statements


def test_the_alb_log_bucket_is_sse_s3_private_and_tls_only(engine):
    rec = engine.program("prod")
    (sse,) = [r for r in rec.of_type("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")
              if "alb-logs" in r.name]
    assert sse.plain_inputs["rules"][0]["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "AES256"}
    block = rec.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "alb-logs-public-access-block")
    assert all(block.plain_inputs[k] for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls",
                                                "restrictPublicBuckets"))
    assert rec.one("aws:s3/bucket:Bucket", "alb-logs-bucket").protect  # production


def test_only_elb_log_delivery_writes_and_only_under_the_prefix(engine):
    rec = engine.program("prod")
    bucket = rec.one("aws:s3/bucket:Bucket", "alb-logs-bucket")
    by_sid = {s["Sid"]: s for s in statements(policy_of(rec.one("aws:s3/bucketPolicy:BucketPolicy", "alb-logs-policy")))}
    assert by_sid["DenyInsecureTransport"]["Effect"] == "Deny"
    objects = f"{bucket.outputs['arn']}/alb/AWSLogs/123456789012/*"
    assert by_sid["AlbLogDeliveryRegionalAccount"]["Principal"] == {"AWS": ["arn:aws:iam::127311923021:root"]}
    assert by_sid["AlbLogDeliveryService"]["Principal"] == {"Service": ["logdelivery.elasticloadbalancing.amazonaws.com"]}
    for sid in ("AlbLogDeliveryRegionalAccount", "AlbLogDeliveryService"):
        assert by_sid[sid]["Action"] in ("s3:PutObject", ["s3:PutObject"])
        assert by_sid[sid]["Resource"] in (objects, [objects])


def test_the_policy_is_in_place_before_the_ingress(engine):
    rec = engine.program("prod")
    policy = rec.one("aws:s3/bucketPolicy:BucketPolicy", "alb-logs-policy")
    assert policy.urn in rec.one("kubernetes:helm.sh/v3:Release", "airflow-release").dependencies


def test_port_forward_stacks_have_no_alb_log_bucket(engine):
    assert not [r for r in engine.program("dev").resources if "alb-logs" in r.name]
