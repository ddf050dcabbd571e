"""The pinned chart package and its values schema, found without ../shared.

Resolution order (README, "Versions and upgrades"):

1. ``$AIRFLOW_EKS_CHART_PACKAGE``: a path to ``airflow-<version>.tgz``;
2. the cache folder ``~/.cache/airflow-eks/charts/`` (``$XDG_CACHE_HOME`` if
   set), outside git: ``make chart`` fills it, CI caches it;
3. for the schema only: ``../shared/airflow-chart/<version>/values.schema.json``
   beside the repository, where this repository's own CI keeps it;
4. a download of the package from the official chart repository into the
   cache folder.

Every package is checked against ``CHART_SHA256`` (components/airflow.py); a
package with another digest is refused with both digests, never used. Where
nothing is available, :func:`require_package` and :func:`require_schema`
skip the calling test with one line that says what is missing and how to
provide it.

``python -m tests.helm.chart`` (``make chart``) fetches the package into the
cache and prints its path.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import os
import sys
import tarfile
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

from components.airflow import CHART, CHART_REPO, CHART_SHA256, CHART_VERSION

ROOT = Path(__file__).resolve().parents[2]
ENV_VAR = "AIRFLOW_EKS_CHART_PACKAGE"
PACKAGE_NAME = f"{CHART}-{CHART_VERSION}.tgz"
SHARED_SCHEMA = ROOT.parent / "shared" / "airflow-chart" / CHART_VERSION / "values.schema.json"
# The official repository's index names this URL for the version; the index
# is read first so that a moved package is still found.
INDEX_URL = f"{CHART_REPO}/index.yaml"
FALLBACK_URL = f"https://downloads.apache.org/airflow/helm-chart/{CHART_VERSION}/{PACKAGE_NAME}"
TIMEOUT_SECONDS = 20


class ChartDigestError(RuntimeError):
    """A package whose sha256 is not the pinned one."""


def cache_dir() -> Path:
    """``~/.cache/airflow-eks/charts`` (or under ``$XDG_CACHE_HOME``)."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "airflow-eks" / "charts"


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def verified(path: Path, expected: str = CHART_SHA256) -> Path:
    """``path`` if its sha256 is ``expected``; otherwise ChartDigestError with both."""
    actual = sha256_of(path.read_bytes())
    if actual != expected:
        raise ChartDigestError(f"refusing chart package {path}: sha256 {actual}, "
                               f"pinned {expected} (components/airflow.py CHART_SHA256)")
    return path


def download(dest_dir: Path | None = None, *, url: str | None = None,
             expected: str = CHART_SHA256) -> Path:
    """Downloads the package (``url``, else the one the repository index names),
    checks its digest before it is written, and stores it in ``dest_dir``."""
    if url is None:
        url = _url_from_index()
    with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310 - pinned https URL
        data = response.read()
    actual = sha256_of(data)
    if actual != expected:
        raise ChartDigestError(f"refusing chart package from {url}: sha256 {actual}, "
                               f"pinned {expected} (components/airflow.py CHART_SHA256)")
    dest_dir = dest_dir or cache_dir()
    dest_dir.mkdir(parents=True, exist_ok=True)
    # Written under a temporary name, then renamed: a reader never sees half a file.
    with tempfile.NamedTemporaryFile(dir=dest_dir, delete=False, suffix=".part") as tmp:
        tmp.write(data)
    target = dest_dir / PACKAGE_NAME
    os.replace(tmp.name, target)
    return target


def _url_from_index() -> str:
    import yaml
    try:
        with urllib.request.urlopen(INDEX_URL, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
            index = yaml.safe_load(response.read())
    except OSError:
        return FALLBACK_URL
    for entry in index.get("entries", {}).get(CHART, []):
        if entry.get("version") == CHART_VERSION and entry.get("urls"):
            if entry.get("digest") and entry["digest"] != CHART_SHA256:
                raise ChartDigestError(f"the chart index lists {CHART} {CHART_VERSION} with sha256 "
                                       f"{entry['digest']}, pinned {CHART_SHA256}")
            url = entry["urls"][0]
            return url if "://" in url else f"{CHART_REPO}/{url}"
    return FALLBACK_URL


def find_package(*, allow_download: bool = True) -> tuple[Path | None, str]:
    """(package, "") or (None, why not). Raises ChartDigestError on a wrong digest."""
    named = os.environ.get(ENV_VAR)
    if named:
        path = Path(named).expanduser()
        if not path.is_file():
            return None, f"${ENV_VAR} names {path}, which is not a file"
        return verified(path), ""
    cached = cache_dir() / PACKAGE_NAME
    if cached.is_file():
        return verified(cached), ""
    if not allow_download:
        return None, f"{cached} does not exist"
    try:
        return download(), ""
    except ChartDigestError:
        raise
    except OSError as e:  # offline, DNS, HTTP errors
        return None, f"{cached} does not exist and the download failed ({e})"


@functools.cache
def _package_or_reason() -> tuple[Path | None, str]:
    return find_package()


def how_to_provide() -> str:
    return (f"run `make chart` where the Internet is reachable, or put {PACKAGE_NAME} "
            f"(sha256 {CHART_SHA256}) in {cache_dir()} or name it in ${ENV_VAR}")


def require_package() -> Path:
    """The verified package, or skip the calling test with one line."""
    import pytest
    package, reason = _package_or_reason()
    if package is None:
        pytest.skip(f"chart package {PACKAGE_NAME} unavailable: {reason}; {how_to_provide()}")
    return package


def schema_from_package(package: Path) -> dict[str, Any]:
    with tarfile.open(fileobj=io.BytesIO(package.read_bytes()), mode="r:gz") as tar:
        member = tar.extractfile(f"{CHART}/values.schema.json")
        assert member is not None
        return json.loads(member.read())


@functools.cache
def _schema_or_reason() -> tuple[dict[str, Any] | None, str]:
    package, reason = find_package(allow_download=False)
    if package is not None:
        return schema_from_package(package), ""
    if SHARED_SCHEMA.is_file():
        return json.loads(SHARED_SCHEMA.read_text()), ""
    package, reason = _package_or_reason()
    if package is not None:
        return schema_from_package(package), ""
    return None, f"no package ({reason}) and no {SHARED_SCHEMA}"


def require_schema() -> dict[str, Any]:
    """The chart's values.schema.json, or skip the calling test with one line."""
    import pytest
    schema, reason = _schema_or_reason()
    if schema is None:
        pytest.skip(f"values.schema.json of chart {CHART_VERSION} unavailable: {reason}; "
                    f"{how_to_provide()}")
    return schema


if __name__ == "__main__":
    try:
        found, why = find_package()
    except ChartDigestError as e:
        sys.exit(str(e))
    if found is None:
        sys.exit(f"chart package unavailable: {why}; {how_to_provide()}")
    print(found)
