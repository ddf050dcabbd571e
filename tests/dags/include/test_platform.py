"""dags/include/platform.py: the run date and the param > Variable > default rule."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from unittest import mock

from include import platform

from tests.dags.conftest import sns_topic_with_queue


def test_run_date_is_the_logical_date_when_there_is_one():
    context = {"logical_date": datetime(2026, 3, 1, 23, 59, tzinfo=UTC),
               "dag_run": SimpleNamespace(run_after=datetime(2026, 3, 2, 0, 5, tzinfo=UTC))}
    assert platform.run_date(context) == "2026-03-01"


def test_run_date_of_an_asset_triggered_run_is_when_it_was_due():
    context = {"logical_date": None,
               "dag_run": SimpleNamespace(run_after=datetime(2026, 3, 2, 0, 5, tzinfo=UTC))}
    assert platform.run_date(context) == "2026-03-02"


def test_a_param_wins_and_reads_no_variable():
    with mock.patch.object(platform.Variable, "get", side_effect=AssertionError("read a Variable")):
        assert platform.setting("https://example.test/a.7z", "some_variable", "default") == \
            "https://example.test/a.7z"


def test_without_a_param_the_variable_then_the_default():
    with mock.patch.object(platform.Variable, "get", side_effect=lambda key, default: default) as get:
        assert platform.setting(None, "some_variable", "the-default") == "the-default"
    get.assert_called_once_with("some_variable", default="the-default")
    with mock.patch.object(platform.Variable, "get", return_value="from-variable"):
        assert platform.setting("", "some_variable", "the-default") == "from-variable"


# ------------------------------------------------------- failure notifier


def _failure_context():
    ti = SimpleNamespace(dag_id="some_dag", task_id="some_task", run_id="manual__1", try_number=1)
    return {"ti": ti, "exception": ValueError("boom")}


def test_every_task_gets_the_failure_notifier():
    assert isinstance(platform.DEFAULT_ARGS["on_failure_callback"], platform.PlatformFailureNotifier)


def test_a_failure_is_published_to_the_platforms_topic(s3, monkeypatch):
    topic, received = sns_topic_with_queue(s3)
    monkeypatch.setenv("AIRFLOW_VAR_ALERTS_TOPIC_ARN", topic)
    platform.PlatformFailureNotifier().notify(_failure_context())
    (message,) = received()
    assert "some_dag" in message and "some_task" in message and "boom" in message


def test_without_a_topic_nothing_is_sent(s3, monkeypatch):
    _, received = sns_topic_with_queue(s3)
    monkeypatch.delenv("AIRFLOW_VAR_ALERTS_TOPIC_ARN", raising=False)
    with mock.patch("airflow.providers.amazon.aws.notifications.sns.SnsNotifier") as notifier:
        platform.PlatformFailureNotifier().notify(_failure_context())
    notifier.assert_not_called()
    assert received() == []


def test_the_pools_dags_name_are_the_ones_the_platform_creates():
    """A task whose pool does not exist is never scheduled: the pools the DAGs
    use must be what the migration Job creates (Pulumi.yaml airflow.pools)."""
    import json
    from pathlib import Path

    import yaml
    declared = yaml.safe_load((Path(__file__).resolve().parents[3] / "Pulumi.yaml").read_text())
    assert json.loads(declared["config"]["airflow.pools"]["default"]) == platform.POOLS
