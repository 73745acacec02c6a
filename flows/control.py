"""Finish, cancel and watch over runs; pause and resume flows.

Every change here happens in a transaction that locks the run's row, the
same lock a step takes to claim itself, so a run's steps, its finish and a
cancel never step on each other, on one worker or on many.
"""

import logging
import threading
from datetime import timedelta
from functools import partial

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from . import signals
from .conf import settings
from .models import (
    FINISHED_STEP_STATUSES,
    Flow,
    FlowRun,
    RunStatus,
    StepAttempt,
    StepChunk,
    StepRun,
    StepStatus,
)
from .rules import run_status

logger = logging.getLogger(__name__)

RUN_SIGNALS = {
    RunStatus.SUCCEEDED: signals.run_succeeded,
    RunStatus.FAILED: signals.run_failed,
    RunStatus.CANCELLED: signals.run_cancelled,
}


def finish_run(run_id: int, generation: int | None = None) -> FlowRun | None:
    """Give run ``run_id`` its final status once every step has finished.

    Returns:
        The run, or ``None`` while a step has yet to finish (the caller
        asks again later).
    """
    with transaction.atomic():
        run = FlowRun.objects.select_for_update().get(pk=run_id)
        if run.is_finished or (generation is not None and generation != run.generation):
            return run
        statuses = list(run.step_runs.values_list("status", flat=True))
        if any(status not in FINISHED_STEP_STATUSES for status in statuses):
            return None
        now = timezone.now()
        run.status = run_status(statuses)
        run.started_at = run.started_at or now
        run.finished_at = now
        run.error = _failure_summary(run)
        run.save(update_fields=["status", "started_at", "finished_at", "error"])
        _after_finish(run)
    log = logger.info if run.status == RunStatus.SUCCEEDED else logger.error
    log("Run %s of flow %r %s", run.pk, run.flow.slug, run.status)
    return run


def fail_run(run_id: int, error: str) -> None:
    """Fail a run at once, for an error outside any step (a broken canvas).

    Steps still running are marked failed, and steps that never started
    are marked skipped, so nothing of the run looks as if it might go on.
    """
    with transaction.atomic():
        run = FlowRun.objects.select_for_update().get(pk=run_id)
        if run.is_finished:
            return
        now = timezone.now()
        steps = run.step_runs.exclude(status__in=FINISHED_STEP_STATUSES)
        steps.filter(status=StepStatus.RUNNING).update(
            status=StepStatus.FAILED, finished_at=now, error=error
        )
        steps.update(
            status=StepStatus.SKIPPED, finished_at=now, error=_("Never started.")
        )
        run.status, run.finished_at, run.error = RunStatus.FAILED, now, error
        run.started_at = run.started_at or now
        run.save(update_fields=["status", "started_at", "finished_at", "error"])
        _after_finish(run)
    logger.error("Run %s failed: %s", run_id, error)


def cancel_run(run: FlowRun, reason: str = "") -> FlowRun:
    """Cancel ``run``: nothing more starts, and running steps are stopped.

    Steps waiting to start are marked cancelled at once. A running step is
    sent Celery's soft time limit signal (on workers that can receive
    remote control commands) and in any case stops at its next progress
    report; it is then marked cancelled.

    Returns:
        The run, reloaded.
    """
    with transaction.atomic():
        locked = FlowRun.objects.select_for_update().get(pk=run.pk)
        if not locked.is_finished:
            cancel_locked(locked, reason or _("Cancelled by hand."))
    run.refresh_from_db()
    return run


def cancel_locked(run: FlowRun, reason: str) -> None:
    """Cancel a run whose row the caller has locked."""
    now = timezone.now()
    # Running steps are marked cancelled at once: a live one stops at its
    # next progress report and records nothing more, and one whose worker
    # died would otherwise stay running forever.
    unfinished = run.step_runs.exclude(status__in=FINISHED_STEP_STATUSES)
    running = list(
        unfinished.filter(status=StepStatus.RUNNING).values_list("task_id", flat=True)
    )
    StepAttempt.objects.filter(step_run__run=run, status=StepStatus.RUNNING).update(
        status=StepStatus.CANCELLED, finished_at=now, error=reason
    )
    unfinished.update(status=StepStatus.CANCELLED, finished_at=now, error=reason)
    run.status, run.finished_at, run.error = RunStatus.CANCELLED, now, reason
    run.started_at = run.started_at or now
    run.save(update_fields=["status", "started_at", "finished_at", "error"])
    transaction.on_commit(lambda: _revoke([t for t in running if t]))
    _after_finish(run)
    logger.warning("Run %s cancelled: %s", run.pk, reason)


def _revoke(task_ids: list[str]) -> None:
    if not task_ids:
        return
    from celery import current_app

    try:
        # Not terminated: a signal raised inside a task can land between a
        # query and Django's note of it and leave a transaction open with
        # its locks held (on SQLite, the one write lock, for good). Revoked
        # copies still queued are dropped; a running step stops itself at
        # its next progress report.
        current_app.control.revoke(task_ids)
    except Exception as exc:  # A broker without broadcast: steps stop on their own.
        logger.warning("Could not revoke tasks %s: %s", task_ids, exc)


def _after_finish(run: FlowRun) -> None:
    """Send the run's signal, start the next queued run of its flow, and,
    if the run succeeded, the flows that start after it."""
    signal = RUN_SIGNALS[run.status]
    transaction.on_commit(lambda: signals.send(signal, FlowRun, run=run))
    if run.status == RunStatus.SUCCEEDED:
        transaction.on_commit(lambda: start_followers(run))
    runs = FlowRun.objects.filter(flow_id=run.flow_id).exclude(pk=run.pk)
    active = runs.filter(
        status__in=[RunStatus.QUEUED, RunStatus.RUNNING], generation__gt=0
    )
    held = runs.filter(status=RunStatus.QUEUED, generation=0).order_by(
        "created_at", "pk"
    )
    following = held.first()
    if following is not None and not active.exists():
        redispatch_locked(following)


def redispatch_locked(run: FlowRun) -> None:
    """Send a run, whose row the caller has locked, to the workers again.

    The run's generation goes up by one, so tasks of the earlier dispatch
    that are still queued or waiting find themselves stale and do nothing.
    """
    from .scheduler import dispatch

    run.generation += 1
    if run.deadline_at is None and run.flow.deadline:
        run.deadline_at = timezone.now() + timedelta(seconds=run.flow.deadline)
    run.save(update_fields=["generation", "deadline_at"])
    transaction.on_commit(lambda: dispatch(run))


def _failure_summary(run: FlowRun) -> str:
    failed = run.step_runs.filter(status=StepStatus.FAILED).values_list("key", "error")
    return "\n".join(f"{key}: {error}" for key, error in failed)


def set_paused(flow: Flow, paused: bool) -> None:
    """Pause or resume ``flow``.

    While a flow is paused, runs of it start no new step (the steps
    waiting check again every ``WAIT_POLL_INTERVAL`` seconds) and
    scheduled runs are not started; steps already running go on.
    """
    Flow.objects.filter(pk=flow.pk).update(is_paused=paused)
    flow.is_paused = paused
    logger.info("Flow %r %s", flow.slug, "paused" if paused else "resumed")


def sweep() -> list[int]:
    """Find runs that lost a worker or stalled, and send them out again.

    A running step whose heartbeat is older than ``LEASE_SECONDS`` lost
    its worker: the attempt is recorded as failed, and the step retried if
    attempts remain. A run with no sign of life for that long (its queued
    tasks went with a dead worker) is dispatched again. Runs past their
    deadline are cancelled. Every worker calls this every
    ``SWEEP_INTERVAL`` seconds; ``syncflow sweep`` calls it once.

    Returns:
        The ids of the runs sent out again.
    """
    from .execution import record_lost_attempt, run_graph

    resent = []
    lease = timedelta(seconds=settings.LEASE_SECONDS)
    _release_held_runs()
    # While any step anywhere shows signs of life, the workers are busy and
    # a quiet run is more likely queued behind that work than lost; sending
    # it again would only lengthen the queue, so it gets ten leases.
    busy = StepRun.objects.filter(
        Q(heartbeat_at__gt=timezone.now() - lease)
        | Q(finished_at__gt=timezone.now() - lease)
    ).exists()
    active = FlowRun.objects.filter(
        status__in=[RunStatus.QUEUED, RunStatus.RUNNING], generation__gt=0
    )
    for run_id in active.values_list("pk", flat=True):
        with transaction.atomic():
            run = (
                FlowRun.objects.select_for_update()
                .select_related("flow")
                .get(pk=run_id)
            )
            now = timezone.now()
            if run.is_finished or run.flow.is_paused:
                continue
            if run.deadline_at and now > run.deadline_at:
                cancel_locked(run, _("The run passed its deadline."))
                continue
            steps = list(run.step_runs.all())
            patience = lease * 10 if busy else lease
            # A chunked step is kept alive by its chunks and its owner's
            # polls, all of which may wait in the queue behind other work:
            # while the workers are busy, it too gets ten leases.
            chunked = _chunked(steps) if busy else set()
            lost = [
                s
                for s in steps
                if s.status == StepStatus.RUNNING
                and _silent(s, now, patience if s.pk in chunked else lease)
            ]
            if not lost and not _stalled(run, steps, now, patience):
                continue
            graph = run_graph(run)
            for step_run in lost:
                record_lost_attempt(
                    run, step_run, graph.nodes[step_run.key]["spec"], now
                )
            # The same generation: tasks of this dispatch still queued stay
            # valid, and whichever copy of a task comes first does the work.
            transaction.on_commit(partial(_dispatch, run))
            resent.append(run.pk)
    if resent:
        logger.warning("Runs sent out again after a lost worker or a stall: %s", resent)
    return resent


def _dispatch(run: FlowRun) -> None:
    from .scheduler import dispatch

    dispatch(run)


def _release_held_runs() -> None:
    """Send out held runs (overlap "queue") whose flow has no active run.

    A run started inside a transaction that committed only after the
    active run ended was not there to be released when it ended.
    """
    held = FlowRun.objects.filter(status=RunStatus.QUEUED, generation=0)
    for flow_id in set(held.values_list("flow_id", flat=True)):
        with transaction.atomic():
            Flow.objects.select_for_update().get(pk=flow_id)
            runs = FlowRun.objects.filter(flow_id=flow_id)
            active = runs.filter(
                status__in=[RunStatus.QUEUED, RunStatus.RUNNING], generation__gt=0
            )
            following = (
                held.filter(flow_id=flow_id).order_by("created_at", "pk").first()
            )
            if following is not None and not active.exists():
                redispatch_locked(
                    FlowRun.objects.select_for_update()
                    .select_related("flow")
                    .get(pk=following.pk)
                )


def _chunked(steps: list[StepRun]) -> set[int]:
    """Return the primary keys of the running ``steps`` that have chunks."""
    running = [s.pk for s in steps if s.status == StepStatus.RUNNING]
    if not running:
        return set()
    chunks = StepChunk.objects.filter(step_run__in=running)
    return set(chunks.values_list("step_run_id", flat=True).distinct())


def _silent(step_run: StepRun, now, lease) -> bool:
    beat = step_run.heartbeat_at or step_run.started_at
    return beat is None or now - beat > lease


def _stalled(run: FlowRun, steps: list[StepRun], now, lease) -> bool:
    """Whether nothing of ``run`` has moved for longer than ``lease``."""
    if any(s.status == StepStatus.RUNNING for s in steps):
        return False
    if any(s.status == StepStatus.RETRYING and s.retry_at > now for s in steps):
        return False
    moments = [run.created_at, run.started_at]
    for s in steps:
        moments += [s.finished_at, s.heartbeat_at, s.retry_at]
    return now - max(m for m in moments if m is not None) > lease


class Sweeper(threading.Thread):
    """Calls :func:`sweep` every ``SWEEP_INTERVAL`` seconds until stopped."""

    def __init__(self):
        super().__init__(name="syncflow-sweeper", daemon=True)
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(settings.SWEEP_INTERVAL):
            try:
                sweep()
            except Exception:
                logger.exception("The sweep for lost runs failed")
            finally:
                connection.close()


def start_followers(run: FlowRun) -> list[FlowRun]:
    """Start the flows set to start after ``run``'s flow, with its parameters.

    A follower that is inactive, paused or skipped by its overlap policy
    is left alone, with a log line saying why.
    """
    from .errors import FlowError
    from .models import Trigger
    from .scheduler import start_run

    started = []
    for follower in Flow.objects.filter(start_after=run.flow_id, is_active=True):
        if follower.is_paused:
            logger.info(
                "Flow %r is paused; not started after run %s", follower.slug, run.pk
            )
            continue
        try:
            started.append(start_run(follower, params=run.params, trigger=Trigger.FLOW))
        except FlowError as exc:
            logger.warning(
                "Flow %r not started after run %s: %s", follower.slug, run.pk, exc
            )
    return started
