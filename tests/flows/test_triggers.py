"""Runs started by a schedule and by another flow finishing."""

import json

import pytest
from django_celery_beat.models import PeriodicTask

from bikeshop.celery import app
from flows.errors import FlowError, GraphError
from flows.models import FlowRun, RunStatus, Trigger
from flows.schedules import schedule_flow
from flows.scheduler import start_run
from tests.conftest import wait_for_run
from tests.flows.helpers import flow, step

pytestmark = pytest.mark.worker


def test_a_flow_set_to_start_after_another_starts_when_it_succeeds(worker):
    # Given an import flow, and a report flow that starts after it
    imports = flow("imports", step("load"))
    report = flow("report", step("summarise"), start_after=["imports"])

    # When the import flow runs and succeeds
    first = wait_for_run(start_run(imports, params={"day": "2026-12-03"}))

    # Then the report flow ran too, with the same parameters
    assert first.status == RunStatus.SUCCEEDED
    follow = wait_for_run(_wait_for_a_run_of(report))
    assert follow.trigger == Trigger.FLOW
    assert follow.params == {"day": "2026-12-03"}
    assert follow.status == RunStatus.SUCCEEDED


def test_a_failed_run_starts_no_follower(worker):
    failing = flow("failing-imports", step("load", "fail", message="no"))
    report = flow("failing-report", step("summarise"), start_after=["failing-imports"])

    wait_for_run(start_run(failing))

    assert not report.runs.exists()


def test_flows_cannot_start_after_each_other(worker):
    flow("ping", step("a"))
    flow("pong", step("a"), start_after=["ping"])

    with pytest.raises(GraphError, match="each would start the other"):
        flow("ping", step("a"), start_after=["pong"])


def test_a_schedule_starts_the_flow_through_the_worker(worker):
    # Given a nightly schedule for a flow
    nightly = flow("scheduled", step("load"))
    task = schedule_flow(nightly, "30 2 * * *", params={"full": True})

    # Then the periodic task is what django-celery-beat will send at 02:30
    assert task.task == "syncflow.start_flow"
    assert (task.crontab.minute, task.crontab.hour) == ("30", "2")
    assert json.loads(task.args) == ["scheduled"]

    # When beat sends it (here: sent by hand, as beat would)
    app.send_task(task.task, args=json.loads(task.args), kwargs=json.loads(task.kwargs))

    # Then the worker starts a scheduled run with the schedule's parameters
    run = wait_for_run(_wait_for_a_run_of(nightly))
    assert run.trigger == Trigger.SCHEDULE
    assert run.params == {"full": True}
    assert PeriodicTask.objects.filter(name="syncflow: scheduled").count() == 1


def test_a_crontab_that_is_not_five_fields_is_refused(worker):
    with pytest.raises(FlowError, match="five fields"):
        schedule_flow(flow("bad-cron", step("a")), "every night")


def _wait_for_a_run_of(target, timeout=30):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = FlowRun.objects.filter(flow=target).first()
        if run is not None:
            return run
        time.sleep(0.1)
    raise AssertionError(f"No run of {target.slug} started.")
