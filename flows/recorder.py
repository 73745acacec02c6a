"""Keep a running step's heartbeat, progress and rejected rows."""

import logging
import threading
import time

from django.db import DatabaseError, connection
from django.utils import timezone
from django.utils.translation import gettext as _

from steps.context import RejectedRow, StepContext
from steps.errors import Cancelled, StepTimeout

from . import signals
from .conf import settings
from .models import FlowRun, RowError, RunStatus, StepRun, StepStatus

logger = logging.getLogger(__name__)


class Superseded(Exception):
    """A newer attempt of the step took over; this one must record nothing."""


class Heartbeat:
    """Refreshes a running step's ``heartbeat_at`` from a background thread.

    A step whose heartbeat is older than ``LEASE_SECONDS`` is taken for
    lost: its worker died, or its machine did.
    """

    def __init__(self, step_run_pk: int):
        self.pk = step_run_pk
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._beat, daemon=True)

    def __enter__(self):
        # One beat at once, before the work: work shorter than an interval
        # (the chunks of a step, say) must still show that it is alive,
        # however many such pieces run one after another.
        self._beat_once()
        self.thread.start()
        return self

    def __exit__(self, *exc_info):
        self.stopped.set()
        self.thread.join()
        return False

    def _beat(self) -> None:
        try:
            while not self.stopped.wait(settings.HEARTBEAT_INTERVAL):
                self._beat_once()
        finally:
            connection.close()

    def _beat_once(self) -> None:
        try:
            StepRun.objects.filter(pk=self.pk, status=StepStatus.RUNNING).update(
                heartbeat_at=timezone.now()
            )
        except DatabaseError as exc:
            # A busy database delays one beat; the lease allows many.
            logger.warning("Heartbeat of step run %s missed: %s", self.pk, exc)


class Recorder:
    """Saves a running step's progress and rejected rows as it works.

    Progress is written at most every ``PROGRESS_INTERVAL`` seconds and
    rejected rows in batches, each by one query outside the step's own
    transaction. While saving progress it also checks, at most once a
    second, whether the run was cancelled or the step ran past its timeout
    or the run's deadline, and stops the step if so.
    """

    batch_size = 200

    def __init__(self, step_run: StepRun, *, timeout: int | None = None, chunk=None):
        self.step_run = step_run
        self.chunk = chunk
        self.pending: list[RejectedRow] = []
        self.stored = step_run.row_errors.count()
        self.last_progress = 0.0
        self.last_check = time.monotonic()
        self.started = time.monotonic()
        self.timeout = timeout
        self.done: int | None = None
        self.total: int | None = None

    def reject(self, rejected: RejectedRow) -> None:
        """Keep ``rejected``, up to ``MAX_ROW_ERRORS`` rows per step run."""
        signals.send(
            signals.row_rejected,
            StepRun,
            run=self.step_run.run,
            step_run=self.step_run,
            rejected=rejected,
        )
        if self.stored + len(self.pending) >= settings.MAX_ROW_ERRORS:
            return
        self.pending.append(rejected)
        if len(self.pending) >= self.batch_size:
            self.flush()

    def progress(self, done: int, total: int | None) -> None:
        """Save the progress if the last save is old enough."""
        self.done, self.total = done, total
        now = time.monotonic()
        if now - self.last_check >= 1.0:
            self.last_check = now
            self.check_interruptions()
        if self.chunk is not None or connection.in_atomic_block:
            # Inside the step's own transaction (a chunk, or an import that
            # is all or nothing) a write to the step run would lock its row
            # until the end, holding up the heartbeat and the other chunks;
            # and nobody could see it before then anyway.
            return
        if now - self.last_progress < settings.PROGRESS_INTERVAL:
            return
        self.last_progress = now
        StepRun.objects.filter(pk=self.step_run.pk).update(
            rows_done=done, rows_total=total
        )

    def check_interruptions(self) -> None:
        """Raise if the run was cancelled or a time limit has passed."""
        if self.timeout and time.monotonic() - self.started > self.timeout:
            raise StepTimeout(
                _("The step ran longer than its timeout of %(seconds)d s.")
                % {"seconds": self.timeout}
            )
        attempts = StepRun.objects.filter(pk=self.step_run.pk).values_list(
            "attempts", flat=True
        )[0]
        if attempts != self.step_run.attempts:
            raise Superseded()
        status, deadline = FlowRun.objects.filter(pk=self.step_run.run_id).values_list(
            "status", "deadline_at"
        )[0]
        if status == RunStatus.CANCELLED:
            raise Cancelled(_("The run was cancelled."))
        if deadline and timezone.now() > deadline:
            raise Cancelled(_("The run passed its deadline."))

    def final_fields(self, ctx: StepContext) -> dict:
        """Return the counts and final progress to save with the outcome."""
        fields = dict(ctx.count_dict())
        if self.done is not None:
            fields.update(rows_done=self.done, rows_total=self.total)
        return fields

    def flush(self) -> None:
        """Store the rejected rows kept so far."""
        if not self.pending:
            return
        RowError.objects.bulk_create(
            RowError(
                step_run=self.step_run,
                chunk=self.chunk,
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
