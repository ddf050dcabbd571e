"""The deploy guard (.github/scripts/deploy_guard.py) refuses a dispatch on any
ref but main, and a commit that is no longer main's head, before the deploy
job asks for a role."""

from __future__ import annotations

import importlib.util
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from tests.conftest import ROOT

spec = importlib.util.spec_from_file_location("deploy_guard", ROOT / ".github" / "scripts" / "deploy_guard.py")
assert spec and spec.loader
guard = importlib.util.module_from_spec(spec)
spec.loader.exec_module(guard)

HEAD = "a" * 40
OLD = "b" * 40


@pytest.mark.parametrize("ref", ["refs/heads/feature", "refs/tags/v1.0.0", "refs/pull/7/merge",
                                 "refs/heads/main-old", "refs/heads/Main"])
def test_refuses_any_ref_but_main(ref):
    assert "only from refs/heads/main" in guard.refusal(ref, HEAD, HEAD)


def test_refuses_a_superseded_commit_and_accepts_main_head():
    assert "no longer the head of main" in guard.refusal("refs/heads/main", OLD, HEAD)
    assert guard.refusal("refs/heads/main", HEAD, HEAD) is None


@pytest.fixture
def api():
    """A stand-in for GitHub's git refs API on 127.0.0.1."""
    seen: list[tuple[str, str | None]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            seen.append((self.path, self.headers.get("Authorization")))
            body = json.dumps({"ref": "refs/heads/main", "object": {"sha": HEAD}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", seen
    server.shutdown()
    server.server_close()


def env(url: str, ref: str, sha: str) -> dict[str, str]:
    return {"GITHUB_REF": ref, "GITHUB_SHA": sha, "GITHUB_REPOSITORY": "org/repo",
            "GITHUB_API_URL": url, "GH_TOKEN": "t0ken"}


def test_run_asks_github_for_main_head(api, capsys):
    url, seen = api
    assert guard.run(env(url, "refs/heads/main", HEAD)) == 0
    assert seen == [("/repos/org/repo/git/ref/heads/main", "Bearer t0ken")]
    assert guard.run(env(url, "refs/heads/main", OLD)) == 1
    assert "::error::refusing to deploy" in capsys.readouterr().out


def test_a_branch_is_refused_without_asking_github(api):
    url, seen = api
    assert guard.run(env(url, "refs/heads/feature", HEAD)) == 1
    assert seen == []
