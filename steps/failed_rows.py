"""The failed-rows file: the rows an import refused, to fix and import again.

The file holds each refused row with its original columns, as read, and one
more column, ``error``, saying why. It is written in the source's format
(or the one its path's extension names) with the source's read options
where they apply to writing (delimiter, quote character, header), so the
same step config imports the fixed file.
"""

import json
import logging
import math
import os
import tempfile
from typing import Any

from django import forms
from django.core.files import File
from django.core.files.storage import storages
from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone
from django.utils.translation import gettext as _

from formats import formats_for_name, open_writer
from formats.errors import FormatError

from .context import storable_text

logger = logging.getLogger(__name__)

ERROR_COLUMN = "error"
#: Read options of delimited text that the writer takes as they are.
CSV_OPTIONS = ("delimiter", "record_terminator", "quotechar", "encoding")


class FailedRowsField(forms.JSONField):
    """A config value ``{"storage": alias, "path": name}`` for the file."""

    def clean(self, value):
        value = super().clean(value)
        if value is None:
            return None
        if not isinstance(value, dict) or not isinstance(value.get("path"), str):
            raise forms.ValidationError(
                _('expected {"storage": ..., "path": ...}.'), code="invalid"
            )
        unknown = sorted(set(value) - {"storage", "path", "format"})
        if unknown:
            raise forms.ValidationError(
                _("unknown key %(key)r.") % {"key": unknown[0]}, code="invalid"
            )
        alias = value.get("storage", "default")
        if alias not in storages.backends:
            raise forms.ValidationError(
                _("%(alias)r is not a storage alias in the STORAGES setting.")
                % {"alias": alias},
                code="invalid_storage",
            )
        return {"storage": alias, "path": value["path"], "format": value.get("format")}


class FailedRows:
    """Collects refused rows and writes them to a storage.

    Args:
        target: The cleaned ``failed_rows`` config.
        source_format: The format the rows were read in, or ``None`` for a
            dataset (which is then written as JSON unless the path says
            otherwise).
        read: The source's read options.
    """

    def __init__(self, target: dict, source_format: str | None, read: dict):
        self.target = target
        self.read = read
        self.rows: list[tuple[int, dict, str]] = []
        self.format = target["format"] or self._format_of_path() or source_format
        self.format = self.format or "json"

    def _format_of_path(self) -> str | None:
        found = formats_for_name(self.target["path"])
        return found[0].name if found else None

    def add(self, number: int, values: dict, message: str) -> None:
        """Keep row ``number``'s original ``values`` and why it was refused."""
        self.rows.append((number, values, message))

    def as_json(self) -> list:
        """Return the rows kept as JSON: ``[number, pairs, message]`` each.

        A row's values are a list of ``[column, value]`` pairs rather than
        an object: PostgreSQL's ``jsonb``, through which a chunk's output
        passes, keeps no key order, and the file must keep the source's
        column order; a headerless file's column numbers stay numbers too.
        Dates, times and decimals become their text, which the same step
        reads back. So does what a database cannot keep in JSON: an
        infinite or NaN float becomes its JSON spelling (``"NaN"``), a NUL
        in text ``\\x00``.
        """
        rows = [
            [number, list(values.items()), message]
            for number, values, message in self.rows
        ]
        text = json.dumps(rows, cls=DjangoJSONEncoder)
        rows = json.loads(text, parse_constant=str)
        return _without_nul(rows) if "\\u0000" in text else rows

    def extend_json(self, rows: list) -> None:
        """Keep rows given as :meth:`as_json` returns them."""
        for number, values, message in rows:
            if isinstance(values, list):
                values = {column: value for column, value in values}
            elif self.read.get("header") is False:
                # Kept by an earlier version as an object, whose keys JSON
                # turned from a headerless file's column numbers into text.
                values = {
                    int(key) if key.isdigit() else key: value
                    for key, value in values.items()
                }
            self.add(number, values, message)

    def save(self) -> dict | None:
        """Write the rows kept; return the file's storage, path and rows.

        The rows were refused and the others written by then, so a value
        the file's format cannot hold (text too long for a spreadsheet
        cell, a character a workbook refuses, more columns than an XLS
        sheet has) must not fail the step: the rows are then written as
        JSON Lines beside the path, which holds any value read, and the
        result says why in ``"error"``. Should even that fail, no file is
        written, ``"path"`` is ``None`` and ``"error"`` says why; the
        refused rows stay in the step's report either way.

        Returns:
            ``{"storage": ..., "path": ..., "rows": n}`` (with ``"format"``
            and ``"error"`` when the rows went to JSON Lines instead), or
            ``None`` when no row was refused (no file is written then).
        """
        if not self.rows:
            return None
        self.rows.sort(key=lambda item: item[0])
        name = timezone.localtime().strftime(self.target["path"])
        result = {"storage": self.target["storage"], "rows": len(self.rows)}
        try:
            return {**result, "path": self._store(name, self.format, self._options())}
        except FormatError as exc:
            problem = _(
                "The %(format)s file %(name)r cannot hold the failed rows: %(error)s"
            ) % {"format": self.format, "name": name, "error": exc}
        fallback = f"{os.path.splitext(name)[0]}.jsonl"
        logger.warning("%s; writing them to %s instead", problem, fallback)
        try:
            path = self._store(fallback, "jsonl", {})
        except FormatError as exc:
            logger.error("Cannot write the failed rows to %s either: %s", fallback, exc)
            return {**result, "path": None, "error": f"{problem} ({exc})"}
        return {**result, "path": path, "format": "jsonl", "error": problem}

    def _store(self, name: str, format: str, options: dict) -> str:
        """Write the rows kept as ``format`` to ``name``; return the path.

        Values are written as they were read, without the quote a writer
        puts before text that a spreadsheet would run as a formula, so the
        fixed file imports the same values; they came from the source,
        which held them as they are.
        """
        keys = self._keys()
        columns = [str(key) for key in keys]
        columns.append(_error_column(columns))
        with tempfile.TemporaryFile() as spool:
            with open_writer(
                spool,
                name=name,
                format=format,
                columns=columns,
                escape_formulas=False,
                **options,
            ) as writer:
                for _number, values, message in self.rows:
                    cells = [self._cell(values.get(key), format) for key in keys]
                    writer.write_row([*cells, message])
            spool.seek(0)
            storage = storages[self.target["storage"]]
            stored = storage.save(name, File(spool, name=name))
        logger.info("Wrote %d failed rows to %s", len(self.rows), stored)
        return stored

    def _keys(self) -> list:
        seen: dict = {}
        for _number, values, _message in self.rows:
            for key in values:
                seen.setdefault(key, None)
        columns = list(seen)
        if columns and all(isinstance(c, int) for c in columns):
            # A headerless file's columns are positions; the error goes
            # after the last one, and missing cells stay empty.
            columns = list(range(1, max(columns) + 1))
        return columns

    def _options(self) -> dict:
        options: dict[str, Any] = {}
        if self.format == "csv":
            options = {k: self.read[k] for k in CSV_OPTIONS if self.read.get(k)}
        if self.format in ("csv", "xlsx", "xls") and self.read.get("header") is False:
            options["header"] = False
        return options

    def _cell(self, value: Any, format: str) -> Any:
        """Return ``value`` as the writer takes it: nested data as JSON text.

        JSON keeps nested objects and lists as they are; a table format
        cannot hold them, so it gets their JSON text. An infinite or NaN
        float, which a JSON source may give but strict JSON cannot hold,
        becomes the text of its JSON spelling (``"NaN"``, ``"Infinity"``)
        in every format.
        """
        if isinstance(value, float) and not math.isfinite(value):
            return json.dumps(value)
        if isinstance(value, (dict, list)) and format not in ("json", "jsonl"):
            return json.dumps(value, default=str)
        return value


def _without_nul(value: Any) -> Any:
    """Return JSON ``value`` with NUL in its text written as ``\\x00``."""
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, list):
        return [_without_nul(item) for item in value]
    if isinstance(value, dict):
        return {storable_text(k): _without_nul(v) for k, v in value.items()}
    return value


def _error_column(columns: list[str]) -> str:
    """Return ``error``, or ``error_2``, ``error_3``... if the source has it."""
    name, number = ERROR_COLUMN, 1
    while name in columns:
        number += 1
        name = f"{ERROR_COLUMN}_{number}"
    return name
