"""components/rds_ca.py: the RDS CA certificate is taken only from a verified
HTTPS download (or a local bundle) and only when the RDS API's thumbprint
names it. Test CAs are generated here; a local HTTPS server on 127.0.0.1
stands for AWS's trust store."""

from __future__ import annotations

import datetime
import hashlib
import http.server
import ipaddress
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from cryptography.x509.oid import NameOID

from components import rds_ca
from components.rds_ca import CaBundleError

REGION = "eu-west-1"
ID = "rds-ca-rsa2048-g1"
NOW = datetime.datetime.now(datetime.UTC)


def make_cert(cn: str, *, ca: bool = True, issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None = None,
              san: x509.GeneralName | None = None, days: int = 365, start_days: int = -1):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    issuer_cert, issuer_key = issuer or (None, key)
    builder = (x509.CertificateBuilder().subject_name(name)
               .issuer_name(issuer_cert.subject if issuer_cert else name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(NOW + datetime.timedelta(days=start_days))
               .not_valid_after(NOW + datetime.timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if san is not None:
        builder = builder.add_extension(x509.SubjectAlternativeName([san]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256()), key


def pem(*certs: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(Encoding.PEM) for c in certs)


def sha1(cert: x509.Certificate) -> str:
    return hashlib.sha1(cert.public_bytes(Encoding.DER)).hexdigest()


@pytest.fixture(scope="module")
def cas():
    """Three CAs of a region's bundle, and a non-CA certificate."""
    rsa2048, _ = make_cert(f"Amazon RDS {REGION} Root CA RSA2048 G1 (test)")
    rsa4096, _ = make_cert(f"Amazon RDS {REGION} Root CA RSA4096 G1 (test)")
    leaf, _ = make_cert("not a CA", ca=False)
    return {"rsa2048": rsa2048, "rsa4096": rsa4096, "leaf": leaf}


# ---------------------------------------------------------------- selection


def test_thumbprint_is_sha1_of_the_der_certificate(cas):
    assert rds_ca.thumbprint(cas["rsa2048"]) == sha1(cas["rsa2048"])


def test_selects_the_certificate_of_the_api_thumbprint(cas):
    bundle = pem(cas["rsa4096"], cas["rsa2048"])
    for name in ("rsa2048", "rsa4096"):
        # The API's thumbprint in any case and with colons matches too.
        shown = ":".join(sha1(cas[name])[i:i + 2] for i in range(0, 40, 2)).upper()
        got = rds_ca.select_ca(bundle, expected_thumbprint=shown, identifier=ID, region=REGION, source="t")
        assert x509.load_pem_x509_certificate(got.encode()) == cas[name]
        assert got == cas[name].public_bytes(Encoding.PEM).decode()


def test_refuses_a_bundle_without_the_thumbprint(cas):
    with pytest.raises(CaBundleError) as err:
        rds_ca.select_ca(pem(cas["rsa4096"]), expected_thumbprint=sha1(cas["rsa2048"]), identifier=ID,
                         region=REGION, source="https://example/bundle.pem")
    message = str(err.value)
    assert ID in message and REGION in message and "https://example/bundle.pem" in message
    assert "none of its 1 certificates has that thumbprint" in message


def test_refuses_a_certificate_that_is_not_a_ca(cas):
    with pytest.raises(CaBundleError, match="not a CA certificate"):
        rds_ca.select_ca(pem(cas["rsa2048"], cas["leaf"]), expected_thumbprint=sha1(cas["leaf"]),
                         identifier=ID, region=REGION, source="t")


def test_refuses_an_expired_ca():
    expired, _ = make_cert("expired", days=-1, start_days=-30)
    with pytest.raises(CaBundleError, match="valid only from"):
        rds_ca.select_ca(pem(expired), expected_thumbprint=sha1(expired), identifier=ID, region=REGION,
                         source="t")


@pytest.mark.parametrize("garbage", [b"", b"<html>503 Service Unavailable</html>",
                                     b"-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"])
def test_refuses_garbage(garbage):
    with pytest.raises(CaBundleError, match="no PEM certificate"):
        rds_ca.select_ca(garbage, expected_thumbprint="00" * 20, identifier=ID, region=REGION, source="t")


# ------------------------------------------------------ cache and local file


def test_local_bundle_file_is_used_and_verified(cas, tmp_path):
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(pem(cas["rsa2048"]))

    def no_download(region):
        raise AssertionError("a local bundle must not be downloaded")

    got = rds_ca.ca_certificate(identifier=ID, region=REGION, expected_thumbprint=sha1(cas["rsa2048"]),
                                bundle_file=str(bundle), cache=tmp_path / "cache", download=no_download)
    assert got == pem(cas["rsa2048"]).decode()
    with pytest.raises(CaBundleError, match=f"database.caBundleFile {bundle}"):
        rds_ca.ca_certificate(identifier=ID, region=REGION, expected_thumbprint=sha1(cas["rsa4096"]),
                              bundle_file=str(bundle), cache=tmp_path / "cache", download=no_download)


def test_downloads_once_caches_and_downloads_again_for_a_new_ca(cas, tmp_path):
    served = {"bundle": pem(cas["rsa2048"])}
    calls = []

    def download(region):
        calls.append(region)
        return served["bundle"]

    def get(cert):
        return rds_ca.ca_certificate(identifier=ID, region=REGION, expected_thumbprint=sha1(cert),
                                     cache=tmp_path, download=download)

    assert get(cas["rsa2048"]) == pem(cas["rsa2048"]).decode()
    assert get(cas["rsa2048"]) == pem(cas["rsa2048"]).decode()
    assert calls == [REGION], "the second call is answered from the cache"
    assert (tmp_path / f"{REGION}-bundle.pem").read_bytes() == pem(cas["rsa2048"])
    # After a rotation the API names a CA the cached bundle lacks: fetched anew.
    served["bundle"] = pem(cas["rsa2048"], cas["rsa4096"])
    assert get(cas["rsa4096"]) == pem(cas["rsa4096"]).decode()
    assert calls == [REGION, REGION]
    # A download without it is refused, and does not replace the cache.
    before = (tmp_path / f"{REGION}-bundle.pem").read_bytes()
    other, _ = make_cert("other")
    with pytest.raises(CaBundleError, match=r"https://truststore\.pki\.rds\.amazonaws\.com/eu-west-1/"):
        get(other)
    assert (tmp_path / f"{REGION}-bundle.pem").read_bytes() == before


def test_cache_dir_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert rds_ca.cache_dir() == tmp_path / "airflow-eks" / "rds-ca"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert rds_ca.cache_dir() == Path.home() / ".cache" / "airflow-eks" / "rds-ca"


# ----------------------------------------------------------------- download


def test_the_url_is_aws_trust_store_for_the_region():
    assert rds_ca.bundle_url("us-east-1") == \
        "https://truststore.pki.rds.amazonaws.com/us-east-1/us-east-1-bundle.pem"
    with pytest.raises(CaBundleError, match="not an AWS region"):
        rds_ca.bundle_url("../../evil")


@pytest.fixture(scope="module")
def https_server(tmp_path_factory) -> Iterator[tuple[str, x509.Certificate, bytes]]:
    """An HTTPS server on 127.0.0.1 with a certificate of a test CA, serving a
    bundle at the trust store's path, and a redirect to plain HTTP."""
    ca, ca_key = make_cert("test CA of the local trust store")
    server_cert, server_key = make_cert("127.0.0.1", ca=False, issuer=(ca, ca_key),
                                        san=x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    bundle_ca, _ = make_cert(f"Amazon RDS {REGION} Root CA RSA2048 G1 (served)")
    body = pem(bundle_ca)
    d = tmp_path_factory.mktemp("https")
    (d / "cert.pem").write_bytes(pem(server_cert))
    (d / "key.pem").write_bytes(server_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            if self.path == f"/{REGION}/{REGION}-bundle.pem":
                self.send_response(200)
                self.end_headers()
                self.wfile.write(body)
            else:  # anything else: off to plain HTTP
                self.send_response(302)
                self.send_header("Location", f"http://127.0.0.1:1{self.path}")
                self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(d / "cert.pem", d / "key.pem")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", ca, body
    finally:
        server.shutdown()
        server.server_close()


def client_trusting(ca: x509.Certificate) -> ssl.SSLContext:
    return ssl.create_default_context(cadata=pem(ca).decode())


def test_download_over_verified_https(https_server):
    base, ca, body = https_server
    assert rds_ca.download_bundle(REGION, base_url=base, context=client_trusting(ca), timeout=5) == body


def test_download_refuses_a_server_it_cannot_verify(https_server):
    base, _, _ = https_server
    other_ca, _ = make_cert("some other CA")
    with pytest.raises(CaBundleError, match="CERTIFICATE_VERIFY_FAILED"):
        rds_ca.download_bundle(REGION, base_url=base, context=client_trusting(other_ca), timeout=5)


def test_download_refuses_a_context_that_does_not_verify(https_server):
    base, _, _ = https_server
    lax = ssl.create_default_context()
    lax.check_hostname = False
    lax.verify_mode = ssl.CERT_NONE
    with pytest.raises(CaBundleError, match="must verify"):
        rds_ca.download_bundle(REGION, base_url=base, context=lax, timeout=5)


def test_download_refuses_plain_http_and_redirects(https_server):
    base, ca, _ = https_server
    with pytest.raises(CaBundleError, match="HTTPS only"):
        rds_ca.download_bundle(REGION, base_url=base.replace("https", "http"), context=client_trusting(ca))
    with pytest.raises(CaBundleError, match="redirect to http://127.0.0.1:1/us-east-1/"):
        rds_ca.download_bundle("us-east-1", base_url=base, context=client_trusting(ca), timeout=5)


def test_program_cannot_change_where_the_bundle_comes_from():
    """The only inputs of the production path are identifier, region, thumbprint
    and a local file: no URL or TLS setting reaches it from the stack config."""
    import inspect
    assert set(inspect.signature(rds_ca.ca_certificate).parameters) == {
        "identifier", "region", "expected_thumbprint", "bundle_file", "cache", "download"}
    assert inspect.signature(rds_ca.ca_certificate).parameters["download"].default is rds_ca.download_bundle
    assert inspect.signature(rds_ca.download_bundle).parameters["base_url"].default == \
        "https://truststore.pki.rds.amazonaws.com"


def test_a_bundle_error_stops_the_deployment_with_its_message_alone():
    # The CLI prints a RunError's message without the Python traceback that
    # any other exception raised inside the data source's apply would bring.
    import pulumi
    error = rds_ca.CaBundleError("eu-west-1-bundle.pem: none of its 3 certificates has that thumbprint")
    assert isinstance(error, pulumi.RunError)
