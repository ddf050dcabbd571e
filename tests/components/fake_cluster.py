"""The cluster that component tests stand IRSA roles and add-ons on: its OIDC
identity (as the Cluster component exports it) and a Kubernetes provider, in
one place, so that every add-on's test speaks of the same cluster."""

from __future__ import annotations

from typing import Any

import pulumi_kubernetes as k8s

from plan.engine import ACCOUNT

ISSUER = "oidc.eks.us-east-1.amazonaws.com/id/ABC"
OIDC_PROVIDER_ARN = f"arn:aws:iam::{ACCOUNT}:oidc-provider/{ISSUER}"
OIDC_PROVIDER_URL = f"https://{ISSUER}"
SYSTEM_NODES = {"airflow-eks/node-group": "system"}


def oidc() -> dict[str, str]:
    """The IRSA inputs: the cluster's OIDC provider ARN and issuer URL."""
    return {"oidc_provider_arn": OIDC_PROVIDER_ARN, "oidc_provider_url": OIDC_PROVIDER_URL}


def system_addon() -> dict[str, Any]:
    """The inputs of a release on the system nodes with its own IRSA role, in
    this account and partition. Call it inside ``engine.build``: it registers
    the Kubernetes provider."""
    return {**oidc(), "account_id": ACCOUNT, "partition": "aws",
            "provider": k8s.Provider("k", kubeconfig="{}"), "node_selector": SYSTEM_NODES}
