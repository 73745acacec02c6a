"""The action context a step sees while it runs."""

import json
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

#: The counters every step reports, in the order reports show them.
COUNT_NAMES = ("created", "updated", "unchanged", "failed")


@dataclass
class RejectedRow:
    """One row a step refused, with where and why.

    Attributes:
        row: The row number as a person counts it in the source file (its
            line or sheet row), or ``None`` for a step that works on objects.
        message: Why the row was refused, for a person.
        column: The source column (name or 1-based number), if one is at fault.
        value: The refused value, as text, if any.
        code: A stable, machine-readable code such as ``"invalid"``.
        object_pk: The primary key of the object at fault, for a step that
            works on objects rather than file rows.
    """

    row: int | None
    message: str
    column: str | int | None = None
    value: str | None = None
    code: str = "invalid"
    object_pk: str | None = None


@dataclass
class StepContext:
    """What a step may read and write while it runs.

    The run's side (``params`` and ``upstream``) is read-only; the step adds
    to ``counts``, ``state`` and its output, and reports rejected rows and
    progress through the callbacks the scheduler provides.

    Attributes:
        run_id: The primary key of the run, for log lines.
        step_key: The key of the running step.
        params: The run's parameters.
        upstream: The outputs of the steps this one depends on, directly or
            through other steps, keyed by step key.
        state: JSON-serialisable state the step keeps across rows (the
            previous row, running totals); it is saved with the step run.
        shared: A JSON-serialisable dict shared by every step of the run;
            the keys a step changes are merged into the run's when the step
            succeeds.
        counts: How many rows were created, updated, left unchanged and
            refused.
        on_rejected: Called with each :class:`RejectedRow` as it happens.
        on_progress: Called with ``(done, total)``; ``total`` may be ``None``.
        row_handlers: Callables per row event (``before_row``,
            ``after_row``, ``on_row_error``), for kinds that work on rows.
    """

    run_id: int | None = None
    step_key: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    upstream: dict[str, Any] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)
    shared: dict[str, Any] = field(default_factory=dict)
    counts: Counter = field(default_factory=Counter)
    on_rejected: Callable[[RejectedRow], None] | None = None
    on_progress: Callable[[int, int | None], None] | None = None
    row_handlers: dict[str, list[Callable]] = field(default_factory=dict)
    rejected: list[RejectedRow] = field(default_factory=list)

    def reject(
        self,
        row,
        message: str,
        *,
        column=None,
        value=None,
        code="invalid",
        object_pk=None,
    ) -> RejectedRow:
        """Record that ``row`` was refused and count it as failed.

        Args:
            row: The row number in the source file, or ``None``.
            message: Why, for a person.
            column: The source column at fault, if any.
            value: The refused value, if any; it is stored as text.
            code: A stable error code.
            object_pk: The primary key of the object at fault, if any.

        Returns:
            The :class:`RejectedRow` recorded.
        """
        text = None if value is None else storable_text(str(value))
        pk = None if object_pk is None else str(object_pk)
        if isinstance(column, str):
            column = storable_text(column)
        message = storable_text(str(message))
        rejected = RejectedRow(row, message, column, text, code, pk)
        self.counts["failed"] += 1
        logger.warning(
            "Run %s: step %r rejected row %s: %s",
            self.run_id,
            self.step_key,
            row if row is not None else pk,
            message,
        )
        if self.on_rejected is not None:
            self.on_rejected(rejected)
        else:
            self.rejected.append(rejected)
        return rejected

    def progress(self, done: int, total: int | None = None) -> None:
        """Report that ``done`` of ``total`` rows (``None``: unknown) are done."""
        if self.on_progress is not None:
            self.on_progress(done, total)

    def count_dict(self) -> dict[str, int]:
        """Return the counters as a plain dict with every known name."""
        return {name: int(self.counts.get(name, 0)) for name in COUNT_NAMES}


def storable_text(text: str) -> str:
    """Return ``text`` with each NUL character written as ``\\x00``.

    PostgreSQL can store no NUL in text or JSON, and a refused value is
    kept precisely because it may hold one; the four characters show a
    person where it was.
    """
    return text.replace("\x00", "\\x00") if "\x00" in text else text


def check_serialisable(value: Any, *, what: str) -> None:
    """Raise ``TypeError`` naming ``what`` if ``value`` is not plain JSON.

    The context is stored in JSON columns and read by other workers, so a
    step that puts a ``datetime`` or a model instance in it is stopped
    here, where the mistake is made, rather than when the run is saved.
    """
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{what} must be JSON-serialisable: {exc}") from exc
