"""The airflow-eks policy pack: every policy in guardrails.py, mandatory.

Used as `pulumi preview --policy-pack policy` (make preview, the PR workflow).
Constructing PolicyPack starts the analyzer server, so this is the only place
that does; tests import guardrails.py directly.
"""

from guardrails import POLICIES, POLICY_PACK_NAME
from pulumi_policy import EnforcementLevel, PolicyPack

PolicyPack(
    name=POLICY_PACK_NAME,
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=POLICIES,
)
