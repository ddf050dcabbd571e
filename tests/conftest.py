"""The one mocks fixture: ``engine`` runs code under the recording engine.

Infrastructure tests build components directly (``engine.build``) or run the
whole program for a stack (``engine.program``) and assert on the inputs the
engine recorded. No CLI, no plugins, no credentials, no network.
"""

from __future__ import annotations

import gc
import json
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Fewer garbage collections: a test session keeps many objects alive (the
# programs' recordings, Airflow's modules), which each full collection
# rescans. Measured: 15% less CPU for tests/components/test_config.py and
# test_monitoring.py (23.5 -> 19.9 s). Cycles are still collected.
gc.set_threshold(100_000, 50, 1000)

if TYPE_CHECKING:
    from components.config import StackConfig
    from plan.engine import Recording, Resource

# A throwaway key with the shape git-sync expects; never used anywhere.
FAKE_SSH_KEY = ("-----BEGIN OPENSSH PRIVATE KEY-----\n"
                "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
                "-----END OPENSSH PRIVATE KEY-----")


class Engine:
    """Entry points to the recording engine, shared by every infra test.

    Pulumi is imported here, not at module level, so that the DAG tests can
    share this conftest from the Airflow environment, which has no Pulumi."""

    def __init__(self) -> None:
        self._programs: dict[tuple, Recording] = {}

    def config(self, stack: str = "dev", overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Raw config of Pulumi.<stack>.yaml with overrides, as the CLI passes it."""
        from plan.engine import stack_config
        return stack_config(stack, overrides)

    def stack_config(self, stack: str = "dev", overrides: Mapping[str, Any] | None = None,
                     secret_keys: tuple[str, ...] = ()) -> StackConfig:
        """The parsed StackConfig of a stack (no engine involved). ``secret_keys``:
        full keys set with --secret."""
        from components.config import parse_stack_config
        config = self.config(stack, overrides)
        # Plus the keys a Secret override marks (plan.engine.StackSettings).
        return parse_stack_config(config, stack=stack,
                                  secret_keys=(*secret_keys, *getattr(config, "secret_keys", ())))

    def program(self, stack: str = "dev", overrides: Mapping[str, Any] | None = None,
                *, fresh: bool = False, secret_keys: tuple[str, ...] = ()) -> Recording:
        """Runs __main__.py for a stack. Cached per (stack, overrides) unless fresh."""
        # A Secret override (plan.engine.Secret) keys the cache by its value too.
        key = (stack, json.dumps(overrides or {}, sort_keys=True, default=lambda s: {"secret": s.value}),
               secret_keys)
        from plan.engine import run_program
        if fresh or key not in self._programs:
            self._programs[key] = run_program(self.config(stack, overrides), stack=stack,
                                              secret_keys=secret_keys)
        return self._programs[key]

    def failing_program(self, stack: str, overrides: Mapping[str, Any],
                        secret_keys: tuple[str, ...] = ()) -> Recording:
        """Runs __main__.py expecting a ConfigError; returns the recording with it."""
        from components.config import ConfigError
        from plan.engine import run_program
        return run_program(self.config(stack, overrides), stack=stack, catch=ConfigError,
                           secret_keys=secret_keys)

    def build(self, fn: Callable[[], Any], stack: str = "dev") -> Recording:
        """Builds components directly (fn creates them) and records what they register."""
        from plan.engine import evaluate
        return evaluate(fn, self.config(stack), stack=stack)


@pytest.fixture(scope="session")
def engine() -> Engine:
    return Engine()


def module_constants(path: Path, *names: str) -> dict[str, Any]:
    """Module-level ``NAME = <literal>`` values of a source file, read without
    importing it: how a test in one environment checks a name that code from
    the other one (DAGs vs. the Pulumi program) must agree with."""
    import ast
    found = {node.targets[0].id: ast.literal_eval(node.value)
             for node in ast.parse(path.read_text()).body
             if isinstance(node, ast.Assign) and len(node.targets) == 1
             and isinstance(node.targets[0], ast.Name) and node.targets[0].id in names}
    assert set(found) == set(names), f"{path.name} does not define {set(names) - set(found)}"
    return found


def policy_of(resource: Resource, key: str = "policy") -> dict[str, Any]:
    """Parses a rendered IAM policy input."""
    return json.loads(resource.plain_inputs[key])


def statements(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    return list(doc["Statement"])
