"""Celery tasks: each loads a run and hands it to :mod:`flows.execution`."""

import logging

from celery import shared_task

from .conf import settings
from .execution import Outcome, execute_step, finish_run as finish

logger = logging.getLogger(__name__)


@shared_task(bind=True, name="syncflow.run_step", max_retries=None, acks_late=True)
def run_step(self, run_id: int, key: str, waits: list[str]):
    """Run one step; re-queue itself while a step it waits for is unfinished."""
    outcome = execute_step(run_id, key, waits)
    if outcome is Outcome.WAITING:
        raise self.retry(countdown=settings.WAIT_POLL_INTERVAL)
    return outcome.value


@shared_task(name="syncflow.finish_run", acks_late=True)
def finish_run(run_id: int):
    """Give a run its final status once its canvas has completed."""
    return finish(run_id).status


@shared_task(name="syncflow.run_failed")
def run_failed(request, exc, traceback, run_id: int):
    """Fail a run whose canvas broke off with an error outside any step."""
    logger.error("Run %s: task %s broke off the run: %r", run_id, request.id, exc)
    finish(run_id, error=f"{type(exc).__name__}: {exc}")
