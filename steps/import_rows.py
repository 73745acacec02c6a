"""The ``import_rows`` step kind: rows from a file into a model."""

import logging
from contextlib import nullcontext
from itertools import islice
from typing import Any

from django import forms
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import Q
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

from formats import open_reader
from formats.errors import FormatError

from .base import DictField, ListField, ModelChoiceField, StepKind
from .context import StepContext
from .errors import RowRejected, SourceError, StepError
from .lookups import ForeignKeyResolver
from .mapping import ColumnIndex, convert, extract, parse_mapping
from .sources import SourceField, open_source

logger = logging.getLogger(__name__)

ACTIONS = [
    ("create_or_update", _("Create new rows and update existing ones")),
    ("create_only", _("Create new rows; refuse rows that exist")),
    ("update_only", _("Update existing rows; refuse rows that don't exist")),
    ("skip_existing", _("Create new rows; leave existing ones alone")),
]
TRANSACTIONS = [
    ("batch", _("Commit each batch")),
    ("step", _("All or nothing for the whole step")),
]


class ImportRowsConfig(forms.Form):
    """The config of an ``import_rows`` step."""

    source = SourceField(help_text=_("The file: a path, or {storage, path}."))
    format = forms.CharField(
        required=False, help_text=_("Format name; empty guesses from the extension.")
    )
    read = DictField(required=False, help_text=_("Options for the format's reader."))
    model = ModelChoiceField(help_text=_("The model rows go into: app_label.Model."))
    fields = DictField(help_text=_("Model field name → column or rule."))
    key = ListField(help_text=_("Fields that identify an existing row."))
    action = forms.ChoiceField(choices=ACTIONS, required=False)
    update_fields = ListField(
        required=False, help_text=_("Fields an update may change; empty means all.")
    )
    batch_size = forms.IntegerField(required=False, min_value=1, max_value=100_000)
    transaction = forms.ChoiceField(choices=TRANSACTIONS, required=False)
    max_rejected = forms.IntegerField(
        required=False,
        min_value=0,
        help_text=_("Fail the step when more rows than this are rejected."),
    )
    row_hook = forms.CharField(
        required=False,
        help_text=_("Dotted path of a callable run on every row before it is saved."),
    )

    def clean(self):
        data = super().clean()
        model = data.get("model")
        if model is None or data.get("fields") is None:
            return data
        data["rules"] = parse_mapping(model, data["fields"])
        mapped = {rule.name for rule in data["rules"]}
        for name in data.get("key") or ():
            if name not in mapped:
                raise forms.ValidationError(
                    _("key field %(name)r is not in the field mapping.") % {"name": name}
                )
        if not data.get("key"):
            raise forms.ValidationError(_("'key' needs at least one field."))
        for name in data.get("update_fields") or ():
            if name not in mapped:
                raise forms.ValidationError(
                    _("update field %(name)r is not in the field mapping.")
                    % {"name": name}
                )
        if data.get("row_hook"):
            try:
                data["row_hook"] = import_string(data["row_hook"])
            except ImportError as exc:
                raise forms.ValidationError(
                    _("row_hook: %(error)s") % {"error": exc}
                ) from None
        data["action"] = data.get("action") or "create_or_update"
        data["transaction"] = data.get("transaction") or "batch"
        data["batch_size"] = data.get("batch_size") or 500
        data["read"] = data.get("read") or {}
        return data


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
    """Import rows from a delimited text file or a workbook into a model.

    Each row is mapped to model fields, converted and validated by the
    model fields themselves, and matched to an existing object by the key
    fields. New objects are created and changed ones updated in batches;
    rows that would not change anything are not written. A refused row is
    reported with its number in the file and the step goes on.

    Limitation: a ForeignKey whose natural key names no row is refused;
    creating the missing target is not offered.
    """

    name = "import_rows"
    label = _("Import rows from a file")
    config_form = ImportRowsConfig

    def run(self, ctx: StepContext) -> dict[str, Any]:
        config = self.config
        self.model = config["model"]
        self.rules = config["rules"]
        self.key_rules = [r for r in self.rules if r.name in config["key"]]
        self.resolvers = {r.name: ForeignKeyResolver(r) for r in self.rules if r.is_relation}
        self.row_info = RowInfo(ctx)
        self.ctx = ctx
        self.rows_done = 0
        name = config["source"]["path"]

        atomic = transaction.atomic if config["transaction"] == "step" else nullcontext
        with open_source(config["source"]) as handle, atomic():
            try:
                reader = open_reader(
                    handle, name=name, format=config["format"] or None, **config["read"]
                )
                rows = iter(reader)
                while batch := list(islice(rows, config["batch_size"])):
                    self._import_batch(batch, getattr(reader, "columns", []))
            except FormatError as exc:
                raise SourceError(self._format_failure(exc)) from exc

        output = {"model": self.model._meta.label, "source": name, "rows": self.rows_done}
        output.update(ctx.count_dict())
        return output

    def _format_failure(self, exc: FormatError) -> str:
        if self.config["transaction"] == "step" or not self.rows_done:
            return str(exc)
        return _("%(error)s %(done)d rows before it were saved.") % {
            "error": exc,
            "done": self.rows_done,
        }

    def _import_batch(self, batch: list, columns: list) -> None:
        index = ColumnIndex(columns or _positions(batch))
        params = self.ctx.params
        prepared = []
        for row in batch:
            try:
                raw = {rule.name: extract(rule, row.values, index, params) for rule in self.rules}
            except RowRejected as exc:
                self._reject(row.number, exc)
                continue
            prepared.append((row.number, raw))

        for name, resolver in self.resolvers.items():
            resolver.prime(raw[name] for _, raw in prepared)
        converted = []
        for number, raw in prepared:
            try:
                converted.append((number, self._convert(number, raw)))
            except RowRejected as exc:
                self._reject(number, exc)

        segment, seen = [], set()
        for number, values in converted:
            key = self._key_of(values)
            if key in seen:
                self._write(segment)
                segment, seen = [], set()
            segment.append((number, key, values))
            seen.add(key)
        self._write(segment)

        self.rows_done += len(batch)
        self.ctx.progress(self.rows_done)
        self._check_rejected()

    def _convert(self, number: int, raw: dict) -> dict:
        values = {}
        for rule in self.rules:
            if rule.is_relation:
                values[rule.attname] = self.resolvers[rule.name].resolve(raw[rule.name])
            else:
                values[rule.attname] = convert(rule, raw[rule.name])
        hook = self.config["row_hook"]
        if hook:
            self.row_info.number = number
            values = hook(values, self.row_info) or values
            self.row_info.previous = values
        return values

    def _key_of(self, values: dict) -> tuple:
        return tuple(values[rule.attname] for rule in self.key_rules)

    def _existing(self, keys: list[tuple]) -> dict[tuple, Any]:
        attnames = [rule.attname for rule in self.key_rules]
        manager = self.model._default_manager
        if len(attnames) == 1:
            found = manager.filter(**{f"{attnames[0]}__in": [k[0] for k in keys]})
        else:
            condition = Q()
            for key in keys:
                condition |= Q(**dict(zip(attnames, key)))
            found = manager.filter(condition)
        return {tuple(getattr(obj, a) for a in attnames): obj for obj in found}

    def _write(self, segment: list) -> None:
        if not segment:
            return
        action = self.config["action"]
        existing = self._existing([key for _, key, _ in segment])
        allowed = self._update_attnames()
        creates, updates, changed_fields = [], [], set()
        for number, key, values in segment:
            obj = existing.get(key)
            if obj is None:
                if action == "update_only":
                    self._reject(number, RowRejected(
                        _("no existing row has the key %(key)s.") % {"key": _show(key)},
                        code="does_not_exist",
                    ))
                    continue
                creates.append((number, self.model(**values)))
            elif action == "create_only":
                self._reject(number, RowRejected(
                    _("a row with the key %(key)s exists already.") % {"key": _show(key)},
                    code="exists",
                ))
            elif action == "skip_existing":
                self.ctx.counts["unchanged"] += 1
            else:
                changes = {a: v for a, v in values.items()
                           if a in allowed and getattr(obj, a) != v}
                if not changes:
                    self.ctx.counts["unchanged"] += 1
                    continue
                for attname, value in changes.items():
                    setattr(obj, attname, value)
                changed_fields.update(changes)
                updates.append((number, obj))
        self._save(creates, updates, sorted(changed_fields))

    def _update_attnames(self) -> set[str]:
        names = self.config["update_fields"] or [rule.name for rule in self.rules]
        keys = {rule.name for rule in self.key_rules}
        return {rule.attname for rule in self.rules if rule.name in names and rule.name not in keys}

    def _save(self, creates: list, updates: list, fields: list[str]) -> None:
        manager = self.model._default_manager
        try:
            with transaction.atomic():
                if creates:
                    manager.bulk_create([obj for _, obj in creates])
                if updates:
                    manager.bulk_update([obj for _, obj in updates], fields)
        except (IntegrityError, DatabaseError):
            # The batch broke a database constraint. Saving the rows one by
            # one, each in its own savepoint, ties the error to its row.
            self._save_one_by_one(creates, updates, fields)
            return
        self.ctx.counts["created"] += len(creates)
        self.ctx.counts["updated"] += len(updates)

    def _save_one_by_one(self, creates: list, updates: list, fields: list[str]) -> None:
        work = [(n, obj, True) for n, obj in creates]
        work += [(n, obj, False) for n, obj in updates]
        for number, obj, created in work:
            try:
                with transaction.atomic():
                    if created:
                        obj.save(force_insert=True)
                    else:
                        obj.save(update_fields=fields)
            except (IntegrityError, DatabaseError) as exc:
                self._reject(number, RowRejected(
                    _("the database refused the row: %(error)s") % {"error": exc},
                    code="integrity",
                ))
                continue
            self.ctx.counts["created" if created else "updated"] += 1

    def _reject(self, number: int, exc: RowRejected) -> None:
        self.ctx.reject(number, str(exc), column=exc.column, value=exc.value, code=exc.code)

    def _check_rejected(self) -> None:
        limit = self.config["max_rejected"]
        if limit is not None and self.ctx.counts["failed"] > limit:
            raise StepError(
                _("%(count)d rows were rejected, more than the %(limit)d allowed.")
                % {"count": self.ctx.counts["failed"], "limit": limit}
            )


def _positions(batch: list) -> list:
    return list(batch[0].values) if batch else []


def _show(key: tuple) -> str:
    return ", ".join(repr(part) for part in key)
