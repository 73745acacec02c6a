"""JSON arrays of objects and JSON Lines, read as streams and written.

A JSON array is read one object at a time with
:meth:`json.JSONDecoder.raw_decode` on a growing buffer, so a file of a
million objects is never held whole; only the object being read is.
"""

from __future__ import annotations

import datetime
import json
import re
import sys
from collections.abc import Iterator
from decimal import Decimal
from typing import IO, Any

from formats.base import Reader, Row, is_blank
from formats.decoding import CHUNK_SIZE, TextSource
from formats.errors import CellError, FormatError, HeaderError, LimitError, ParseError
from formats.errors import gettext as _
from formats.writers import Writer

__all__ = ["JsonLinesReader", "JsonLinesWriter", "JsonReader", "JsonWriter", "flatten"]

MAX_OBJECT_CHARS = 64 * 1024 * 1024
_SPACE = re.compile(r"[ \t\n\r]*")
# A value cut by the end of the buffer fails this close to that end, except
# strings, which fail where they start.
_CUT_MARGIN = 8
# An escape of half a UTF-16 surrogate pair. JSON decodes a pair to one
# character but keeps a lone half, which no database or file can store;
# the text is searched for these escapes, and only an item whose text has
# one is searched for the lone half.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_SURROGATE = re.compile("[\ud800-\udfff]")


def flatten(values: dict, prefix: str = "") -> dict:
    """Turn nested objects into one level of dotted keys.

    Args:
        values: A JSON object, such as ``{"price": {"list": 5}}``.
        prefix: Text put before every key, used for the recursion.

    Returns:
        A new dict such as ``{"price.list": 5}``; lists and empty objects
        stay values.

    Raises:
        HeaderError: If two paths give the same dotted key, such as
            ``{"a.b": 1, "a": {"b": 2}}``.
    """
    flat: dict = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        found = (
            flatten(value, f"{name}.")
            if isinstance(value, dict) and value
            else {name: value}
        )
        for flat_key, flat_value in found.items():
            if flat_key in flat:
                message = _(
                    "The key %(key)r is given twice once nested keys are "
                    "joined with dots."
                )
                raise HeaderError(message % {"key": flat_key})
            flat[flat_key] = flat_value
    return flat


class _JsonReaderBase(Reader):
    """Options and row building shared by the JSON readers.

    Args:
        fileobj: A binary file object open for reading.
        encoding: Codec name; ``None`` detects it (UTF-8 is the norm).
        flatten: Join nested object keys with dots (``"price.list"``);
            ``False`` keeps nested objects as dicts.
        header: Ignored; JSON objects name their own values.
        sheet: Ignored; JSON has no sheets.
        **options: The options of :class:`formats.base.Reader`.
    """

    def __init__(
        self,
        fileobj: IO[bytes],
        *,
        encoding: str | None = None,
        flatten: bool = False,
        header: object = True,
        sheet: object = None,
        **options: Any,
    ) -> None:
        super().__init__(fileobj, **options)
        self.encoding = encoding
        self.flatten = flatten
        self._seen: set = set()

    def items(self, source: TextSource) -> Iterator[tuple[int, object]]:
        """Yield ``(row number, decoded item)``; subclasses implement this.

        Args:
            source: The decoded text.

        Returns:
            An iterator of items.
        """
        raise NotImplementedError

    def read_rows(self) -> Iterator[Row]:
        """Yield one row per object, keyed by the object's keys.

        Returns:
            An iterator of :class:`formats.Row`; ``columns`` grows with every
            key first seen.

        Raises:
            ParseError: If the JSON is malformed or an item is not an
                object.
            LimitError: If an object is too long or rows exceed
                ``max_rows``.
        """
        source = TextSource(self.fileobj, encoding=self.encoding, name=self.name)
        for number, item in self.items(source):
            if self.last_row is not None and number > self.last_row:
                break
            if number < self.first_row:
                continue
            values = self._values(item, number)
            if is_blank(values.values()):
                if self.stop_at_blank:
                    break
                if self.skip_blank:
                    continue
            self._note_columns(values)
            self.count_row(number)
            yield Row(number, values)
        self._columns_known = True

    def check_text(
        self, text: str, item: object, number: int, start: int = 0, end: int = -1
    ) -> None:
        """Refuse ``item``, decoded from ``text[start:end]``, if it holds a
        lone surrogate. The text is searched where it lies, not copied.

        Raises:
            CellError: Naming the row and the key whose text holds it.
        """
        if not _SURROGATE_ESCAPE.search(text, start, len(text) if end < 0 else end):
            return
        found = _lone_surrogate(item)
        if found:
            path, half = found
            message = _(
                "The text holds \\u%(code)04x, half of a UTF-16 surrogate "
                "pair without its other half: it is not a character."
            )
            code = {"code": ord(half)}
            raise self.error(CellError, message % code, row=number, column=path or None)

    def _number_too_long(self, error: ValueError, number: int) -> ParseError:
        """Return the error for a number longer than Python converts.

        Python refuses to turn a text of more than
        :func:`sys.get_int_max_str_digits` digits into an integer, as a
        defence against slow conversions; JSON gives no other ValueError.
        """
        del error  # Its text suggests a Python call; the message says it all.
        message = _("A number has more than %(limit)d digits.")
        limit = {"limit": sys.get_int_max_str_digits()}
        return self.error(ParseError, message % limit, row=number)

    def _values(self, item: object, number: int) -> dict:
        if not isinstance(item, dict):
            message = _("Expected a JSON object, found %(found)s.")
            found = {"found": type(item).__name__.replace("NoneType", "null")}
            raise self.error(ParseError, message % found, row=number)
        if not self.flatten:
            return item
        try:
            return flatten(item)
        except HeaderError as error:
            raise error.at(file=self.name, row=number) from None

    def _note_columns(self, values: dict) -> None:
        for key in values:
            if key not in self._seen:
                self._seen.add(key)
                self._columns.append(key)
        self._columns_known = True


class JsonReader(_JsonReaderBase):
    """Read a JSON array of objects, one object at a time.

    Row numbers count the objects of the array from 1.

    Args:
        fileobj: A binary file object open for reading.
        max_object_chars: Longest object allowed, in characters.
        **options: The options of :class:`_JsonReaderBase`.

    Raises:
        ParseError: If the file is not a JSON array of objects.
    """

    format_name = "json"

    def __init__(
        self,
        fileobj: IO[bytes],
        *,
        max_object_chars: int = MAX_OBJECT_CHARS,
        **options: Any,
    ) -> None:
        super().__init__(fileobj, **options)
        self.max_object_chars = max_object_chars
        self._decoder = json.JSONDecoder()
        self._buffer = ""
        self._position = 0
        self._ended = False
        self._chunks: Iterator[str] = iter(())

    def items(self, source: TextSource) -> Iterator[tuple[int, object]]:
        """Yield the items of the top-level array with their position.

        Args:
            source: The decoded text.

        Returns:
            An iterator of ``(position from 1, item)``.
        """
        self._chunks = source.chunks()
        try:
            if self._next_char(1) != "[":
                raise self._expected_array(1)
            self._position += 1
            if self._next_char(1) == "]":
                self._position += 1
            else:
                yield from self._elements()
            if self._next_char(None) != "":
                message = _("Text follows the end of the JSON array.")
                raise self.error(ParseError, message)
        except FormatError as error:
            raise error.at(file=self.name) from None

    def _elements(self) -> Iterator[tuple[int, object]]:
        number = 1
        while True:
            yield number, self._decode(number)
            separator = self._next_char(number)
            self._position += 1
            if separator == "]":
                return
            if separator != ",":
                message = _("Expected ',' or ']' after the object, found %(found)r.")
                found = {"found": separator or _("the end of the file")}
                raise self.error(ParseError, message % found, row=number)
            number += 1
            self._next_char(number)

    def _expected_array(self, number: int) -> ParseError:
        message = _("Expected a JSON array of objects, found %(found)r.")
        found = self._buffer[self._position : self._position + 20] or _("nothing")
        return self.error(ParseError, message % {"found": found}, row=number)

    def _read_more(self, number: int | None) -> bool:
        wanted = max(CHUNK_SIZE, len(self._buffer) - self._position)
        parts = [self._buffer[self._position :]]
        added = 0
        try:
            while added < wanted:
                chunk = next(self._chunks, None)
                if chunk is None:
                    self._ended = True
                    break
                parts.append(chunk)
                added += len(chunk)
        except FormatError as error:
            raise error.at(row=number) from None
        self._buffer, self._position = "".join(parts), 0
        return added > 0

    def _next_char(self, number: int | None) -> str:
        while True:
            self._position = _SPACE.match(self._buffer, self._position).end()
            if self._position < len(self._buffer):
                return self._buffer[self._position]
            if self._ended or not self._read_more(number):
                return ""

    def _decode(self, number: int) -> object:
        while True:
            try:
                item, end = self._decoder.raw_decode(self._buffer, self._position)
            except ValueError as error:
                if not isinstance(error, json.JSONDecodeError):
                    raise self._number_too_long(error, number) from None
                cut = error.msg.startswith("Unterminated string") or (
                    error.pos >= len(self._buffer) - _CUT_MARGIN
                )
                if self._ended or not cut:
                    message = _("The JSON is malformed: %(detail)s.")
                    detail = {"detail": error.msg}
                    raise self.error(ParseError, message % detail, row=number) from None
            except RecursionError:
                message = _("The JSON nests too deeply.")
                raise self.error(ParseError, message, row=number) from None
            else:
                cut = end >= len(self._buffer) - _CUT_MARGIN
                if self._ended or isinstance(item, (dict, list)) or not cut:
                    if end - self._position > self.max_object_chars:
                        # Read whole from what was in the buffer already.
                        raise self._too_long(number)
                    self.check_text(self._buffer, item, number, self._position, end)
                    self._position = end
                    return item
            if len(self._buffer) - self._position > self.max_object_chars:
                raise self._too_long(number)
            self._read_more(number)

    def _too_long(self, number: int) -> LimitError:
        message = _("An object is longer than %(limit)d characters.")
        limit = {"limit": self.max_object_chars}
        return self.error(LimitError, message % limit, row=number)


class JsonLinesReader(_JsonReaderBase):
    """Read JSON Lines: one object per line; blank lines are skipped.

    Row numbers are line numbers.

    Args:
        fileobj: A binary file object open for reading.
        **options: The options of :class:`_JsonReaderBase`.
    """

    format_name = "jsonl"

    def items(self, source: TextSource) -> Iterator[tuple[int, object]]:
        """Yield the object of each non-blank line with its line number.

        Args:
            source: The decoded text.

        Returns:
            An iterator of ``(line number, item)``.
        """
        for line in source.lines():
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as error:
                message = _("The JSON is malformed: %(detail)s (column %(column)d).")
                detail = {"detail": error.msg, "column": error.colno}
                raise self.error(
                    ParseError, message % detail, row=source.line_number
                ) from None
            except ValueError as error:
                raise self._number_too_long(error, source.line_number) from None
            except RecursionError:
                message = _("The JSON nests too deeply.")
                raise self.error(ParseError, message, row=source.line_number) from None
            self.check_text(line, item, source.line_number)
            yield source.line_number, item


def _lone_surrogate(item: object, path: str = "") -> tuple[str, str] | None:
    """Return ``(dotted path, half)`` of the first lone surrogate in ``item``."""
    if isinstance(item, str):
        found = _SURROGATE.search(item)
        return (path, found.group()) if found else None
    if isinstance(item, dict):
        for key, value in item.items():
            name = f"{path}.{key}" if path else key
            found = _lone_surrogate(key, path) or _lone_surrogate(value, name)
            if found:
                return found
    if isinstance(item, list):
        for position, value in enumerate(item):
            found = _lone_surrogate(value, f"{path}[{position}]")
            if found:
                return found
    return None


def _default(value: object) -> object:
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(type(value).__name__)


def unflatten(values: dict) -> dict:
    """Turn dotted keys back into nested objects.

    Args:
        values: A dict such as ``{"price.list": 5, "name": "Lamp"}``.

    Returns:
        ``{"price": {"list": 5}, "name": "Lamp"}``.
    """
    nested: dict = {}
    for key, value in values.items():
        *parents, last = key.split(".")
        target = nested
        for parent in parents:
            target = target.setdefault(parent, {})
        target[last] = value
    return nested


class JsonWriter(Writer):
    """Write a JSON array of objects, one object per line.

    Values of JSON types are written as they are; dates, times and
    datetimes as ISO 8601 text, ``Decimal`` as text (to keep its digits).

    Args:
        fileobj: A binary file object open for writing.
        columns: Keys of every object, in order.
        unflatten: Turn dotted column names into nested objects (the
            reverse of ``flatten=True`` when reading).
        **options: ``name`` and ``escape_formulas`` of
            :class:`formats.base.Writer` (no formula is escaped in JSON).

    Raises:
        FormatError: If ``unflatten`` and a column is both a value and a
            parent (``"a"`` and ``"a.b"``).
        CellError: If a value cannot be written as JSON (NaN, a set...).
    """

    format_name = "json"
    escapes_formulas = False
    opening, separator, closing = "[\n", ",\n", "\n]\n"

    def __init__(
        self,
        fileobj: IO[bytes],
        *,
        columns: list[str],
        unflatten: bool = False,
        header: object = True,
        sheet: object = None,
        **options: Any,
    ) -> None:
        super().__init__(fileobj, columns=columns, **options)
        self.unflatten = unflatten
        if unflatten:
            names = set(self.columns)
            for column in self.columns:
                parts = column.split(".")
                parents = {".".join(parts[:end]) for end in range(1, len(parts))}
                if parents & names:
                    message = _("The column %(column)r is nested under another column.")
                    raise FormatError(message % {"column": column}, file=self.name)

    def write_cells(self, cells: list, number: int) -> None:
        """Write one object.

        Args:
            cells: Values in column order.
            number: The object's position, for messages.
        """
        values = dict(zip(self.columns, cells))
        if self.unflatten:
            values = unflatten(values)
        try:
            text = json.dumps(
                values, ensure_ascii=False, allow_nan=False, default=_default
            )
        except (TypeError, ValueError) as error:
            message = _("The row cannot be written as JSON: %(detail)s.")
            raise CellError(
                message % {"detail": error}, file=self.name, row=number
            ) from error
        lead = self.opening if number == 1 else self.separator
        self.fileobj.write((lead + text).encode("utf-8"))

    def finish(self) -> None:
        """Close the array (an empty one when no row was written)."""
        closing = self.closing if self.rows_written else self.opening.strip() + "]\n"
        self.fileobj.write(closing.encode("utf-8"))
        self.fileobj.flush()


class JsonLinesWriter(JsonWriter):
    """Write JSON Lines: one object per line, each line ending in LF.

    Takes the options of :class:`JsonWriter`.
    """

    format_name = "jsonl"
    opening, separator, closing = "", "\n", "\n"

    def finish(self) -> None:
        """End the last line."""
        if self.rows_written:
            self.fileobj.write(self.closing.encode("utf-8"))
        self.fileobj.flush()
