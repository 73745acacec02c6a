"""The sweep and duplicate deliveries, driven directly against the database."""

from django.utils import timezone

from flows.control import sweep
from flows.execution import Outcome, execute_step
from flows.models import FlowRun, RunStatus, StepStatus
from flows.scheduler import start_run
from tests.flows.helpers import flow, step


def test_a_second_delivery_of_a_running_step_waits_instead_of_finishing_it(db):
    # Given a step whose task is running it, alive (fresh heartbeat)
    run = start_run(flow("redelivered", step("a")))
    step_run = run.step_runs.get(key="a")
    step_run.status, step_run.task_id = StepStatus.RUNNING, "task-1"
    step_run.heartbeat_at = step_run.started_at = timezone.now()
    step_run.attempts = 1
    step_run.save()

    # When the same task is delivered again
    decision = execute_step(run.pk, "a", run.generation, task_id="task-1")

    # Then it waits for the first delivery, and the step is still running
    assert decision.outcome is Outcome.WAITING
    step_run.refresh_from_db()
    assert step_run.status == StepStatus.RUNNING
    assert step_run.output == {}


def test_the_sweep_releases_a_held_run_whose_flow_has_nothing_active(db):
    # Given a run held by the queue policy whose active run is gone
    queued = flow("held-by-sweep", step("a"), overlap="queue")
    active = start_run(queued)
    held = start_run(queued)
    assert held.generation == 0
    FlowRun.objects.filter(pk=active.pk).update(
        status=RunStatus.SUCCEEDED, finished_at=timezone.now()
    )

    # When the sweep looks
    sweep()

    # Then the held run is sent out
    held.refresh_from_db()
    assert held.generation == 1
