"""End to end: stackexchange_ingest on moto S3.

The dump is a 7z archive built from tests/dags/fixtures/stackexchange and
served over HTTP on 127.0.0.1, like the Internet Archive's copy."""

from __future__ import annotations

from tests.dags.conftest import STACKEXCHANGE_ARCHIVE as ARCHIVE
from tests.dags.conftest import STACKEXCHANGE_DATE as DATE
from tests.dags.conftest import run_dag, stackexchange_objects, try_numbers

RAW = f"raw/stackexchange/ingest_date={DATE}"


def test_lands_the_archive_and_both_raw_files_in_the_ingests_partition(stackexchange_ingested, sources):
    landing = f"landing/stackexchange/ingest_date={DATE}/{ARCHIVE}"
    assert set(stackexchange_ingested) == {landing, f"{RAW}/Posts.xml", f"{RAW}/Users.xml"}
    assert stackexchange_ingested[landing] == (sources.root / ARCHIVE).read_bytes()
    for name in ("Posts.xml", "Users.xml"):
        assert stackexchange_ingested[f"{RAW}/{name}"] == (sources.root / "stackexchange" / name).read_bytes()


def test_records_an_event_on_each_asset(stackexchange_ingested, s3):
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    with create_session() as session:
        events = {name: extra for name, extra in session.query(AssetModel.name, AssetEvent.extra)
                  .join(AssetEvent, AssetEvent.asset_id == AssetModel.id)}
    assert set(events) == {"stackexchange_raw_posts", "stackexchange_raw_users"}
    assert events["stackexchange_raw_posts"]["bucket"] == s3.bucket
    assert events["stackexchange_raw_posts"]["key"] == f"{RAW}/Posts.xml"
    assert events["stackexchange_raw_posts"]["ingest_date"] == DATE
    assert events["stackexchange_raw_users"]["bytes"] == len(stackexchange_ingested[f"{RAW}/Users.xml"])


def test_a_second_run_leaves_the_same_objects(stackexchange_ingested, dagbag, s3, sources):
    before = stackexchange_objects(s3)
    assert run_dag(dagbag, "stackexchange_ingest", date=DATE,
                   conf={"archive_url": sources.url(ARCHIVE)}) == {
        "download_archive": "success", "extract_members": "success"}
    assert stackexchange_objects(s3) == before


def test_fails_on_an_archive_without_the_files(dagbag, s3, sources):
    import py7zr
    with py7zr.SevenZipFile(sources.root / "tags-only.7z", "w") as z:
        z.writestr(b"<tags />", "Tags.xml")
    raw_before = {k: v for k, v in stackexchange_objects(s3).items() if k.startswith("raw/")}
    states = run_dag(dagbag, "stackexchange_ingest", date="2026-11-19", retries=True,
                     conf={"archive_url": sources.url("tags-only.7z")})
    assert states == {"download_archive": "success", "extract_members": "failed"}
    assert try_numbers("stackexchange_ingest")["extract_members"] == 1, "a validation error was retried"
    assert {k: v for k, v in stackexchange_objects(s3).items() if k.startswith("raw/")} == raw_before


def test_refuses_a_url_that_is_not_a_7z_archive_without_retrying(dagbag, sources):
    states = run_dag(dagbag, "stackexchange_ingest", date="2026-11-18", retries=True,
                     conf={"archive_url": sources.url("usgs/catalogue.geojson")})
    assert states == {"download_archive": "failed", "extract_members": "upstream_failed"}
    assert try_numbers("stackexchange_ingest")["download_archive"] == 1
