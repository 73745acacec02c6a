"""Chunked steps: a step's rows split into chunks that run as a chord.

A step kind that returns chunks from ``chunks(ctx)`` is not run whole.
Instead its first attempt records one :class:`~flows.models.StepChunk` per
chunk and sends the chunks out as a Celery chord: a group of
``syncflow.run_chunk`` tasks, which may run in parallel on any workers,
with ``syncflow.merge_chunks`` as its body. The step's own task stays the
chunks' *owner*: it comes back every ``WAIT_POLL_INTERVAL`` seconds, keeps
the step's heartbeat, sends out again chunks whose worker died or whose
message went missing, and finishes the step once every chunk has.

Each chunk applies its writes and marks itself succeeded in one
transaction: a chunk is applied once, however often its task is
delivered, and a retried or resumed step redoes only the chunks that did
not succeed.

Limitation: the state a step keeps across rows is kept per chunk; the
step's state is the chunks' states keyed by chunk index.
"""

import copy
import logging
import traceback
from datetime import timedelta
from functools import partial

from celery import chord, group
from django.db import connection, transaction
from django.db.models import Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from steps.context import COUNT_NAMES, check_serialisable
from steps.errors import StepError
from steps.registry import get_kind

from .conf import settings
from .models import FlowRun, StepChunk, StepRun, StepStatus
from .rules import is_retryable

logger = logging.getLogger(__name__)


def start_chunks(run: FlowRun, step_run: StepRun, kind, ctx) -> bool:
    """Plan the step's chunks if it has none yet, and send out the unfinished.

    Returns:
        Whether the step is chunked; if not, the caller runs it whole.
    """
    if not step_run.chunks.exists():
        specs = kind.chunks(ctx)
        if specs is None:
            return False
        check_serialisable(specs, what=f"The chunks of step {step_run.key!r}")
        StepChunk.objects.bulk_create(
            StepChunk(step_run=step_run, index=i, spec=spec)
            for i, spec in enumerate(specs)
        )
        counted = [spec.get("rows") for spec in specs if isinstance(spec, dict)]
        if len(counted) == len(specs) and all(isinstance(n, int) for n in counted):
            # Chunks that say how many rows they hold give the step its total,
            # for the progress a person watches.
            StepRun.objects.filter(pk=step_run.pk).update(rows_total=sum(counted))
        logger.info(
            "Run %s: step %r split into %d chunks", run.pk, step_run.key, len(specs)
        )
    with transaction.atomic():
        FlowRun.objects.select_for_update().get(pk=run.pk)
        unfinished = step_run.chunks.exclude(status=StepStatus.SUCCEEDED)
        unfinished.update(status=StepStatus.PENDING, error="", queued_at=timezone.now())
        indexes = list(unfinished.values_list("index", flat=True))
        transaction.on_commit(lambda: _send(run, step_run, indexes))
    return True


def _send(run: FlowRun, step_run: StepRun, indexes: list[int]) -> None:
    from .tasks import merge_chunks, run_chunk

    args = (run.pk, step_run.key, run.generation, step_run.attempts)
    chunks = [run_chunk.si(*args, index) for index in indexes]
    if chunks:
        chord(group(chunks), merge_chunks.si(*args)).apply_async()


def execute_chunk(
    run_id: int, key: str, generation: int, attempt: int, index: int
) -> str:
    """Apply one chunk, once; return ``done``, ``failed``, ``stale`` or ``busy``."""
    from .execution import ROW_EVENTS, Heartbeat, Recorder, build_context
    from .execution import load_handlers, run_graph

    with transaction.atomic():
        run = FlowRun.objects.select_for_update().get(pk=run_id)
        step_run = run.step_runs.get(key=key)
        chunk = step_run.chunks.get(index=index)
        if (
            generation != run.generation
            or run.is_finished
            or (step_run.attempts, step_run.status) != (attempt, StepStatus.RUNNING)
        ):
            return "stale"
        if chunk.status == StepStatus.SUCCEEDED:
            return "done"
        if chunk.status == StepStatus.RUNNING:
            return "busy"
        chunk.status, chunk.started_at = StepStatus.RUNNING, timezone.now()
        chunk.attempts += 1
        chunk.save(update_fields=["status", "started_at", "attempts"])

    graph = run_graph(run)
    spec = graph.nodes[key]["spec"]
    recorder = Recorder(step_run, timeout=spec.get("timeout"), chunk=chunk)
    handlers = load_handlers(spec, events=ROW_EVENTS)
    ctx = build_context(run, step_run, graph, recorder, handlers)
    ctx.state = dict(chunk.state)
    try:
        with Heartbeat(step_run.pk), transaction.atomic():
            # The row lock is the chunk's lease: while this transaction is
            # open, the owner sees the chunk as alive.
            locked = StepChunk.objects.select_for_update().get(pk=chunk.pk)
            if (locked.status, locked.attempts) != (StepStatus.RUNNING, chunk.attempts):
                # The owner took this chunk for lost and sent it out again
                # before the lock was taken; that copy applies it.
                return "stale"
            output = get_kind(spec.kind)(spec.config).run_chunk(ctx, chunk.spec)
            check_serialisable(output, what=f"The output of step {key!r}")
            recorder.flush()
            StepChunk.objects.filter(pk=chunk.pk).update(
                status=StepStatus.SUCCEEDED,
                finished_at=timezone.now(),
                output=output,
                state=ctx.state,
                **ctx.count_dict(),
            )
    except Exception as exc:
        message = (
            str(exc) if isinstance(exc, StepError) else f"{type(exc).__name__}: {exc}"
        )
        StepChunk.objects.filter(pk=chunk.pk).update(
            status=StepStatus.FAILED,
            finished_at=timezone.now(),
            error=message[:10_000],
            output={
                "retryable": is_retryable(exc, spec.get("retry_on")),
                "traceback": traceback.format_exc()[-5000:],
            },
        )
        logger.warning(
            "Run %s: step %r chunk %d failed: %s", run_id, key, index, message
        )
        return "failed"
    # After the commit, not inside the chunk's transaction: locking the
    # step's row there, while holding the chunk's own, can deadlock with
    # the owner, which locks them the other way round.
    _count_committed(step_run.pk)
    return "done"


def _count_committed(step_run_pk: int) -> None:
    """Give a chunked step the rows and counts of its finished chunks.

    Called by each chunk once it has committed, so that a person watching
    sees the counts grow, and so that a step cancelled (or lost) before its
    chunks are merged still counts the rows its finished chunks kept.

    No lock is taken: a lock on the step's row here deadlocked with a
    cancel and the heartbeat, which update that row too. Of two chunks
    finishing at once, either may write last; rows done only grow as
    chunks finish, so a count that saw fewer rows than the one already
    written is dropped.
    """
    # Sums and row counts alone: a finished chunk's output may hold its
    # refused rows, and each chunk of the step reads every finished one.
    done = StepChunk.objects.filter(
        step_run_id=step_run_pk, status=StepStatus.SUCCEEDED
    )
    counts = done.aggregate(**{name: Coalesce(Sum(name), 0) for name in COUNT_NAMES})
    rows = sum(
        n for n in done.values_list("output__rows", flat=True) if isinstance(n, int)
    )
    StepRun.objects.filter(pk=step_run_pk, rows_done__lte=rows).update(
        **counts, rows_done=rows
    )


def poll_chunks(run_id: int, key: str, generation: int):
    """Look after the chunks of a running step; finish it once they have.

    Called by the step's own task while its chunks work, and by the chord's
    body when they are done.
    """
    from .execution import Decision, Outcome, end_failed_attempt, run_graph

    poll = Decision(Outcome.WAITING, settings.WAIT_POLL_INTERVAL)
    lost = []
    with transaction.atomic():
        run = FlowRun.objects.select_for_update().get(pk=run_id)
        step_run = run.step_runs.get(key=key)
        if generation != run.generation or run.is_finished:
            return Decision(Outcome.STALE)
        if step_run.status != StepStatus.RUNNING:
            return Decision(Outcome.ALREADY_DONE)
        StepRun.objects.filter(pk=step_run.pk).update(heartbeat_at=timezone.now())
        chunks = list(step_run.chunks.all())
        lost = _lost_chunks(chunks)
        if lost:
            StepChunk.objects.filter(pk__in=[c.pk for c in lost]).update(
                status=StepStatus.PENDING, queued_at=timezone.now()
            )
            indexes = [c.index for c in lost]
            transaction.on_commit(lambda: _send(run, step_run, indexes))
            return poll
        statuses = {c.status for c in chunks}
        if statuses & {StepStatus.PENDING, StepStatus.RUNNING}:
            return poll
        spec = run_graph(run).nodes[key]["spec"]
        fields = _counts(chunks)
        failed = [c for c in chunks if c.status == StepStatus.FAILED]
    if failed:
        first = failed[0]
        message = f"Chunk {first.index}: {first.error}"
        return end_failed_attempt(
            run,
            step_run,
            spec,
            message=message,
            trace=first.output.get("traceback", ""),
            retryable=all(c.output.get("retryable") for c in failed),
            cancelled=False,
            fields=fields,
            before_record=partial(_chunks_failed, run, step_run, spec, message),
        )
    return _merge(run, step_run, spec, chunks, fields)


def _chunks_failed(run, step_run, spec, message: str) -> None:
    """Call the step's ``on_step_error`` handlers for an attempt whose chunks
    failed; called once, by whoever records the failure."""
    from .execution import Recorder, build_context, call_safely, load_handlers
    from .execution import run_graph

    handlers = load_handlers(spec, events=("on_step_error",))
    if not handlers.get("on_step_error"):
        return
    recorder = Recorder(step_run, timeout=spec.get("timeout"))
    ctx = build_context(run, step_run, run_graph(run), recorder, handlers)
    error = StepError(message)
    for handler in handlers["on_step_error"]:
        call_safely(handler, run.pk, step_run.key, ctx, error)


def _lost_chunks(chunks: list[StepChunk]) -> list[StepChunk]:
    """Return the chunks whose worker died or whose message went missing."""
    now = timezone.now()
    lease = timedelta(seconds=settings.LEASE_SECONDS)
    lost = []
    for chunk in chunks:
        if (
            chunk.status == StepStatus.PENDING
            and chunk.queued_at
            and now - chunk.queued_at > lease
        ):
            lost.append(chunk)
        elif chunk.status == StepStatus.RUNNING and not _held(chunk, now, lease):
            lost.append(chunk)
    return lost


def _held(chunk: StepChunk, now, lease) -> bool:
    """Whether a worker is still applying ``chunk``.

    Where the database can skip locked rows, a chunk is alive exactly when
    its row is locked by the transaction applying it. Elsewhere (SQLite,
    which runs one writer at a time anyway) a chunk is taken for alive
    until it has run for longer than the lease.
    """
    if not connection.features.has_select_for_update_skip_locked:
        # The caller's transaction holds SQLite's one write lock, so no
        # chunk is in the middle of its own: what was read is current.
        return now - chunk.started_at <= lease
    if now - chunk.started_at < timedelta(seconds=settings.HEARTBEAT_INTERVAL):
        return True
    # Lock the chunk's row unless a worker holds it, and only if it is still
    # the same run of the chunk: one that committed since its status was
    # read is no longer running, and must not be sent out again. The lock
    # lasts until the caller's transaction ends, so a copy of the chunk
    # cannot start applying it before it is marked pending.
    free = StepChunk.objects.select_for_update(skip_locked=True).filter(
        pk=chunk.pk, status=StepStatus.RUNNING, attempts=chunk.attempts
    )
    return not list(free.values_list("pk", flat=True))


def _counts(chunks: list[StepChunk]) -> dict:
    names = ("created", "updated", "unchanged", "failed")
    fields = {name: sum(getattr(c, name) for c in chunks) for name in names}
    fields["rows_done"] = sum(
        c.output.get("rows", 0) for c in chunks if c.status == StepStatus.SUCCEEDED
    )
    return fields


def _merge(run, step_run, spec, chunks, fields):
    from .execution import Decision, Outcome, Recorder, build_context, call_safely
    from .execution import check_context, end_attempt, end_failed_attempt
    from .execution import finish_step, load_handlers, run_graph, still_mine

    with transaction.atomic():
        # Merging may write files (an import's failed rows) and calls the
        # step's handlers, so it is done once, by whoever holds the run's
        # lock while the step is running.
        locked = FlowRun.objects.select_for_update().get(pk=run.pk)
        if not still_mine(step_run, step_run.attempts):
            return Decision(Outcome.ALREADY_DONE)
        handlers = load_handlers(spec)
        recorder = Recorder(step_run, timeout=spec.get("timeout"))
        ctx = build_context(run, step_run, run_graph(run), recorder, handlers)
        ctx.state = {str(c.index): c.state for c in chunks if c.state}
        ctx.counts.update({name: fields[name] for name in COUNT_NAMES})
        shared_before = copy.deepcopy(ctx.shared)
        try:
            # A savepoint, so that a database error in the kind or a
            # handler leaves the run's transaction usable for the outcome.
            with transaction.atomic():
                kind = get_kind(spec.kind)(spec.config)
                output = kind.merge(ctx, [c.output for c in chunks])
                check_context(step_run.key, output, ctx.state, ctx.shared)
                for handler in handlers.get("after_step", []):
                    handler(ctx, output)
        except Exception as exc:
            message = (
                str(exc)
                if isinstance(exc, StepError)
                else f"{type(exc).__name__}: {exc}"
            )
            logger.warning(
                "Run %s: step %r failed merging its chunks: %s",
                run.pk,
                step_run.key,
                message,
            )
            for handler in handlers.get("on_step_error", []):
                call_safely(handler, run.pk, step_run.key, ctx, exc)
            return end_failed_attempt(
                run,
                step_run,
                spec,
                message=message,
                trace=traceback.format_exc()[-5000:],
                retryable=is_retryable(exc, spec.get("retry_on")),
                cancelled=False,
                fields=fields,
            )
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
            **fields,
        )
    logger.info(
        "Run %s: step %r succeeded in %d chunks", run.pk, step_run.key, len(chunks)
    )
    return Decision(Outcome.RAN)
