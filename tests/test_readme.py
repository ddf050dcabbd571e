"""The README documents every config key and both commands."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def test_every_config_key_is_documented():
    readme = (ROOT / "README.md").read_text()
    keys = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]
    missing = [k for k in keys if f"`{k}`" not in readme]
    assert not missing


def test_the_two_commands_are_shown_and_ci_calls_make_test():
    readme = (ROOT / "README.md").read_text()
    assert "make up STACK=dev" in readme and "make test" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()
