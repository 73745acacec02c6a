"""Cancel, pause, timeouts, deadlines and overlap policies on a real worker."""

import time

import pytest

from flows.control import cancel_run, set_paused
from flows.models import RunStatus, StepStatus
from flows.scheduler import RunSkipped, start_run
from tests.conftest import wait_for_run
from tests.flows.helpers import flow, step, step_runs

pytestmark = pytest.mark.worker


def wait_until(predicate, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("The condition never held.")


def status_of(run, key):
    return run.step_runs.get(key=key).status


def test_cancelling_a_run_stops_the_running_step_and_starts_nothing_more(worker):
    # Given a run busy in a long step with a step after it
    long = flow("long", step("slow", seconds=30), step("after", depends_on=["slow"]))
    run = start_run(long)
    wait_until(lambda: status_of(run, "slow") == StepStatus.RUNNING)

    # When it is cancelled
    started = time.monotonic()
    cancel_run(run)

    # Then the running step stops within moments and nothing more starts
    wait_until(lambda: status_of(run, "slow") == StepStatus.CANCELLED, timeout=10)
    assert time.monotonic() - started < 10
    run.refresh_from_db()
    steps = step_runs(run)
    assert run.status == RunStatus.CANCELLED
    assert steps["after"].status == StepStatus.CANCELLED
    assert steps["after"].started_at is None
    time.sleep(1)
    assert run.step_runs.get(key="after").started_at is None


def test_a_paused_flow_starts_no_step_until_it_is_resumed(worker):
    # Given a paused flow with a run started
    paused = flow("paused", step("a"), step("b", depends_on=["a"]))
    set_paused(paused, True)
    run = start_run(paused)

    # Then nothing starts while it is paused
    time.sleep(1.5)
    assert status_of(run, "a") == StepStatus.PENDING
    run.refresh_from_db()
    assert run.status == RunStatus.QUEUED

    # When it is resumed, the run completes
    set_paused(paused, False)
    run = wait_for_run(run)
    assert run.status == RunStatus.SUCCEEDED


def test_pausing_between_steps_holds_the_next_step(worker):
    two = flow(
        "two-steps", step("first", seconds=1), step("second", depends_on=["first"])
    )
    run = start_run(two)
    wait_until(lambda: status_of(run, "first") == StepStatus.RUNNING)
    set_paused(two, True)

    wait_until(lambda: status_of(run, "first") == StepStatus.SUCCEEDED)
    time.sleep(1)
    assert status_of(run, "second") == StepStatus.PENDING

    set_paused(two, False)
    assert wait_for_run(run).status == RunStatus.SUCCEEDED


def test_a_step_running_past_its_timeout_fails_without_retry(worker):
    timed = flow(
        "timed", step("slow", seconds=20, policy={"timeout": 1, "max_attempts": 3})
    )

    run = wait_for_run(start_run(timed))

    slow = step_runs(run)["slow"]
    assert run.status == RunStatus.FAILED
    assert slow.status == StepStatus.FAILED
    assert "timeout" in slow.error
    assert slow.attempts == 1
    assert slow.duration.total_seconds() < 10


def test_a_run_past_its_deadline_is_cancelled(worker):
    late = flow(
        "late", step("slow", seconds=20), step("after", depends_on=["slow"]), deadline=1
    )

    run = wait_for_run(start_run(late))

    assert run.status == RunStatus.CANCELLED
    assert "deadline" in run.error
    assert step_runs(run)["slow"].status == StepStatus.CANCELLED


def test_overlap_skip_starts_no_second_run_while_one_is_active(worker):
    single = flow("single", step("slow", seconds=1), overlap="skip")
    first = start_run(single)

    with pytest.raises(RunSkipped):
        start_run(single)

    wait_for_run(first)
    assert single.runs.count() == 1
    assert wait_for_run(start_run(single)).status == RunStatus.SUCCEEDED


def test_overlap_queue_starts_the_next_run_when_the_active_one_ends(worker):
    queued = flow("queued", step("slow", seconds=1), overlap="queue")
    first = start_run(queued)
    second = start_run(queued)

    first, second = wait_for_run(first), wait_for_run(second)

    assert first.status == second.status == RunStatus.SUCCEEDED
    assert second.started_at >= first.finished_at


def test_overlap_allow_runs_two_runs_side_by_side(worker):
    parallel = flow("side-by-side", step("slow", seconds=1.5), overlap="allow")
    first, second = start_run(parallel), start_run(parallel)

    first, second = wait_for_run(first), wait_for_run(second)

    assert second.started_at < first.finished_at
    assert first.started_at < second.finished_at


def test_cancelling_a_held_run_does_not_start_the_next_beside_the_active_one(worker):
    # Given an active run and two runs held behind it
    queued = flow("held", step("slow", seconds=1.5), overlap="queue")
    active, held, last = start_run(queued), start_run(queued), start_run(queued)

    # When the first held run is cancelled
    cancel_run(held)

    # Then the last one waits for the active one to end, and runs after it
    time.sleep(0.5)
    last.refresh_from_db()
    assert last.generation == 0
    active, last = wait_for_run(active), wait_for_run(last)
    assert last.started_at >= active.finished_at
