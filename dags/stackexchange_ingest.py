"""Stack Exchange ingest: land a site's Posts.xml and Users.xml in the data bucket.

Downloads the 7z data dump of one Stack Exchange site, keeps the archive under
``landing/``, and extracts the two files the transform needs into ``raw/``,
one partition per ingest (the run's date), each an Asset whose event names the
exact key it wrote. The archive comes from the run's ``archive_url`` param, else the
``stackexchange_archive_url`` Variable, else a small site's dump on the
Internet Archive.

Data bucket (Variable ``data_bucket``)::

    landing/stackexchange/ingest_date=<date>/<archive name>   the archive, as downloaded
    raw/stackexchange/ingest_date=<date>/Posts.xml            Asset stackexchange_raw_posts
    raw/stackexchange/ingest_date=<date>/Users.xml            Asset stackexchange_raw_users

A re-run of a date overwrites that date's keys only, so re-runs and retries
are safe and earlier ingests stay as they were.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import PurePosixPath
from urllib.parse import urlparse

import pendulum
from airflow.sdk import Param, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException
from include.assets import STACKEXCHANGE_POSTS, STACKEXCHANGE_USERS, stackexchange_raw_key
from include.platform import DAGRUN_TIMEOUT, DEFAULT_ARGS, HTTP_TIMEOUT, DataBucket, run_date, setting

DEFAULT_ARCHIVE_URL = "https://archive.org/download/stackexchange/coffee.stackexchange.com.7z"
ARCHIVE_URL_VARIABLE = "stackexchange_archive_url"

MEMBERS = {"Posts.xml": STACKEXCHANGE_POSTS, "Users.xml": STACKEXCHANGE_USERS}


@dag(
    dag_id="stackexchange_ingest",
    description="Download a Stack Exchange data dump; land Posts.xml and Users.xml as Assets",
    schedule="@weekly",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=DAGRUN_TIMEOUT,
    default_args=DEFAULT_ARGS,
    tags=["example", "assets", "stackexchange", "s3"],
    params={
        "archive_url": Param(
            None, type=["null", "string"],
            description="7z dump to ingest. Empty: the stackexchange_archive_url Variable, "
                        "else " + DEFAULT_ARCHIVE_URL),
    },
    doc_md=__doc__,
)
def stackexchange_ingest():
    @task(multiple_outputs=False, pool="stackexchange_archive")
    def download_archive() -> dict[str, str]:
        """Streams the archive to landing/ (no size limit in memory)."""
        import requests

        context = get_current_context()
        url = setting(context["params"].get("archive_url"), ARCHIVE_URL_VARIABLE, DEFAULT_ARCHIVE_URL)
        name = PurePosixPath(urlparse(url).path).name
        if not name.endswith(".7z"):
            raise AirflowFailException(f"archive_url must point to a .7z archive, got {url!r}")
        date = run_date(context)
        key = f"landing/stackexchange/ingest_date={date}/{name}"
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, name)
            with requests.get(url, stream=True, timeout=HTTP_TIMEOUT) as response:
                response.raise_for_status()
                with open(path, "wb") as out:
                    for chunk in response.iter_content(chunk_size=1 << 20):
                        out.write(chunk)
            DataBucket().upload(path, key)
        return {"url": url, "key": key, "ingest_date": date}

    @task(outlets=list(MEMBERS.values()), multiple_outputs=False)
    def extract_members(archive: dict[str, str]) -> dict[str, str]:
        """Extracts Posts.xml and Users.xml to raw/; fails if either is missing."""
        try:
            import py7zr
        except ModuleNotFoundError as e:
            raise RuntimeError("py7zr is not in this image: build it from dags/Dockerfile "
                               "(README, 'Writing DAGs')") from e

        bucket = DataBucket()
        outlet_events = get_current_context()["outlet_events"]
        landed = {}
        with tempfile.TemporaryDirectory() as tmp:
            with py7zr.SevenZipFile(bucket.download(archive["key"], tmp), "r") as z:
                by_name = {PurePosixPath(n).name: n for n in z.getnames()}
                missing = sorted(set(MEMBERS) - set(by_name))
                if missing:
                    raise AirflowFailException(f"{archive['url']} has no {', '.join(missing)}")
                out = os.path.join(tmp, "members")
                z.extract(path=out, targets=[by_name[m] for m in MEMBERS])
            for member, asset in MEMBERS.items():
                path = os.path.join(out, by_name[member])
                key = stackexchange_raw_key(archive["ingest_date"], member)
                bucket.upload(path, key)
                outlet_events[asset].extra = {"bucket": bucket.name, "key": key,
                                              "ingest_date": archive["ingest_date"],
                                              "source": archive["url"], "bytes": os.path.getsize(path)}
                landed[member] = key
        return landed

    extract_members(download_archive())


stackexchange_ingest()
