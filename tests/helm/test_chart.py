"""Finding the chart package: env var, cache, ../shared (schema), download; digests enforced."""

from __future__ import annotations

import hashlib
import urllib.request

import pytest

from components.airflow import CHART_SHA256
from tests.helm import chart


@pytest.fixture
def no_package(monkeypatch, tmp_path):
    """No env var, an empty cache, and no network."""
    monkeypatch.delenv(chart.ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))

    def offline(*args, **kwargs):
        raise OSError("offline")
    monkeypatch.setattr(urllib.request, "urlopen", offline)
    return tmp_path


def test_cache_folder_is_outside_the_repository(monkeypatch, tmp_path):
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert str(chart.cache_dir()).endswith(".cache/airflow-eks/charts")
    assert chart.ROOT not in chart.cache_dir().parents


def test_nothing_available_gives_one_line_saying_what_and_how(no_package):
    package, reason = chart.find_package()
    assert package is None and "download failed (offline)" in reason
    message = f"{reason}; {chart.how_to_provide()}"
    assert "\n" not in message and "make chart" in message and chart.ENV_VAR in message
    assert CHART_SHA256 in message


def test_a_package_with_another_digest_is_refused_with_both(no_package, monkeypatch):
    fake = no_package / "airflow-1.22.0.tgz"
    fake.write_bytes(b"not the chart")
    monkeypatch.setenv(chart.ENV_VAR, str(fake))
    with pytest.raises(chart.ChartDigestError) as e:
        chart.find_package()
    assert hashlib.sha256(b"not the chart").hexdigest() in str(e.value) and CHART_SHA256 in str(e.value)


def test_a_download_with_another_digest_is_refused_and_not_cached(no_package, monkeypatch):
    monkeypatch.undo()  # a real urlopen, on a local file
    monkeypatch.setenv("XDG_CACHE_HOME", str(no_package / "cache"))
    source = no_package / "served.tgz"
    source.write_bytes(b"tampered")
    with pytest.raises(chart.ChartDigestError) as e:
        chart.download(url=source.as_uri())
    assert hashlib.sha256(b"tampered").hexdigest() in str(e.value) and CHART_SHA256 in str(e.value)
    assert not (no_package / "cache" / "airflow-eks" / "charts" / chart.PACKAGE_NAME).exists()


def test_a_good_download_lands_in_the_cache(monkeypatch, tmp_path):
    package = chart.require_package()  # the real one, from wherever it is found
    monkeypatch.delenv(chart.ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    path = chart.download(url=package.as_uri())
    assert path == chart.cache_dir() / chart.PACKAGE_NAME
    assert chart.find_package(allow_download=False) == (path, "")


def test_the_schema_comes_from_the_package_when_there_is_one():
    package = chart.require_package()
    schema = chart.schema_from_package(package)
    assert "databaseCleanup" in schema["properties"] and "kubernetes" in schema["properties"]["workers"]["properties"]
