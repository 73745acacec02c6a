"""Trigger rules, conditions, retry delays and final statuses, on their own."""

import random

import pytest

from flows.rules import (
    check_condition_shape,
    check_retry_on,
    condition_holds,
    is_retryable,
    retry_delay,
    rule_allows,
    run_status,
)
from steps.errors import StepError, TransientError


@pytest.mark.parametrize(
    "rule, upstream, runs",
    [
        ("all_succeeded", ["succeeded", "succeeded"], True),
        ("all_succeeded", ["succeeded", "skipped"], False),
        ("all_done", ["failed", "skipped"], True),
        ("one_succeeded", ["failed", "succeeded"], True),
        ("one_succeeded", ["failed", "skipped"], False),
        ("one_failed", ["succeeded", "failed"], True),
        ("one_failed", ["succeeded", "skipped"], False),
        ("none_failed", ["succeeded", "skipped"], True),
        ("none_failed", ["succeeded", "failed"], False),
        ("one_failed", [], True),
    ],
)
def test_a_trigger_rule_decides_from_the_upstream_statuses(rule, upstream, runs):
    assert rule_allows(rule, upstream) is runs


def test_a_condition_compares_a_path_of_the_context():
    context = {"params": {"full": True, "limit": 5}, "outputs": {"a": {"rows": 3}}}
    assert condition_holds({"path": "params.full", "op": "eq", "value": True}, context)
    assert condition_holds({"path": "outputs.a.rows", "op": "lt", "value": 4}, context)
    assert not condition_holds(
        {"path": "params.limit", "op": "gt", "value": 9}, context
    )
    assert condition_holds(
        {
            "any": [
                {"path": "params.missing", "op": "eq", "value": 1},
                {"path": "params.limit", "op": "in", "value": [5, 6]},
            ]
        },
        context,
    )


def test_a_condition_on_a_missing_path_is_false_unless_it_asks_for_existence():
    context = {"params": {}}
    assert not condition_holds(
        {"path": "params.day", "op": "ne", "value": "x"}, context
    )
    assert condition_holds(
        {"path": "params.day", "op": "exists", "value": False}, context
    )
    assert not condition_holds(
        {"path": "params.day", "op": "exists", "value": True}, context
    )


def test_a_malformed_condition_is_refused_with_what_is_wrong():
    with pytest.raises(ValueError, match="unknown comparison 'like'"):
        check_condition_shape({"path": "params.a", "op": "like", "value": 1})
    with pytest.raises(ValueError, match="params., outputs. or shared."):
        check_condition_shape({"path": "os.environ", "op": "eq", "value": 1})


def test_retry_delays_double_up_to_the_cap():
    delays = [retry_delay(n, 2, 10, False) for n in range(1, 6)]
    assert delays == [2, 4, 8, 10, 10]


def test_jitter_keeps_a_retry_delay_between_half_and_all_of_it():
    rng = random.Random(7)
    delays = [retry_delay(3, 2, 100, True, rng) for _ in range(200)]
    assert all(4 <= d <= 8 for d in delays)
    assert len(set(delays)) > 100


def test_transient_errors_are_retried_by_default_and_others_are_not():
    assert is_retryable(TransientError("busy"), [])
    assert is_retryable(ConnectionResetError("reset"), [])
    assert not is_retryable(StepError("bad file"), [])
    assert is_retryable(StepError("bad file"), ["steps.errors.StepError"])
    assert not is_retryable(TransientError("busy"), ["builtins.KeyError"])


def test_retry_on_names_must_be_exceptions():
    with pytest.raises(ValueError, match="cannot be imported"):
        check_retry_on(["no.such.Error"])
    with pytest.raises(ValueError, match="is not an exception"):
        check_retry_on(["flows.rules.retry_delay"])


def test_a_run_fails_when_a_step_failed_and_succeeds_with_skipped_steps():
    assert run_status(["succeeded", "skipped"]) == "succeeded"
    assert run_status(["succeeded", "failed", "cancelled"]) == "failed"
    assert run_status(["succeeded", "cancelled"]) == "cancelled"
