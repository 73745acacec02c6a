"""Handlers, signals and the shared context, seen from a real worker."""

import pytest

from flows.models import RunStatus, StepStatus
from flows.scheduler import start_run
from tests.conftest import wait_for_run
from tests.flows.helpers import flow, step, step_runs, wait_for_event
from tests.testapp.models import Event

pytestmark = pytest.mark.worker
HANDLERS = {
    "handlers": {
        "before_step": ["tests.testapp.handlers.before_step"],
        "after_step": ["tests.testapp.handlers.after_step"],
        "on_step_error": ["tests.testapp.handlers.on_step_error"],
    }
}


def events(until: str | None = None):
    """Return the recorded events, once ``until`` is among them."""
    if until:
        wait_for_event(until)
    return [(e.name, e.step) for e in Event.objects.all()]


def test_handlers_and_signals_fire_in_the_documented_order(worker):
    # Given two steps in a chain, each with handlers
    handled = flow(
        "handled",
        step("first", output=["one"], policy=HANDLERS),
        step("second", depends_on=["first"], output=["two"], policy=HANDLERS),
    )

    run = wait_for_run(start_run(handled))

    # Then the worker recorded signals and handlers in this order
    assert run.status == RunStatus.SUCCEEDED
    assert events(until="run_succeeded") == [
        ("run_started", ""),
        ("step_started", "first"),
        ("before_step", "first"),
        ("after_step", "first"),
        ("step_succeeded", "first"),
        ("step_started", "second"),
        ("before_step", "second"),
        ("after_step", "second"),
        ("step_succeeded", "second"),
        ("run_succeeded", ""),
    ]
    # And the handlers saw the context: the second step's upstream
    before_second = Event.objects.get(name="before_step", step="second")
    assert before_second.detail == "['first']"
    assert Event.objects.get(name="after_step", step="second").detail == "['two']"


def test_a_failing_step_calls_its_error_handler_then_the_failure_signals(worker):
    failing = flow(
        "failing-handled",
        step("boom", "fail", message="Out of paper.", policy=HANDLERS),
    )

    run = wait_for_run(start_run(failing))

    assert run.status == RunStatus.FAILED
    assert events(until="run_failed") == [
        ("run_started", ""),
        ("step_started", "boom"),
        ("before_step", "boom"),
        ("on_step_error", "boom"),
        ("step_failed", "boom"),
        ("run_failed", ""),
    ]
    assert Event.objects.get(name="step_failed").detail == "Out of paper."


def test_a_retry_is_signalled_before_the_next_attempt(worker):
    flaky = flow(
        "flaky-signals",
        step(
            "fetch",
            "flaky",
            failures=1,
            counter="flaky-signals",
            transient=True,
            policy={"retry_delay": 0.2, "retry_jitter": False},
        ),
    )

    run = wait_for_run(start_run(flaky))

    assert run.status == RunStatus.SUCCEEDED
    assert events(until="run_succeeded") == [
        ("run_started", ""),
        ("step_started", "fetch"),
        ("step_retrying", "fetch"),
        ("step_succeeded", "fetch"),
        ("run_succeeded", ""),
    ]


def test_steps_share_a_flow_wide_dict_through_the_run(worker):
    sharing = flow(
        "sharing",
        step("left", shared={"left": 1}),
        step("right", shared={"right": 2}),
        step("join", depends_on=["left", "right"]),
    )

    run = wait_for_run(start_run(sharing))

    assert run.shared == {"left": 1, "right": 2}
    assert step_runs(run)["join"].output["saw_shared"] == {"left": 1, "right": 2}


def test_an_output_larger_than_the_context_limit_fails_the_step(worker, settings):
    # The worker reads the limit from the same settings module: 1,000,000
    # bytes. An output of two million characters is over it.
    huge = flow("huge", step("big", output=["x" * 2_000_000]))

    run = wait_for_run(start_run(huge))

    big = step_runs(run)["big"]
    assert big.status == StepStatus.FAILED
    assert "more than the 1000000 allowed" in big.error
    assert "'big'" in big.error


def test_a_receiver_that_raises_does_not_disturb_the_run(worker):
    chained = flow("raising-receivers", step("a"), step("b", depends_on=["a"]))

    run = wait_for_run(start_run(chained, params={"receivers_raise": True}))

    assert run.status == RunStatus.SUCCEEDED
    assert step_runs(run)["b"].status == StepStatus.SUCCEEDED
    assert ("step_succeeded", "b") in events()


def test_a_nested_change_to_the_shared_dict_reaches_the_run(worker):
    nested = flow(
        "nested-shared",
        step("first", shared={"totals": {"rows": 1}}),
        step("second", depends_on=["first"], shared={"totals": {"files": 2}}),
    )

    run = wait_for_run(start_run(nested))

    assert run.shared == {"totals": {"rows": 1, "files": 2}}
