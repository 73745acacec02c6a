"""The ``export_rows`` step kind: a queryset out to a file."""

import datetime
import tempfile
import uuid
from collections.abc import Callable
from typing import IO, Any

from django import forms
from django.core.exceptions import FieldError
from django.core.files import File
from django.core.files.storage import storages
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from formats import open_writer
from formats.errors import FormatError

from .base import DictField, ListField, ModelChoiceField, StepKind, model_field_names
from .context import StepContext
from .errors import StepError


class ExportRowsConfig(forms.Form):
    """The config of an ``export_rows`` step."""

    model = ModelChoiceField(help_text=_("The model to export: app_label.Model."))
    fields = ListField(
        help_text=_("Field paths, relations allowed: subcategory__name.")
    )
    headers = ListField(
        required=False, help_text=_("Column titles; default: the paths.")
    )
    filter = DictField(required=False, help_text=_("Field lookups limiting the rows."))
    ordering = ListField(
        required=False, help_text=_("Field paths; '-' for descending.")
    )
    storage = forms.CharField(required=False, help_text=_("A STORAGES alias."))
    path = forms.CharField(
        help_text=_("File name in the storage; strftime codes such as %Y-%m-%d.")
    )
    format = forms.CharField(required=False, help_text=_("Empty: from the extension."))
    escape_formulas = forms.BooleanField(required=False)

    def clean(self):
        data = super().clean()
        model = data.get("model")
        if model is None or not data.get("fields"):
            return data
        model_field_names(model, data["fields"], what="fields")
        headers = data.get("headers") or list(data["fields"])
        if len(headers) != len(data["fields"]):
            raise forms.ValidationError(_("'headers' must name every field once."))
        data["headers"] = headers
        data["filter"] = data.get("filter") or {}
        data["ordering"] = data.get("ordering") or ["pk"]
        manager = model._default_manager
        try:
            manager.filter(**data["filter"]).order_by(*data["ordering"]).query
        except (FieldError, ValueError, TypeError) as exc:
            raise forms.ValidationError(
                _("filter or ordering: %(error)s") % {"error": exc}
            ) from None
        data["storage"] = data.get("storage") or "default"
        if data["storage"] not in storages.backends:
            raise forms.ValidationError(
                _("storage %(alias)r is not in the STORAGES setting.")
                % {"alias": data["storage"]}
            )
        data["escape_formulas"] = self.data.get("escape_formulas", True) is not False
        return data


class ExportRows(StepKind):
    """Write a filtered, ordered queryset to a file in a storage.

    Rows are read from the database in chunks and streamed to the writer,
    so memory does not grow with the table. The file is written to a
    temporary file first and saved to the storage when complete, so a
    failed export never leaves half a file behind; an existing file of the
    same name is replaced. Date-times are written in the current time zone,
    without the zone, which XLSX cannot store.
    """

    name = "export_rows"
    label = _("Export rows to a file")
    config_form = ExportRowsConfig

    def run(self, ctx: StepContext) -> dict[str, Any]:
        config = self.config
        model = config["model"]
        name = timezone.localtime().strftime(config["path"])
        queryset = model._default_manager.filter(**config["filter"]).order_by(
            *config["ordering"]
        )
        with tempfile.TemporaryFile() as spool:
            try:
                count = write_queryset(
                    queryset,
                    spool,
                    fields=config["fields"],
                    headers=config["headers"],
                    name=name,
                    format=config["format"] or None,
                    escape_formulas=config["escape_formulas"],
                    on_progress=ctx.progress,
                )
            except FormatError as exc:
                raise StepError(str(exc)) from exc
            spool.seek(0)
            stored = self._store(name, spool)
        ctx.counts["created"] += count
        output = {"model": model._meta.label, "storage": config["storage"]}
        output.update(path=stored, rows=count, file=self._local_path(stored))
        return output

    def _store(self, name: str, spool) -> str:
        storage = storages[self.config["storage"]]
        if storage.exists(name):
            storage.delete(name)
        return storage.save(name, File(spool, name=name))

    def _local_path(self, name: str) -> str | None:
        try:
            return storages[self.config["storage"]].path(name)
        except NotImplementedError:
            return None


def write_queryset(
    queryset: QuerySet,
    fileobj: IO[bytes],
    *,
    fields: list[str],
    headers: list[str] | None = None,
    name: str | None = None,
    format: str | None = None,
    escape_formulas: bool = True,
    on_progress: Callable[[int, int | None], None] | None = None,
) -> int:
    """Write the ``fields`` of ``queryset``'s rows to ``fileobj``.

    Rows are read with ``values_list`` in chunks of 2,000, so related paths
    (``subcategory__category__name``) are joins of the one query and no
    row costs a query of its own; memory does not grow with the table.

    Args:
        queryset: The rows, filtered and ordered as they should be written.
        fileobj: A binary file open for writing; it is not closed.
        fields: Field paths, relations followed with ``__``.
        headers: Column titles, one per field; ``None`` uses the paths.
        name: The file name, for messages and to guess the format.
        format: A format name; ``None`` guesses it from ``name``.
        escape_formulas: Quote text a spreadsheet would run as a formula.
        on_progress: Called with ``(done, total)`` every 1,000 rows and at
            the end.

    Returns:
        The number of rows written.

    Raises:
        FormatError: If the writer refuses the format or a value.
    """
    rows = queryset.values_list(*fields)
    total = rows.count() if on_progress else None
    # Looked up once: finding the current zone again for every date-time
    # costs a quarter of a CSV export.
    zone = timezone.get_current_timezone()
    count = 0
    with open_writer(
        fileobj,
        name=name,
        format=format,
        columns=list(headers or fields),
        escape_formulas=escape_formulas,
    ) as writer:
        for values in rows.iterator(chunk_size=2000):
            writer.write_row([_local(value, zone) for value in values])
            count += 1
            if on_progress and count % 1000 == 0:
                on_progress(count, total)
    if on_progress:
        on_progress(count, total)
    return count


def _local(value: Any, zone: datetime.tzinfo) -> Any:
    """Return a value every writer takes.

    An aware datetime becomes naive time in ``zone``, which XLSX can store;
    a UUID becomes its text, which no spreadsheet has a type for.
    """
    if isinstance(value, datetime.datetime) and timezone.is_aware(value):
        return timezone.make_naive(value, zone)
    if isinstance(value, uuid.UUID):
        return str(value)
    return value
