"""Refuses a deploy job before it takes an AWS role, unless it deploys the
commit at the head of main.

- The ref must be refs/heads/main: `workflow_dispatch` can be started on any
  branch or tag, and the deploy role's trust refuses those anyway; this fails
  early, with a message, before any credential is requested.
- The commit must be main's head now: a re-run of an older Deploy run, or one
  that waited for the prod approval while main moved on, would otherwise roll
  the stack back to an older commit after a newer one was deployed.

Reads GITHUB_REF, GITHUB_SHA, GITHUB_REPOSITORY, GITHUB_API_URL (set by the
runner) and GH_TOKEN (the job's GITHUB_TOKEN, contents: read). Stdlib only.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.request

MAIN = "refs/heads/main"


def refusal(ref: str, sha: str, main_head: str | None) -> str | None:
    """Why this run must not deploy, or None when it may."""
    if ref != MAIN:
        return f"deploys run only from {MAIN}, not {ref!r}: dispatch the workflow on main"
    if main_head is not None and sha != main_head:
        return (f"commit {sha[:12]} is no longer the head of main ({main_head[:12]}): "
                "a newer commit supersedes it, and its own run deploys it")
    return None


def main_head(api: str, repository: str, token: str) -> str:
    request = urllib.request.Request(
        f"{api}/repos/{repository}/git/ref/heads/main",
        headers={"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json"})
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (https API URL)
        return json.load(response)["object"]["sha"]


def run(env: dict[str, str]) -> int:
    ref, sha = env["GITHUB_REF"], env["GITHUB_SHA"]
    # The ref check needs no network: do it first.
    reason = refusal(ref, sha, None) or refusal(
        ref, sha, main_head(env.get("GITHUB_API_URL", "https://api.github.com"),
                            env["GITHUB_REPOSITORY"], env["GH_TOKEN"]))
    if reason:
        print(f"::error::refusing to deploy: {reason}")
        return 1
    print(f"deploying {sha[:12]}, the head of main")
    return 0


if __name__ == "__main__":
    sys.exit(run(dict(os.environ)))
