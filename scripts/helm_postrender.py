#!/usr/bin/env python3
"""Helm post-renderer: give every Job a name that carries a digest of its content.

The chart names its migration and user-creation Jobs after the release only.
With ``useHelmHooks: false`` they are plain objects, so an upgrade that changes
their pod template (a new image, a secretsRevision bump) patches a Job that
still exists (running, or within ``ttlSecondsAfterFinished``), and Kubernetes
refuses: "field is immutable" (apache/airflow#27561). Named after their
content, a changed Job is a new object: Helm creates it and deletes the old
one; an unchanged one keeps its name, so a no-op upgrade changes nothing.

Helm runs this with the rendered manifests on stdin and applies what it
prints (``helm.v3.Release(postrender=...)``). Standard library only: it runs
wherever ``pulumi up`` runs. ``tests/helm`` runs it over the real chart.
"""

from __future__ import annotations

import hashlib
import re
import sys

_KIND_JOB = re.compile(r"^kind:\s*Job\s*$", re.MULTILINE)
_NAME = re.compile(r"^(metadata:\s*\n(?:[ \t]+.*\n|\s*\n)*?[ ]{2}name:\s*)(\S+)(\s*)$", re.MULTILINE)
DIGEST_LENGTH = 10


def rename_jobs(stream: str) -> str:
    """The manifest stream with each ``kind: Job`` renamed ``<name>-<digest>``."""
    docs = re.split(r"(?m)^---[ \t]*$", stream)
    out = []
    for doc in docs:
        if _KIND_JOB.search(doc):
            digest = hashlib.sha256(doc.encode()).hexdigest()[:DIGEST_LENGTH]
            doc, found = _NAME.subn(rf"\g<1>\g<2>-{digest}\g<3>", doc, count=1)
            if not found:
                raise SystemExit("helm_postrender: a Job without metadata.name")
        out.append(doc)
    return "---".join(out)


if __name__ == "__main__":
    sys.stdout.write(rename_jobs(sys.stdin.read()))
