"""dags/include/platform.py: the run date and the param > Variable > default rule."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from unittest import mock

from include import platform


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
