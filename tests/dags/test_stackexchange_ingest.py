"""End to end: stackexchange_ingest on moto S3.

The dump is a 7z archive built from tests/dags/fixtures/stackexchange and
served over HTTP on 127.0.0.1, like the Internet Archive's copy."""

from __future__ import annotations

from tests.dags.conftest import STACKEXCHANGE_ARCHIVE as ARCHIVE
from tests.dags.conftest import STACKEXCHANGE_DATE as DATE
from tests.dags.conftest import run_dag, stackexchange_objects


def test_lands_the_archive_and_both_raw_files(stackexchange_ingested, sources):
    assert set(stackexchange_ingested) == {f"landing/stackexchange/{ARCHIVE}",
                                           "raw/stackexchange/Posts.xml", "raw/stackexchange/Users.xml"}
    assert stackexchange_ingested[f"landing/stackexchange/{ARCHIVE}"] == (sources.root / ARCHIVE).read_bytes()
    for name in ("Posts.xml", "Users.xml"):
        assert stackexchange_ingested[f"raw/stackexchange/{name}"] == \
            (sources.root / "stackexchange" / name).read_bytes()


def test_records_an_event_on_each_asset(stackexchange_ingested, s3):
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    with create_session() as session:
        events = {name: extra for name, extra in session.query(AssetModel.name, AssetEvent.extra)
                  .join(AssetEvent, AssetEvent.asset_id == AssetModel.id)}
    assert set(events) == {"stackexchange_raw_posts", "stackexchange_raw_users"}
    assert events["stackexchange_raw_posts"]["bucket"] == s3.bucket
    assert events["stackexchange_raw_posts"]["key"] == "raw/stackexchange/Posts.xml"
    assert events["stackexchange_raw_users"]["bytes"] == len(stackexchange_ingested["raw/stackexchange/Users.xml"])


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
    states = run_dag(dagbag, "stackexchange_ingest", date="2026-11-19", expect_failure=True,
                     conf={"archive_url": sources.url("tags-only.7z")})
    assert states == {"download_archive": "success", "extract_members": "failed"}
    assert {k: v for k, v in stackexchange_objects(s3).items() if k.startswith("raw/")} == raw_before


def test_refuses_a_url_that_is_not_a_7z_archive(dagbag, sources):
    states = run_dag(dagbag, "stackexchange_ingest", date="2026-11-18", expect_failure=True,
                     conf={"archive_url": sources.url("usgs/all_day.geojson")})
    assert states == {"download_archive": "failed", "extract_members": "upstream_failed"}
