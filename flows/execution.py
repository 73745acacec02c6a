"""Run one step of a run, recording everything in the database.

A step task calls :func:`execute_step`, which first *claims* the step in a
transaction that locks the run (so two deliveries of one task never both
start it), then runs the step's kind, and records the attempt's outcome:
succeeded, failed, waiting to retry, or cancelled.
"""

import copy
import json
import logging
import socket
import traceback
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum
from functools import partial

import networkx as nx
from celery.exceptions import SoftTimeLimitExceeded
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from steps.allow import import_callable
from steps.context import StepContext, check_serialisable
from steps.errors import Cancelled, StepError, StepTimeout
from steps.registry import get_kind

from . import signals
from .conf import settings
from .dag import build_graph, specs_from_snapshot
from .models import (
    FINISHED_STEP_STATUSES,
    FlowRun,
    RunStatus,
    StepAttempt,
    StepRun,
    StepStatus,
)
from .recorder import Heartbeat, Recorder, Superseded
from .rules import condition_holds, is_retryable, retry_delay, rule_allows

logger = logging.getLogger(__name__)


class Outcome(Enum):
    """What :func:`execute_step` did."""

    RAN = "ran"
    SKIPPED = "skipped"
    ALREADY_DONE = "already done"
    WAITING = "waiting"
    RETRY = "retry"
    STALE = "stale"
    POLL = "poll"


@dataclass
class Decision:
    """An outcome, and for ``WAITING`` and ``RETRY`` the seconds to wait."""

    outcome: Outcome
    delay: float = 0.0


def run_graph(run: FlowRun) -> nx.DiGraph:
    """Return the DAG of the run's snapshot."""
    return build_graph(specs_from_snapshot(run.graph), check_configs=False)


def execute_step(run_id: int, key: str, generation: int, task_id: str = "") -> Decision:
    """Run step ``key`` of run ``run_id`` if it may run now.

    Args:
        run_id: The run.
        key: The step's key.
        generation: The dispatch of the run the task belongs to; a task of
            an older dispatch does nothing (:attr:`Outcome.STALE`).
        task_id: The Celery task's id, kept so that a cancel can revoke it.

    Returns:
        What happened. ``WAITING`` means an upstream step has not finished,
        the flow is paused, or another task is running the step; the
        caller asks again after ``delay`` seconds. ``RETRY`` means the
        attempt failed and the next one is due after ``delay`` seconds.
    """
    decision = _claim(run_id, key, generation, task_id)
    if decision.outcome is Outcome.POLL:
        from .chunks import poll_chunks

        return poll_chunks(run_id, key, generation)
    if decision.outcome is not Outcome.RAN:
        return decision
    return _attempt(run_id, key)


def _claim(run_id: int, key: str, generation: int, task_id: str) -> Decision:
    """Mark the step running if it may run now; say why not otherwise."""
    poll = settings.WAIT_POLL_INTERVAL
    with transaction.atomic():
        run = FlowRun.objects.select_for_update().select_related("flow").get(pk=run_id)
        if generation != run.generation:
            return Decision(Outcome.STALE)
        if run.is_finished:
            return Decision(Outcome.ALREADY_DONE)
        now = timezone.now()
        if run.deadline_at and now > run.deadline_at:
            from .control import cancel_locked

            cancel_locked(run, _("The run passed its deadline."))
            return Decision(Outcome.ALREADY_DONE)
        step_run = run.step_runs.get(key=key)
        if step_run.status in FINISHED_STEP_STATUSES:
            return Decision(Outcome.ALREADY_DONE)
        if run.flow.is_paused:
            return Decision(Outcome.WAITING, poll)
        graph = run_graph(run)
        spec = graph.nodes[key]["spec"]
        if step_run.status == StepStatus.RUNNING:
            # The step's own task comes back to look after its chunks. (A
            # task of a step that is not chunked comes back only when it
            # was delivered again; the lease then tells whether the first
            # delivery is still at work.)
            owner = task_id and task_id == step_run.task_id
            if owner and step_run.chunks.exists():
                return Decision(Outcome.POLL)
            if not _lease_expired(step_run, now):
                return Decision(Outcome.WAITING, poll)
            if not record_lost_attempt(run, step_run, spec, now):
                return Decision(Outcome.ALREADY_DONE)
        if step_run.status == StepStatus.RETRYING and step_run.retry_at > now:
            return Decision(Outcome.WAITING, (step_run.retry_at - now).total_seconds())

        upstream = dict(
            run.step_runs.filter(key__in=list(graph.predecessors(key))).values_list(
                "key", "status"
            )
        )
        if any(status not in FINISHED_STEP_STATUSES for status in upstream.values()):
            return Decision(Outcome.WAITING, poll)
        _mark_run_running(run, now)
        reason = _reason_to_skip(run, graph, spec, upstream)
        if reason:
            finish_step(run, step_run, StepStatus.SKIPPED, now, error=reason)
            logger.info("Run %s: step %r skipped: %s", run_id, key, reason)
            return Decision(Outcome.SKIPPED)
        step_run.task_id = task_id
        _start_attempt(run, step_run, now)
    return Decision(Outcome.RAN)


def _lease_expired(step_run: StepRun, now) -> bool:
    beat = step_run.heartbeat_at or step_run.started_at
    return beat is None or now - beat > timedelta(seconds=settings.LEASE_SECONDS)


def record_lost_attempt(run: FlowRun, step_run: StepRun, spec, now) -> bool:
    """Record that the running attempt's worker is gone.

    Returns:
        Whether another attempt may start; if not, the step has failed.
    """
    message = _("The worker running this attempt stopped answering.")
    StepAttempt.objects.filter(step_run=step_run, number=step_run.attempts).update(
        status=StepStatus.FAILED, finished_at=now, error=message
    )
    logger.warning("Run %s: step %r lost its worker", run.pk, step_run.key)
    if step_run.attempts_used < spec.get("max_attempts"):
        step_run.status, step_run.retry_at = StepStatus.RETRYING, now
        step_run.save(update_fields=["status", "retry_at"])
        return True
    finish_step(run, step_run, StepStatus.FAILED, now, error=message)
    return False


def _mark_run_running(run: FlowRun, now) -> None:
    if run.status == RunStatus.QUEUED:
        run.status, run.started_at = RunStatus.RUNNING, run.started_at or now
        run.save(update_fields=["status", "started_at"])
        transaction.on_commit(
            lambda: signals.send(signals.run_started, FlowRun, run=run)
        )


def _reason_to_skip(run: FlowRun, graph, spec, upstream: dict) -> str:
    rule = spec.get("trigger_rule")
    if not rule_allows(rule, list(upstream.values())):
        shown = ", ".join(f"{k} {s}" for k, s in sorted(upstream.items()))
        return _("Skipped: trigger rule %(rule)s not met (%(upstream)s).") % {
            "rule": rule,
            "upstream": shown,
        }
    condition = spec.get("condition")
    if condition:
        context = {
            "params": run.params,
            "outputs": upstream_outputs(run, graph, spec.key),
            "shared": run.shared,
        }
        if not condition_holds(condition, context):
            return _("Skipped: its condition is false: %(condition)s") % {
                "condition": json.dumps(condition)
            }
    return ""


def _start_attempt(run: FlowRun, step_run: StepRun, now) -> None:
    # A new attempt works through its rows again (for a chunked step, those
    # of the chunks that did not finish), so the rows the last attempt
    # rejected would be reported twice.
    step_run.row_errors.exclude(chunk__status=StepStatus.SUCCEEDED).delete()
    previous = step_run.attempt_log.order_by("-number").first()
    # A lost attempt may have no end; it is then counted from its start.
    ended = previous and (previous.finished_at or previous.started_at)
    waited = (now - ended).total_seconds() if ended else 0.0
    step_run.status = StepStatus.RUNNING
    step_run.attempts += 1
    step_run.started_at = step_run.started_at or now
    step_run.heartbeat_at = now
    step_run.retry_at = None
    step_run.save(
        update_fields=[
            "status",
            "attempts",
            "started_at",
            "heartbeat_at",
            "retry_at",
            "task_id",
        ]
    )
    StepAttempt.objects.create(
        step_run=step_run,
        number=step_run.attempts,
        status=StepStatus.RUNNING,
        started_at=now,
        waited=max(waited, 0.0),
        worker=socket.gethostname(),
    )
    if step_run.attempts == 1:
        transaction.on_commit(
            lambda: signals.send(
                signals.step_started, StepRun, run=run, step_run=step_run
            )
        )


def finish_step(run, step_run, status, now, *, error: str = "", **fields) -> None:
    """Save a step run's final status, and send its signal once committed."""
    StepRun.objects.filter(pk=step_run.pk).update(
        status=status, finished_at=now, error=error, **fields
    )
    step_run.status, step_run.error = status, error
    signal = {
        StepStatus.SUCCEEDED: signals.step_succeeded,
        StepStatus.SKIPPED: signals.step_skipped,
        StepStatus.FAILED: signals.step_failed,
    }.get(status)
    if signal is not None:
        extra = {"error": error} if status == StepStatus.FAILED else {}
        transaction.on_commit(
            lambda: signals.send(signal, StepRun, run=run, step_run=step_run, **extra)
        )
    # The run is finished by whichever comes first: this, once its last step
    # is done, or the canvas's finish_run task. Celery's chord bookkeeping
    # can lose a nested chord's body, so the run does not depend on it.
    transaction.on_commit(partial(_finish_if_done, run.pk))


def _finish_if_done(run_id: int) -> None:
    from .control import finish_run

    finish_run(run_id)


def upstream_outputs(run: FlowRun, graph: nx.DiGraph, key: str) -> dict:
    keys = nx.ancestors(graph, key)
    rows = run.step_runs.filter(key__in=keys, status=StepStatus.SUCCEEDED)
    return dict(rows.values_list("key", "output"))


def _attempt(run_id: int, key: str) -> Decision:
    """Run the claimed step once and record how the attempt ended."""
    step_run = StepRun.objects.select_related("run", "run__flow").get(
        run_id=run_id, key=key
    )
    run = step_run.run
    graph = run_graph(run)
    spec = graph.nodes[key]["spec"]
    handlers = load_handlers(spec)
    recorder = Recorder(step_run, timeout=spec.get("timeout"))
    attempt = step_run.attempts
    ctx = build_context(run, step_run, graph, recorder, handlers)
    logger.info(
        "Run %s: step %r (%s) attempt %d", run_id, key, spec.kind, step_run.attempts
    )
    shared_before = copy.deepcopy(ctx.shared)
    try:
        with Heartbeat(step_run.pk):
            for handler in handlers.get("before_step", []):
                handler(ctx)
            kind = get_kind(spec.kind)(spec.config)
            from .chunks import start_chunks

            if start_chunks(run, step_run, kind, ctx):  # see flows.chunks
                return Decision(Outcome.WAITING, settings.WAIT_POLL_INTERVAL)
            output = kind.run(ctx)
            check_context(key, output, ctx.state, ctx.shared)
            for handler in handlers.get("after_step", []):
                handler(ctx, output)
    except Superseded:
        logger.warning(
            "Run %s: step %r attempt %d was superseded", run_id, key, attempt
        )
        return Decision(Outcome.ALREADY_DONE)
    except Exception as exc:
        for handler in handlers.get("on_step_error", []):
            call_safely(handler, run_id, key, ctx, exc)
        return _record_failure(run, step_run, spec, recorder, ctx, exc)
    recorder.flush()
    with transaction.atomic():
        locked = FlowRun.objects.select_for_update().get(pk=run_id)
        if not still_mine(step_run, attempt):
            return Decision(Outcome.ALREADY_DONE)
        changes = {k: v for k, v in ctx.shared.items() if shared_before.get(k) != v}
        if changes:
            locked.shared = {**locked.shared, **changes}
            locked.save(update_fields=["shared"])
        end_attempt(step_run, StepStatus.SUCCEEDED)
        finish_step(
            run,
            step_run,
            StepStatus.SUCCEEDED,
            timezone.now(),
            output=output,
            state=ctx.state,
            traceback="",
            **recorder.final_fields(ctx),
        )
    logger.info("Run %s: step %r succeeded: %s", run_id, key, ctx.count_dict())
    return Decision(Outcome.RAN)


ROW_EVENTS = ("before_row", "after_row", "on_row_error")


def load_handlers(spec, events=None) -> dict[str, list]:
    """Import the step's handlers, by event; only ``events`` if given."""
    return {
        event: [import_callable(path) for path in paths]
        for event, paths in spec.get("handlers").items()
        if events is None or event in events
    }


def build_context(run, step_run, graph, recorder, handlers) -> StepContext:
    """Return the action context of a step run, wired to ``recorder``."""
    return StepContext(
        run_id=run.pk,
        step_key=step_run.key,
        params=run.params,
        upstream=upstream_outputs(run, graph, step_run.key),
        shared=dict(run.shared),
        state=dict(step_run.state),
        on_rejected=recorder.reject,
        on_progress=recorder.progress,
        row_handlers={event: handlers.get(event, []) for event in ROW_EVENTS},
    )


def still_mine(step_run: StepRun, attempt: int) -> bool:
    """Whether ``attempt`` is still the step's current, running attempt.

    A step whose heartbeat went silent for a lease (a long pause of its
    machine, say) may have been handed to another attempt; the earlier one
    then records nothing, so that only one outcome counts. Called with the
    run's row locked.
    """
    current = StepRun.objects.filter(pk=step_run.pk).values_list("attempts", "status")[
        0
    ]
    return current == (attempt, StepStatus.RUNNING)


def check_context(key: str, output, state: dict, shared: dict) -> None:
    """Raise :class:`StepError` if a step's output, state or shared dict is
    not plain JSON or is larger than ``CONTEXT_MAX_BYTES``."""
    limit = settings.CONTEXT_MAX_BYTES
    for what, value in (("output", output), ("state", state), ("shared", shared)):
        check_serialisable(value, what=f"The {what} of step {key!r}")
        size = len(json.dumps(value))
        if size > limit:
            raise StepError(
                _(
                    "The %(what)s of step %(step)r is %(size)d bytes of JSON, more "
                    "than the %(limit)d allowed (SYNCFLOW['CONTEXT_MAX_BYTES'])."
                )
                % {"what": what, "step": key, "size": size, "limit": limit}
            )


def call_safely(handler, run_id, key, *args) -> None:
    """Call an error handler; log what it raises instead of raising it.

    The handler runs in a savepoint (or a transaction of its own), so a
    database error in it cannot spoil the transaction that records the
    step's failure.
    """
    try:
        with transaction.atomic():
            handler(*args)
    except Exception:
        logger.exception("Run %s: an error handler of step %r failed", run_id, key)


def _record_failure(run, step_run, spec, recorder, ctx, exc) -> Decision:
    trace = traceback.format_exc()
    if isinstance(exc, SoftTimeLimitExceeded):
        # The signal may have landed in the middle of a query; start the
        # database connection afresh before writing anything.
        connection.close()
        exc = _interruption(run)
    recorder.flush()
    message = str(exc) if isinstance(exc, StepError) else f"{type(exc).__name__}: {exc}"
    return end_failed_attempt(
        run,
        step_run,
        spec,
        message=message,
        trace=trace,
        retryable=is_retryable(exc, spec.get("retry_on"))
        and not isinstance(exc, Cancelled | StepTimeout),
        cancelled=isinstance(exc, Cancelled),
        fields=recorder.final_fields(ctx),
    )


def end_failed_attempt(
    run,
    step_run,
    spec,
    *,
    message,
    trace,
    retryable,
    cancelled,
    fields,
    before_record=None,
) -> Decision:
    """Record a failed attempt: the step is cancelled, fails, or waits to retry.

    The step waits to retry when the error is ``retryable`` and it has
    attempts left; the wait doubles with each attempt (see
    :func:`flows.rules.retry_delay`). ``before_record``, if given, is
    called first, once the attempt is known to be still the step's own.
    """
    now = timezone.now()
    with transaction.atomic():
        FlowRun.objects.select_for_update().get(pk=run.pk)
        if not still_mine(step_run, step_run.attempts):
            if cancelled:
                # The cancel marked the step cancelled while it ran; what it
                # committed before it stopped is counted all the same.
                StepRun.objects.filter(
                    pk=step_run.pk,
                    attempts=step_run.attempts,
                    status=StepStatus.CANCELLED,
                ).update(**fields)
            return Decision(Outcome.ALREADY_DONE)
        if before_record is not None:
            before_record()
        if cancelled:
            end_attempt(step_run, StepStatus.CANCELLED, message, trace)
            finish_step(
                run, step_run, StepStatus.CANCELLED, now, error=message, **fields
            )
            logger.warning(
                "Run %s: step %r cancelled: %s", run.pk, step_run.key, message
            )
            return Decision(Outcome.RAN)
        end_attempt(step_run, StepStatus.FAILED, message, trace)
        if not retryable or step_run.attempts_used >= spec.get("max_attempts"):
            finish_step(
                run,
                step_run,
                StepStatus.FAILED,
                now,
                error=message,
                traceback=trace,
                **fields,
            )
            logger.error("Run %s: step %r failed: %s", run.pk, step_run.key, message)
            return Decision(Outcome.RAN)
        delay = retry_delay(
            step_run.attempts_used,
            spec.get("retry_delay"),
            spec.get("retry_delay_max"),
            spec.get("retry_jitter"),
        )
        StepRun.objects.filter(pk=step_run.pk).update(
            status=StepStatus.RETRYING,
            retry_at=now + timedelta(seconds=delay),
            error=message,
            traceback=trace,
            **fields,
        )
        transaction.on_commit(
            lambda: signals.send(
                signals.step_retrying,
                StepRun,
                run=run,
                step_run=step_run,
                error=message,
                delay=delay,
            )
        )
    logger.warning(
        "Run %s: step %r attempt %d failed, retrying in %.1f s: %s",
        run.pk,
        step_run.key,
        step_run.attempts,
        delay,
        message,
    )
    return Decision(Outcome.RETRY, delay)


def _interruption(run: FlowRun) -> StepError:
    """Say why Celery interrupted the step: a cancel, or its time limit."""
    run.refresh_from_db(fields=["status"])
    if run.status == RunStatus.CANCELLED:
        return Cancelled(_("The run was cancelled."))
    return StepTimeout(_("The step ran past its timeout."))


def end_attempt(step_run, status, error: str = "", trace: str = "") -> None:
    StepAttempt.objects.filter(step_run=step_run, number=step_run.attempts).update(
        status=status, finished_at=timezone.now(), error=error, traceback=trace
    )
