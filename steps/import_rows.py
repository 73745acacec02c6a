"""The ``import_rows`` step kind: rows from a file, a URL or a dataset."""

import logging
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from itertools import dropwhile, islice, takewhile
from typing import Any

from django import forms
from django.db import transaction
from django.utils.translation import gettext as _

from formats.errors import FormatError

from .base import StepKind
from .context import StepContext
from .errors import ConfigError, RowRejected, SourceError, StepError
from .failed_rows import FailedRows
from .import_config import ACTIONS, TRANSACTIONS, ImportRowsConfig, check_mapped
from .lookups import ForeignKeyResolver
from .mapping import (
    ColumnIndex,
    auto_mapping,
    make_cleaner,
    make_extractor,
    missing_columns,
    missing_parameters,
    parse_mapping,
)
from .row_writer import PendingRow, RowWriter
from .sources import open_rows, source_name

logger = logging.getLogger(__name__)

__all__ = ["ACTIONS", "TRANSACTIONS", "ImportRows", "ImportRowsConfig", "RowInfo"]


class RowInfo:
    """What a row hook sees besides the row's values.

    Attributes:
        number: The row's number in the file.
        previous: The values of the previous accepted row, or ``None``.
        state: The step's JSON state, kept across rows and saved.
        params: The run's parameters.
        upstream: The outputs of upstream steps.
    """

    def __init__(self, ctx: StepContext):
        self.number = 0
        self.previous = None
        self.state = ctx.state
        self.params = ctx.params
        self.upstream = ctx.upstream


class ImportRows(StepKind):
    """Import rows from a file, a URL or a dataset into a model.

    Each row is mapped to model fields, converted and validated by the
    model fields themselves, and matched to an existing object by the key
    fields. New objects are created and changed ones updated in batches;
    rows that would not change anything are not written. A refused row is
    reported with its number in the source and the step goes on; with
    ``failed_rows`` the refused rows are also written to a file. A dry run
    does all of this in a transaction that is rolled back.

    Limitation: a failed-rows file is written only when the step finishes;
    a step that fails midway (a broken file, ``max_rejected``) leaves none.
    """

    name = "import_rows"
    label = _("Import rows from a file")
    config_form = ImportRowsConfig

    def run(self, ctx: StepContext) -> dict[str, Any]:
        self._begin(ctx)
        self.whole = self.dry_run or self.config["transaction"] == "step"
        with self._open() as opened:
            self._collect_failed(opened)
            try:
                with transaction.atomic() if self.whole else nullcontext():
                    self._import(opened, opened.rows)
                    if self.dry_run:
                        transaction.set_rollback(True)
            except Exception:
                if self.whole:
                    # The rows counted as written were rolled back.
                    for name in ("created", "updated", "unchanged"):
                        ctx.counts[name] = 0
                raise
            output = self._output(opened.name)
        if self.failed is not None:
            output["failed_rows"] = None if self.dry_run else self.failed.save()
        return output

    def chunks(self, ctx: StepContext) -> list[dict[str, Any]] | None:
        """Split the source's rows into runs of ``chunk_size`` rows.

        The source is read once to count its rows; each chunk is the row
        numbers of its first and last row, so that it reads the same rows
        however often it runs. A dry run, a step without ``chunk_size`` and
        a source without rows run whole.
        """
        size = self.config["chunk_size"]
        if not size or self.config["dry_run"] or _is_true(ctx.params.get("dry_run")):
            return None
        self._begin(ctx)
        # Once for the step, rather than once in every chunk.
        self._check_parameters(self.config["rules"])
        specs: list[dict[str, Any]] = []
        with self._open() as opened:
            try:
                for position, row in enumerate(opened.rows):
                    if position % size == 0:
                        specs.append({"first": row.number, "rows": 0})
                    specs[-1]["last"] = row.number
                    specs[-1]["rows"] += 1
                self._check_header(opened)
            except FormatError as exc:
                raise SourceError(str(exc)) from exc
        logger.info(
            "Run %s: step %r reads %d rows of %s in %d chunks",
            ctx.run_id,
            ctx.step_key,
            sum(spec["rows"] for spec in specs),
            opened.name,
            len(specs),
        )
        return specs or None

    def run_chunk(self, ctx: StepContext, chunk: dict[str, Any]) -> dict[str, Any]:
        """Import the rows numbered ``chunk["first"]`` to ``chunk["last"]``.

        Runs inside the chunk's transaction, so its rows commit with its
        checkpoint or not at all. The rows it rejects go into its output
        for :meth:`merge` to write to the failed-rows file.
        """
        self._begin(ctx)
        self.whole = True  # the chunk's transaction keeps all of it or nothing
        first, last = chunk["first"], chunk["last"]
        with self._open() as opened:
            self._collect_failed(opened)
            rows = dropwhile(lambda row: row.number < first, opened.rows)
            self._import(opened, takewhile(lambda row: row.number <= last, rows))
            output = self._output(opened.name)
        if self.failed is not None:
            output["failed_rows"] = None
            output["source_format"] = opened.format
            output["failed_row_values"] = self.failed.as_json()
        return output

    def merge(self, ctx: StepContext, outputs: list[dict[str, Any]]) -> dict[str, Any]:
        """Add up the chunks' counts and write one failed-rows file for all.

        Raises:
            StepError: If more rows were rejected than ``max_rejected``
                allows (the chunks' rows stay imported).
        """
        output = super().merge(ctx, [_without_failed(o) for o in outputs])
        limit = self.config["max_rejected"]
        if limit is not None and output.get("failed", 0) > limit:
            raise StepError(
                _("%(count)d rows were rejected, more than the %(limit)d allowed.")
                % {"count": output["failed"], "limit": limit}
            )
        if self.config["failed_rows"]:
            failed = FailedRows(
                self.config["failed_rows"],
                outputs[0].get("source_format"),
                self.config["read"],
            )
            for part in outputs:
                failed.extend_json(part.get("failed_row_values") or [])
            output["failed_rows"] = failed.save()
        return output

    def _begin(self, ctx: StepContext) -> None:
        config = self.config
        self.ctx = ctx
        self.model = config["model"]
        self.row_info = RowInfo(ctx)
        self.rows_done = 0
        self.writer = None
        self.failed = None
        self.whole = False
        self.raw: dict = {}
        self.dry_run = config["dry_run"] or _is_true(ctx.params.get("dry_run"))

    @contextmanager
    def _open(self):
        config = self.config
        logger.info(
            "Run %s: step %r imports %s into %s%s",
            self.ctx.run_id,
            self.ctx.step_key,
            source_name(config["source"]),
            self.model._meta.label,
            " (dry run)" if self.dry_run else "",
        )
        with open_rows(
            config["source"],
            format=config["format"] or None,
            read=config["read"],
            params=self.ctx.params,
        ) as opened:
            yield opened

    def _collect_failed(self, opened) -> None:
        if self.config["failed_rows"]:
            self.failed = FailedRows(
                self.config["failed_rows"], opened.format, self.config["read"]
            )

    def _import(self, opened, rows) -> None:
        try:
            batches = _batches(rows, self.config["batch_size"])
            first = next(batches, None)
            self._check_header(opened)  # the header is read with the first row
            if first is not None:
                self._import_batch(first, opened.columns())
                for batch in batches:
                    self._import_batch(batch, opened.columns())
        except FormatError as exc:
            raise SourceError(self._format_failure(exc)) from exc

    def _check_header(self, opened) -> None:
        """Fail before any row is written if the header lacks a mapped column.

        Only a file read with a header row is checked: a file without one,
        JSON and datasets name their columns row by row.
        """
        if not getattr(opened.reader, "header", False):
            return
        columns = opened.columns()
        if not columns:
            raise SourceError(
                _("%(name)s: the file is empty; a header row was expected.")
                % {"name": opened.name}
            )
        missing = missing_columns(self.config["rules"], ColumnIndex(columns))
        if missing:
            column, field = missing[0]
            raise SourceError(
                _(
                    "%(name)s: the header has no column %(column)r, which field "
                    "%(field)r is mapped to; the columns are: %(columns)s."
                )
                % {
                    "name": opened.name,
                    "column": column,
                    "field": field,
                    "columns": ", ".join(str(c) for c in columns),
                }
            )

    def _output(self, name: str) -> dict[str, Any]:
        output = {
            "model": self.model._meta.label,
            "source": name,
            "rows": self.rows_done,
        }
        output.update(self.ctx.count_dict())
        if self.dry_run:
            output["dry_run"] = True
        logger.info(
            "Run %s: step %r imported %d rows of %s: %s",
            self.ctx.run_id,
            self.ctx.step_key,
            self.rows_done,
            name,
            self.ctx.count_dict(),
        )
        return output

    def _format_failure(self, exc: FormatError) -> str:
        """Say what broke the source and what the rows before it left.

        Rows of the batches before the break are written (unless the step
        is one transaction), each as its outcome says: refused rows were
        not, and unchanged ones needed no write.
        """
        if self.whole or not self.rows_done:
            return str(exc)
        counts = self.ctx.count_dict()
        return _(
            "%(error)s The %(done)d rows before it were imported: %(created)d "
            "created, %(updated)d updated, %(unchanged)d unchanged, "
            "%(failed)d refused."
        ) % {"error": exc, "done": self.rows_done, **counts}

    def _check_parameters(self, rules: list) -> None:
        """Raise ``ConfigError`` if a template names a parameter the run lacks."""
        for field, name in missing_parameters(rules, self.ctx.params):
            raise ConfigError(
                _(
                    "field %(field)r: the template names the run parameter "
                    "%(name)r, which this run does not have."
                )
                % {"field": field, "name": name},
                field="fields",
            )

    def _prepare(self, columns: list) -> None:
        """Build the rules, resolvers and writer once the headers are known."""
        config = self.config
        rules = config["rules"]
        if config["auto"]:
            mapping = auto_mapping(self.model, columns, config["fields"])
            try:
                rules = parse_mapping(self.model, mapping)
                check_mapped({**config, "rules": rules})
            except forms.ValidationError as exc:
                raise ConfigError(" ".join(exc.messages)) from None
        self._check_parameters(rules)
        self.rules = rules
        self.key_rules = [r for name in config["key"] for r in rules if r.name == name]
        self.resolvers = {r.name: ForeignKeyResolver(r) for r in rules if r.is_relation}
        self.relation_rules = [r for r in rules if r.is_relation]
        self.cleaners = [
            (r.name, r.attname, make_cleaner(r)) for r in rules if not r.is_relation
        ]
        self.writer = RowWriter(
            self.model,
            rules,
            config["key"],
            action=config["action"],
            update_fields=config["update_fields"] or [],
            row_by_row=config["write"] == "save" or config["transaction"] == "none",
            long_transaction=self.whole,
            full_save=config["write"] == "save",
        )

    def _import_batch(self, batch: list, columns: list) -> None:
        index = ColumnIndex(columns or _keys_of(batch))
        if self.writer is None:
            self._prepare(index.columns)
        self.raw = {row.number: row.values for row in batch}
        atomic = self.config["transaction"] == "batch" and not self.dry_run
        with transaction.atomic() if atomic else nullcontext():
            pending = self._convert_batch(batch, index)
            written = self._write(pending)
        for row in written:
            for handler in self.ctx.row_handlers.get("after_row", []):
                handler(self.ctx, row.number, {**row.values, **row.many}, row.outcome)
        self.rows_done += len(batch)
        self.ctx.progress(self.rows_done)
        self._check_rejected()

    def _convert_batch(self, batch: list, index: ColumnIndex) -> list[PendingRow]:
        params = self.ctx.params
        readers = [(r.name, make_extractor(r, index, params)) for r in self.rules]
        prepared = []
        for row in batch:
            values = row.values
            try:
                raw = {name: read(values) for name, read in readers}
            except RowRejected as exc:
                self._reject(row.number, exc)
                continue
            prepared.append((row.number, raw))
        for name, resolver in self.resolvers.items():
            resolver.prime(raw[name] for _number, raw in prepared)
        pending = []
        for number, raw in prepared:
            try:
                pending.append(self._convert(number, raw))
            except RowRejected as exc:
                self._reject(number, exc)
        return pending

    def _convert(self, number: int, raw: dict) -> PendingRow:
        # An empty key is refused before any field sees it: the field's own
        # "required" would hide that the row cannot be matched at all.
        for rule in self.key_rules:
            _check_key(rule, raw[rule.name])
        values = {attname: clean(raw[name]) for name, attname, clean in self.cleaners}
        many = {}
        for rule in self.relation_rules:
            value = self.resolvers[rule.name].resolve(raw[rule.name])
            if rule.many:
                many[rule.name] = value
            else:
                values[rule.attname] = value
        hook = self.config["row_hook"]
        if hook:
            self.row_info.number = number
            values = hook(values, self.row_info) or values
            self.row_info.previous = values
        for handler in self.ctx.row_handlers.get("before_row", []):
            changed = handler(self.ctx, number, {**values, **many})
            if changed is not None:
                many = {n: changed.pop(n) for n in list(many) if n in changed}
                values = changed
        key = []
        for rule in self.key_rules:
            key.append(_check_key(rule, values.get(rule.attname)))
        return PendingRow(number, tuple(key), values, many)

    def _write(self, pending: list[PendingRow]) -> list[PendingRow]:
        """Write ``pending`` in segments of distinct keys; return the rows written.

        A key seen twice starts a new segment, so the later row is compared
        with, and written over, what the earlier one wrote.
        """
        written, segment, seen = [], [], set()
        for row in [*pending, None]:
            if row is None or row.key in seen:
                for number, problem in self.writer.write(segment):
                    self._reject(number, problem)
                for done in segment:
                    if done.outcome is not None:
                        self.ctx.counts[done.outcome] += 1
                        written.append(done)
                segment, seen = [], set()
            if row is not None:
                segment.append(row)
                seen.add(row.key)
        return written

    def _reject(self, number: int, exc: RowRejected) -> None:
        rejected = self.ctx.reject(
            number, str(exc), column=exc.column, value=exc.value, code=exc.code
        )
        if self.failed is not None:
            self.failed.add(number, self.raw.get(number, {}), str(exc))
        for handler in self.ctx.row_handlers.get("on_row_error", []):
            handler(self.ctx, rejected)

    def _check_rejected(self) -> None:
        limit = self.config["max_rejected"]
        if limit is not None and self.ctx.counts["failed"] > limit:
            raise StepError(
                _("%(count)d rows were rejected, more than the %(limit)d allowed.")
                % {"count": self.ctx.counts["failed"], "limit": limit}
            )


def _is_true(value: Any) -> bool:
    """Return whether a run parameter means yes; ``"false"`` means no."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def _check_key(rule, value: Any) -> Any:
    """Return ``value``, or raise ``RowRejected`` if the key field is empty."""
    if value is None or value == "":
        raise RowRejected(
            _("the key field %(field)r is empty.") % {"field": rule.name},
            column=rule.label,
            code="missing_key",
        )
    return value


def _without_failed(output: dict) -> dict:
    """Return a chunk's output without the rejected rows it carries."""
    return {
        key: value
        for key, value in output.items()
        if key not in ("failed_row_values", "source_format")
    }


def _batches(rows: Iterator, size: int) -> Iterator[list]:
    """Yield ``rows`` in lists of ``size``.

    A reader that fails midway (a malformed JSON object, a broken cell)
    has handed out the rows before the failure already: they are yielded
    as one last, shorter batch, to be written like any other, and the
    error is raised after it.
    """
    while True:
        batch: list = []
        try:
            # One by one, so that the rows read before an error are kept.
            for row in islice(rows, size):
                batch.append(row)  # noqa: PERF402
        except FormatError:
            if batch:
                yield batch
            raise
        if not batch:
            return
        yield batch


def _keys_of(batch: list) -> list:
    """Return every key the batch's rows use, in the order first seen."""
    keys: dict = {}
    for row in batch:
        for key in row.values:
            keys.setdefault(key, None)
    return list(keys)
