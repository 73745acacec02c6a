"""Celery tasks: each loads a run and hands it to the code that does the work."""

import logging

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_ready, worker_shutdown
from django.db import connection

from .chunks import execute_chunk, poll_chunks
from .conf import settings
from .control import Sweeper, fail_run, sweep
from .control import finish_run as finish
from .execution import Outcome, execute_step

logger = logging.getLogger(__name__)


@shared_task(bind=True, name="syncflow.run_step", max_retries=None, acks_late=True)
def run_step(self, run_id: int, key: str, generation: int):
    """Run one step; ask again later while it must wait or retry."""
    try:
        decision = execute_step(run_id, key, generation, task_id=self.request.id or "")
    except SoftTimeLimitExceeded:
        # Raised by a signal (a cancel's revoke, the step's time limit), it
        # may land between a query and Django's note of it: a BEGIN that
        # Django never heard of leaves the connection in a transaction that
        # holds its locks for good (on SQLite, the one write lock). Closing
        # the connection rolls that back; the result is stored afresh.
        connection.close()
        raise
    if decision.outcome in (Outcome.WAITING, Outcome.RETRY):
        raise self.retry(countdown=max(decision.delay, 0.01))
    return decision.outcome.value


@shared_task(bind=True, name="syncflow.finish_run", max_retries=None, acks_late=True)
def finish_run(self, run_id: int, generation: int):
    """Give a run its final status once every step has finished."""
    run = finish(run_id, generation)
    if run is None:
        raise self.retry(countdown=settings.WAIT_POLL_INTERVAL)
    return run.status


@shared_task(name="syncflow.run_failed")
def run_failed(request, exc, traceback, run_id: int):
    """Fail a run whose canvas broke off with an error outside any step."""
    logger.error("Run %s: task %s broke off the run: %r", run_id, request.id, exc)
    fail_run(run_id, f"{type(exc).__name__}: {exc}")


@shared_task(name="syncflow.sweep")
def sweep_runs():
    """Send out again the runs that lost a worker or stalled (see control.sweep)."""
    return sweep()


_sweeper: Sweeper | None = None


@worker_ready.connect
def start_sweeper(**kwargs):
    """Let every worker look for lost runs: at start, then every so often."""
    global _sweeper
    try:
        sweep()
    except Exception:
        logger.exception("The sweep for lost runs failed")
    _sweeper = Sweeper()
    _sweeper.start()


@worker_shutdown.connect
def stop_sweeper(**kwargs):
    if _sweeper is not None:
        _sweeper.stopped.set()


@shared_task(name="syncflow.run_chunk", acks_late=True)
def run_chunk(run_id: int, key: str, generation: int, attempt: int, index: int):
    """Apply one chunk of a chunked step (see :mod:`flows.chunks`)."""
    return execute_chunk(run_id, key, generation, attempt, index)


@shared_task(name="syncflow.merge_chunks", acks_late=True)
def merge_chunks(run_id: int, key: str, generation: int, attempt: int):
    """Finish a chunked step once its chunks have (the chord's body)."""
    return poll_chunks(run_id, key, generation).outcome.value


@shared_task(name="syncflow.start_flow")
def start_flow(slug: str, params: dict | None = None):
    """Start a run of the flow ``slug``, as a schedule does.

    A paused flow is not started, and neither is one whose overlap policy
    skips this run; both are logged, not raised, since nobody is there to
    see an error.

    Returns:
        The new run's id, or ``None``.
    """
    from .errors import FlowError
    from .models import Flow, Trigger
    from .scheduler import start_run

    try:
        flow = Flow.objects.get(slug=slug)
    except Flow.DoesNotExist:
        logger.error("A schedule names flow %r, which does not exist", slug)
        return None
    if flow.is_paused:
        logger.info("Flow %r is paused; its scheduled run is skipped", slug)
        return None
    try:
        return start_run(flow, params=params, trigger=Trigger.SCHEDULE).pk
    except FlowError as exc:
        logger.warning("Scheduled run of flow %r not started: %s", slug, exc)
        return None
