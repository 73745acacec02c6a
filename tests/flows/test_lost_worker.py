"""A worker killed in the middle of a step: the run still completes."""

import time

import pytest

from flows.models import RunStatus, StepStatus
from flows.scheduler import start_run
from tests.conftest import wait_for_run
from tests.flows.helpers import flow, step, step_runs

pytestmark = pytest.mark.worker


def test_a_step_whose_worker_is_killed_is_retried_by_the_next_worker(worker):
    # Given a run busy in a step, with a step after it
    fragile = flow(
        "fragile",
        step("long", seconds=3, output=["done"]),
        step("after", depends_on=["long"]),
    )
    run = start_run(fragile)
    deadline = time.monotonic() + 30
    while run.step_runs.get(key="long").status != StepStatus.RUNNING:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.5)

    # When the worker and its pool are killed outright, and a new one starts
    worker.kill()
    worker.start()

    # Then the new worker notices the silent step, runs it again, and the
    # run completes with the lost attempt on record
    run = wait_for_run(run, timeout=90)
    steps = step_runs(run)
    assert run.status == RunStatus.SUCCEEDED
    assert steps["long"].attempts == 2
    lost, second = steps["long"].attempt_log.all()
    assert lost.status == StepStatus.FAILED
    assert "stopped answering" in lost.error
    assert second.status == StepStatus.SUCCEEDED
    assert steps["after"].status == StepStatus.SUCCEEDED
    assert steps["after"].attempts == 1
