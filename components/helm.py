"""pinned_release: how every chart is installed (no ComponentResource here).

One place for the release policy: real Helm (``helm.v3.Release``, so charts'
hooks and jobs run), a pinned chart version from its own repository,
``atomic`` and ``cleanup_on_fail`` so a failed install or upgrade rolls back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_kubernetes as k8s


def pinned_release(resource_name: str, *, chart: str, version: str, repo: str, namespace: str,
                   values: Mapping[str, Any], timeout: int, provider: k8s.Provider,
                   parent: pulumi.Resource, release_name: str | None = None,
                   depends_on: list[pulumi.Resource] | None = None,
                   wait_for_jobs: bool = False, postrender: str | None = None) -> k8s.helm.v3.Release:
    """A Helm release of ``chart`` at exactly ``version``, rolled back on failure."""
    return k8s.helm.v3.Release(
        resource_name,
        name=release_name or chart,
        chart=chart,
        version=version,
        repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=repo),
        namespace=namespace,
        values=dict(values),
        atomic=True,
        cleanup_on_fail=True,
        wait_for_jobs=wait_for_jobs,
        timeout=timeout,
        max_history=10,
        postrender=postrender,
        opts=pulumi.ResourceOptions(parent=parent, provider=provider, depends_on=depends_on or []),
    )
