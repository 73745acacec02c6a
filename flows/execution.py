"""Run one step of a run, and finish a run, recording everything in the database."""

import logging
import time
import traceback
from enum import Enum

import networkx as nx
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from steps.context import RejectedRow, StepContext, check_serialisable
from steps.errors import StepError
from steps.registry import get_kind

from .conf import settings
from .dag import build_graph, specs_from_snapshot
from .models import FINISHED_STEP_STATUSES, FlowRun, RowError, RunStatus, StepRun
from .models import StepStatus

logger = logging.getLogger(__name__)


class Outcome(Enum):
    """What :func:`execute_step` did."""

    RAN = "ran"
    SKIPPED = "skipped"
    ALREADY_DONE = "already done"
    WAITING = "waiting"


def execute_step(run_id: int, key: str, waits: list[str] = ()) -> Outcome:
    """Run step ``key`` of run ``run_id`` unless it ran already or must wait.

    The step's kind is called with an action context built from the run:
    its parameters and the outputs of every step upstream of this one. The
    outcome, counts, output, state and rejected rows are saved on the
    step run. Errors inside the step fail the step, not the task.

    Args:
        run_id: The run.
        key: The step's key.
        waits: Upstream steps the canvas does not make this step wait for;
            while any of them has not finished, nothing happens and
            :attr:`Outcome.WAITING` is returned.
    """
    claimed = _claim(run_id, key, waits)
    if claimed is not Outcome.RAN:
        return claimed
    step_run = StepRun.objects.select_related("run").get(run_id=run_id, key=key)
    run = step_run.run
    graph = build_graph(specs_from_snapshot(run.graph), check_configs=False)
    spec = graph.nodes[key]["spec"]
    recorder = Recorder(step_run)
    ctx = StepContext(
        run_id=run_id,
        step_key=key,
        params=run.params,
        upstream=_upstream_outputs(run, graph, key),
        state=dict(step_run.state),
        on_rejected=recorder.reject,
        on_progress=recorder.progress,
    )
    logger.info("Run %s: step %r (%s) started", run_id, key, spec.kind)
    try:
        output = get_kind(spec.kind)(spec.config).run(ctx)
        check_serialisable(output, what=_("The output of step %r") % key)
        check_serialisable(ctx.state, what=_("The state of step %r") % key)
    except StepError as exc:
        recorder.finish(ctx, StepStatus.FAILED, error=str(exc))
        logger.error("Run %s: step %r failed: %s", run_id, key, exc)
    except Exception as exc:
        recorder.finish(
            ctx,
            StepStatus.FAILED,
            error=f"{type(exc).__name__}: {exc}",
            trace=traceback.format_exc(),
        )
        logger.exception("Run %s: step %r failed unexpectedly", run_id, key)
    else:
        recorder.finish(ctx, StepStatus.SUCCEEDED, output=output)
        logger.info("Run %s: step %r succeeded: %s", run_id, key, ctx.count_dict())
    return Outcome.RAN


def _claim(run_id: int, key: str, waits) -> Outcome:
    """Mark the step running if it may run now; say why not otherwise."""
    with transaction.atomic():
        # Locking the run serialises the claims of one run's steps, so a
        # redelivered task cannot start a step a second time.
        run = FlowRun.objects.select_for_update().get(pk=run_id)
        step_run = run.step_runs.get(key=key)
        if step_run.status != StepStatus.PENDING or run.is_finished:
            return Outcome.ALREADY_DONE
        graph = build_graph(specs_from_snapshot(run.graph), check_configs=False)
        upstream = dict(
            run.step_runs.filter(key__in=list(graph.predecessors(key))).values_list(
                "key", "status"
            )
        )
        if any(upstream[w] not in FINISHED_STEP_STATUSES for w in waits):
            return Outcome.WAITING
        now = timezone.now()
        if run.status == RunStatus.QUEUED:
            run.status, run.started_at = RunStatus.RUNNING, now
            run.save(update_fields=["status", "started_at"])
        blocked = sorted(k for k, s in upstream.items() if s != StepStatus.SUCCEEDED)
        if blocked:
            step_run.status, step_run.finished_at = StepStatus.SKIPPED, now
            step_run.error = _("Skipped: upstream step %(steps)s did not succeed.") % {
                "steps": ", ".join(repr(k) for k in blocked)
            }
            step_run.save(update_fields=["status", "finished_at", "error"])
            logger.warning("Run %s: step %r skipped: %s", run_id, key, step_run.error)
            return Outcome.SKIPPED
        step_run.status, step_run.started_at = StepStatus.RUNNING, now
        step_run.attempts += 1
        step_run.save(update_fields=["status", "started_at", "attempts"])
    return Outcome.RAN


def _upstream_outputs(run: FlowRun, graph: nx.DiGraph, key: str) -> dict:
    keys = nx.ancestors(graph, key)
    rows = run.step_runs.filter(key__in=keys, status=StepStatus.SUCCEEDED)
    return dict(rows.values_list("key", "output"))


class Recorder:
    """Saves a running step's progress, rejected rows and result.

    Progress is written at most every ``PROGRESS_INTERVAL`` seconds and
    rejected rows in batches, each by a single query outside the step's own
    transaction, so a person watching sees them while the step works.
    """

    batch_size = 200

    def __init__(self, step_run: StepRun):
        self.step_run = step_run
        self.pending: list[RejectedRow] = []
        self.stored = 0
        self.last_progress = 0.0
        self.done: int | None = None
        self.total: int | None = None

    def reject(self, rejected: RejectedRow) -> None:
        """Keep ``rejected``, up to ``MAX_ROW_ERRORS`` rows per step run."""
        if self.stored + len(self.pending) >= settings.MAX_ROW_ERRORS:
            return
        self.pending.append(rejected)
        if len(self.pending) >= self.batch_size:
            self._flush()

    def progress(self, done: int, total: int | None) -> None:
        """Save the progress if the last save is old enough."""
        self.done, self.total = done, total
        now = time.monotonic()
        if now - self.last_progress < settings.PROGRESS_INTERVAL:
            return
        self.last_progress = now
        StepRun.objects.filter(pk=self.step_run.pk).update(
            rows_done=done, rows_total=total
        )

    def finish(self, ctx, status, *, output=None, error="", trace="") -> None:
        """Save the step's final status, counts, output, state and error."""
        self._flush()
        counts = ctx.count_dict()
        fields = {
            "status": status,
            "finished_at": timezone.now(),
            "output": output if output is not None else {},
            "state": ctx.state if status == StepStatus.SUCCEEDED else {},
            "error": error,
            "traceback": trace,
            **counts,
        }
        if self.done is not None:
            fields.update(rows_done=self.done, rows_total=self.total)
        StepRun.objects.filter(pk=self.step_run.pk).update(**fields)

    def _flush(self) -> None:
        if not self.pending:
            return
        RowError.objects.bulk_create(
            RowError(
                step_run=self.step_run,
                row_number=r.row,
                object_pk=r.object_pk or "",
                column="" if r.column is None else str(r.column)[:200],
                value=r.value or "",
                message=r.message,
                code=r.code[:50],
            )
            for r in self.pending
        )
        self.stored += len(self.pending)
        self.pending = []


def finish_run(run_id: int, *, error: str = "") -> FlowRun:
    """Give run ``run_id`` its final status from its steps' statuses.

    A run succeeds when every step succeeded. Steps that never started
    (the canvas broke off) are marked skipped, so nothing stays pending.
    """
    with transaction.atomic():
        run = FlowRun.objects.select_for_update().get(pk=run_id)
        if run.is_finished:
            return run
        now = timezone.now()
        unfinished = run.step_runs.exclude(status__in=FINISHED_STEP_STATUSES)
        unfinished.filter(status=StepStatus.RUNNING).update(
            status=StepStatus.FAILED, finished_at=now, error=error or _("Interrupted.")
        )
        unfinished.update(
            status=StepStatus.SKIPPED, finished_at=now, error=_("Never started.")
        )
        statuses = set(run.step_runs.values_list("status", flat=True))
        ok = not error and statuses <= {StepStatus.SUCCEEDED}
        run.status = RunStatus.SUCCEEDED if ok else RunStatus.FAILED
        run.started_at = run.started_at or now
        run.finished_at = now
        run.error = error or _failure_summary(run)
        run.save(update_fields=["status", "started_at", "finished_at", "error"])
    log = logger.info if ok else logger.error
    log("Run %s of flow %r %s", run.pk, run.flow.slug, run.status)
    return run


def _failure_summary(run: FlowRun) -> str:
    failed = run.step_runs.filter(status=StepStatus.FAILED).values_list("key", "error")
    return "\n".join(f"{key}: {error}" for key, error in failed)
