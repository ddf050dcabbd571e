"""The CA certificate that signs the RDS instance's server certificate.

Not a ComponentResource: plain functions that :class:`components.database.Database`
calls on the output of the ``aws.rds.getCertificate`` data source, so that
pgbouncer (and any other client) can verify the server (``verify-full``).

Where the certificate comes from, and why it can be trusted:

- AWS publishes each region's RDS CA certificates as one PEM bundle,
  ``https://truststore.pki.rds.amazonaws.com/<region>/<region>-bundle.pem``
  (RDS User Guide, "Certificate bundles by AWS Region"). It is downloaded over
  HTTPS with normal certificate verification (the system's trust store), from
  that host only: no redirects are followed, and the URL is a constant, not a
  config value. The bundle is cached in ``$XDG_CACHE_HOME/airflow-eks/rds-ca/``
  (``~/.cache/...`` by default) and downloaded again only when the cached one
  lacks the certificate asked for (a new CA after a rotation).
- With ``database.caBundleFile`` (air-gapped deploys, other partitions) a local
  PEM file is read instead, and nothing is downloaded.
- Either way, the certificate used is the one whose thumbprint the RDS API
  reports for the instance's ``ca_cert_identifier`` (``DescribeCertificates``,
  through the data source): the SHA-1 of the certificate's DER encoding (checked
  against the AWS CLI reference's example output for ``rds-ca-ecc384-g1`` in
  us-west-2 and that region's published certificate). A bundle without it, a
  match that is not a CA certificate, an expired one, or a file that holds no
  certificate, stop the deployment with a message naming the identifier, the
  region and where the bundle came from.

The selected certificate is re-encoded from its DER bytes, so the same
certificate always yields the same PEM text: no diff on a second ``pulumi up``.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import re
import ssl
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pulumi

if TYPE_CHECKING:
    from cryptography import x509

# cryptography is imported where it is used: a stack without RDS (and so
# every dev plan) never pays for the import.

TRUSTSTORE = "https://truststore.pki.rds.amazonaws.com"
# A regional bundle is a few dozen KiB; anything far larger is not one.
MAX_BUNDLE_BYTES = 2 * 1024 * 1024
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]")


class CaBundleError(pulumi.RunError):
    """The RDS CA certificate could not be obtained or verified. A RunError:
    the CLI prints its message alone, without a Python traceback."""


def bundle_url(region: str, base_url: str = TRUSTSTORE) -> str:
    """Where AWS publishes ``region``'s RDS CA bundle."""
    if not _REGION.fullmatch(region):
        raise CaBundleError(f"not an AWS region: {region!r}")
    return f"{base_url}/{region}/{region}-bundle.pem"


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/airflow-eks/rds-ca``, or ``~/.cache/airflow-eks/rds-ca``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "airflow-eks" / "rds-ca"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """The bundle is served by the trust store host itself: a redirect elsewhere
    (or to plain HTTP) is refused, not followed."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: ANN001, ANN201, PLR0913
        raise urllib.error.HTTPError(req.full_url, code, f"redirect to {newurl} refused", headers, fp)


def download_bundle(region: str, *, base_url: str = TRUSTSTORE, context: ssl.SSLContext | None = None,
                    timeout: float = 30) -> bytes:
    """GETs ``region``'s bundle over verified HTTPS. ``base_url`` and ``context``
    exist for the tests (a local server with a test CA); the program never
    passes them, so no config value can point the download elsewhere."""
    if not base_url.startswith("https://"):
        raise CaBundleError(f"the RDS CA bundle is fetched over HTTPS only, not from {base_url}")
    url = bundle_url(region, base_url)
    context = context or ssl.create_default_context()
    # create_default_context verifies the chain and the host name; a caller's
    # context must too.
    if context.verify_mode != ssl.CERT_REQUIRED or not context.check_hostname:
        raise CaBundleError("the RDS CA bundle download must verify the server's certificate")
    opener = urllib.request.build_opener(_NoRedirect(), urllib.request.HTTPSHandler(context=context))
    try:
        with opener.open(url, timeout=timeout) as response:
            body = response.read(MAX_BUNDLE_BYTES + 1)
    except (urllib.error.URLError, OSError) as exc:
        raise CaBundleError(f"could not download the RDS CA bundle {url}: {exc}. Without network access, "
                            "set airflow-eks:database.caBundleFile to a copy of it") from exc
    if len(body) > MAX_BUNDLE_BYTES:
        raise CaBundleError(f"{url} is larger than {MAX_BUNDLE_BYTES} bytes: not an RDS CA bundle")
    return body


def thumbprint(cert: x509.Certificate) -> str:
    """What the RDS API calls a certificate's thumbprint: SHA-1 of its DER, hex."""
    from cryptography.hazmat.primitives.serialization import Encoding
    return hashlib.sha1(cert.public_bytes(Encoding.DER), usedforsecurity=False).hexdigest()


def _normalise(value: str) -> str:
    return value.replace(":", "").strip().lower()


def certificates(bundle: bytes) -> list[x509.Certificate]:
    """The certificates of a PEM bundle; none for anything else."""
    from cryptography import x509
    try:
        return x509.load_pem_x509_certificates(bundle)
    except ValueError:
        return []


def has_certificate(bundle: bytes, expected_thumbprint: str) -> bool:
    """True when ``bundle`` holds a certificate of that thumbprint."""
    wanted = _normalise(expected_thumbprint)
    return any(thumbprint(c) == wanted for c in certificates(bundle))


def select_ca(bundle: bytes, *, expected_thumbprint: str, identifier: str, region: str, source: str,
              now: datetime.datetime | None = None) -> str:
    """The PEM of the CA certificate of ``bundle`` whose thumbprint the RDS API
    reported for ``identifier``; raises :class:`CaBundleError` otherwise."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding
    where = f"RDS CA {identifier} of {region} (thumbprint {expected_thumbprint}) from {source}"
    found = certificates(bundle)
    if not found:
        raise CaBundleError(f"{where}: no PEM certificate in it")
    wanted = _normalise(expected_thumbprint)
    matches = [c for c in found if thumbprint(c) == wanted]
    if not matches:
        raise CaBundleError(f"{where}: none of its {len(found)} certificates has that thumbprint")
    cert = matches[0]
    try:
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if not is_ca:
        raise CaBundleError(f"{where}: the certificate of that thumbprint is not a CA certificate")
    now = now or datetime.datetime.now(datetime.UTC)
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise CaBundleError(f"{where}: the certificate is valid only from {cert.not_valid_before_utc} "
                            f"to {cert.not_valid_after_utc}")
    return cert.public_bytes(Encoding.PEM).decode()


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def ca_certificate(*, identifier: str, region: str, expected_thumbprint: str, bundle_file: str | None = None,
                   cache: Path | None = None, download: Callable[[str], bytes] = download_bundle) -> str:
    """The verified PEM of RDS CA ``identifier`` in ``region``: from
    ``bundle_file`` when set, else from the cache, else downloaded (and cached)."""
    if bundle_file:
        try:
            bundle = Path(bundle_file).read_bytes()
        except OSError as exc:
            raise CaBundleError(f"database.caBundleFile {bundle_file}: {exc.strerror}") from exc
        return select_ca(bundle, expected_thumbprint=expected_thumbprint, identifier=identifier,
                         region=region, source=f"database.caBundleFile {bundle_file}")
    cached = (cache or cache_dir()) / f"{region}-bundle.pem"
    if cached.is_file() and has_certificate(cached.read_bytes(), expected_thumbprint):
        return select_ca(cached.read_bytes(), expected_thumbprint=expected_thumbprint,
                         identifier=identifier, region=region, source=str(cached))
    bundle = download(region)
    pem = select_ca(bundle, expected_thumbprint=expected_thumbprint, identifier=identifier,
                    region=region, source=bundle_url(region))
    _write_atomically(cached, bundle)
    return pem
