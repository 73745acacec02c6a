"""The XML of an XLSX worksheet and shared-string table, parsed as it streams.

openpyxl builds an element tree for every cell and, with ``defusedxml``,
parses through pure-Python handlers; it also reads a whole sheet once more
to find its size when the sheet does not state it. Here expat hands each
tag straight to a few handlers that keep only what the rows need, which
reads a sheet about three times as fast as openpyxl's read-only mode (see
``docs/benchmarks.md``) and holds one chunk of rows at a time.

A document type declaration is refused outright, as a worksheet never has
one, so entity tricks such as "billion laughs" stop before any expansion.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import IO, Any
from xml.parsers import expat

from openpyxl.utils.cell import column_index_from_string
from openpyxl.utils.datetime import from_excel, from_ISO8601

from formats.base import BrokenCell
from formats.errors import ParseError
from formats.errors import gettext as _

__all__ = ["CHUNK_SIZE", "SheetParser", "read_shared_strings"]

CHUNK_SIZE = 64 * 1024
_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main "
_ROW = _MAIN + "row"
_CELL = _MAIN + "c"
_VALUE = _MAIN + "v"
_FORMULA = _MAIN + "f"
_INLINE = _MAIN + "is"
_TEXT = _MAIN + "t"
_PHONETIC = _MAIN + "rPh"
_STRING_ITEM = _MAIN + "si"
_DIGITS = "0123456789"
_MIDNIGHT = datetime.time(0)


def _row_number(reference: str) -> int:
    # openpyxl also takes "7.0"; anything else is damage, as there.
    try:
        number = int(reference)
    except ValueError:
        value = float(reference)
        if not value.is_integer():
            raise
        number = int(value)
    if number < 1:
        raise ValueError(f"row number {reference!r} is below 1")
    return number


def _refuse_doctype(*_args: object) -> None:
    message = _(
        "The workbook's XML declares a document type, which workbooks never "
        "do; it is refused because it may hide entity expansion."
    )
    raise ParseError(message)


def _new_parser() -> expat.XMLParserType:
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.buffer_text = True
    parser.StartDoctypeDeclHandler = _refuse_doctype
    parser.EntityDeclHandler = _refuse_doctype
    return parser


def _feed(parser: expat.XMLParserType, source: IO[bytes], done: list) -> Iterator[Any]:
    # Rows finished by one chunk are handed out before the next is parsed,
    # so memory holds one chunk of rows however long the sheet is.
    while True:
        chunk = source.read(CHUNK_SIZE)
        parser.Parse(chunk, not chunk)
        if done:
            yield from done
            done.clear()
        if not chunk:
            return


def read_shared_strings(source: IO[bytes]) -> list[str]:
    """Read a workbook's shared-string table, as openpyxl's reader does.

    Args:
        source: The ``sharedStrings.xml`` member, open for reading.

    Returns:
        The texts in table order; rich text loses its formatting and
        phonetic runs are left out.

    Raises:
        ParseError: If the XML declares a document type.
        xml.parsers.expat.ExpatError: If the XML is malformed.
    """
    strings: list[str] = []
    parts: list[str] = []
    collect, phonetic = False, 0

    def start(name: str, _attributes: dict) -> None:
        nonlocal collect, phonetic
        if name == _TEXT and not phonetic:
            collect = True
        elif name == _PHONETIC:
            phonetic += 1

    def end(name: str) -> None:
        nonlocal collect, phonetic
        if name == _TEXT:
            collect = False
        elif name == _STRING_ITEM:
            # openpyxl drops the escape of an underscore the same way.
            strings.append("".join(parts).replace("x005F_", ""))
            parts.clear()
        elif name == _PHONETIC:
            phonetic -= 1

    def text(data: str) -> None:
        if collect:
            parts.append(data)

    parser = _new_parser()
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    while chunk := source.read(CHUNK_SIZE):
        parser.Parse(chunk, False)
    parser.Parse(b"", True)
    return strings


class SheetParser:
    """Turn a worksheet's XML into rows of cell values.

    Values follow openpyxl's read-only mode with ``data_only``, and then
    the reader's rules: text, ``int`` for a whole number (a whole ``float``
    too), ``float``, ``bool``, ``datetime`` for a cell whose style shows a
    date (``date`` when the style shows no time and the time is midnight),
    ``time`` for a time without a date, ``timedelta`` for a duration style.
    Dates count from ``epoch``. An error cell, a date out of range and a
    formula saved without a result give a :class:`BrokenCell`.

    Args:
        shared_strings: The workbook's shared strings, by index.
        epoch: The workbook's first day, for the 1900 or 1904 system.
        date_styles: Style ids whose number format shows a date or time.
        duration_styles: Style ids whose number format shows a duration.
        date_only_styles: Style ids whose number format shows no time.
        last_column: Columns past this one are left out.
    """

    __slots__ = (
        "_cell",
        "_cells",
        "_chars",
        "_collect",
        "_column",
        "_columns",
        "_date_only_styles",
        "_date_styles",
        "_done",
        "_duration_styles",
        "_epoch",
        "_formula",
        "_inline",
        "_last_column",
        "_number",
        "_phonetic",
        "_strings",
        "_value",
    )

    def __init__(
        self,
        shared_strings: list[str],
        *,
        epoch: datetime.datetime,
        date_styles: set[int],
        duration_styles: set[int],
        date_only_styles: set[int],
        last_column: int,
    ) -> None:
        self._strings = shared_strings
        self._epoch = epoch
        self._date_styles = date_styles
        self._duration_styles = duration_styles
        self._date_only_styles = date_only_styles
        self._last_column = last_column
        self._columns: dict[str, int] = {}
        self._done: list[tuple[int, list]] = []
        self._number = 0
        self._cells: list = []
        self._column = 0
        self._cell: dict = {}
        self._value: str | None = None
        self._formula = False
        self._inline: list[str] | None = None
        self._phonetic = 0
        self._collect = False
        self._chars = ""

    def rows(self, source: IO[bytes]) -> Iterator[tuple[int, list]]:
        """Yield ``(row number, values)`` for each row the sheet stores.

        Args:
            source: The worksheet member, open for reading.

        Returns:
            An iterator of the row number and its values from column 1:
            ``None`` for an empty cell, and no ``None`` at the end. A row
            of cells that are only styled comes with no values.

        Raises:
            ParseError: If the XML declares a document type.
            xml.parsers.expat.ExpatError: If the XML is malformed.
            ValueError: If a cell reference or value is not valid.
            IndexError: If a cell names a shared string that is missing.
        """
        parser = _new_parser()
        parser.StartElementHandler = self._start
        parser.EndElementHandler = self._end
        parser.CharacterDataHandler = self._text
        return _feed(parser, source, self._done)

    def _start(self, name: str, attributes: dict) -> None:
        if name == _CELL:
            self._cell = attributes
            self._value = None
            self._formula = False
            self._inline = None
        elif name == _VALUE:
            self._collect = True
            self._chars = ""
        elif name == _ROW:
            self._start_row(attributes.get("r"))
        elif name == _FORMULA:
            self._formula = True
        elif name == _INLINE:
            self._inline = []
        elif name == _TEXT:
            if self._inline is not None and not self._phonetic:
                self._collect = True
                self._chars = ""
        elif name == _PHONETIC:
            self._phonetic += 1

    def _end(self, name: str) -> None:
        if name == _VALUE:
            self._value = self._chars
            self._collect = False
        elif name == _CELL:
            self._end_cell()
        elif name == _ROW:
            self._done.append((self._number, self._cells))
        elif name == _TEXT:
            if self._collect and self._inline is not None:
                self._inline.append(self._chars)
            self._collect = False
        elif name == _PHONETIC:
            self._phonetic -= 1

    def _text(self, data: str) -> None:
        if self._collect:
            self._chars += data

    def _start_row(self, reference: str | None) -> None:
        if reference is None:
            self._number += 1
        else:
            self._number = _row_number(reference)
        self._cells = []
        self._column = 0

    def _end_cell(self) -> None:
        attributes = self._cell
        kind = attributes.get("t", "n")
        text = self._value
        if kind == "inlineStr":
            value = None if self._inline is None else "".join(self._inline)
        elif not text:
            value = "" if kind == "str" and text is not None and self._formula else None
        elif kind == "n":
            value = self._number_value(text, attributes.get("s"))
        elif kind == "s":
            value = self._strings[int(text)]
        else:
            value = self._other_value(kind, text, attributes.get("s"))
        if value is None:
            if not self._formula:
                return
            value = BrokenCell(
                _(
                    "The cell holds a formula whose result was never saved; "
                    "open and save the file in a spreadsheet to compute it."
                )
            )
        self._place(value, attributes.get("r"))

    def _place(self, value: object, reference: str | None) -> None:
        if reference is None:
            column = self._column + 1
        else:
            letters = reference.rstrip(_DIGITS)
            column = self._columns.get(letters) or self._column_number(letters)
        self._column = column
        if column > self._last_column:
            return
        cells = self._cells
        if column > len(cells):
            if column > len(cells) + 1:
                cells.extend([None] * (column - 1 - len(cells)))
            cells.append(value)
        else:
            cells[column - 1] = value

    def _column_number(self, letters: str) -> int:
        # openpyxl knows every valid column name and raises ValueError for
        # any other, so the cache stays small whatever the file holds.
        number = column_index_from_string(letters)
        self._columns[letters] = number
        return number

    def _number_value(self, text: str, style: str | None) -> object:
        if "." in text or "e" in text or "E" in text:
            number: float | int = float(text)
            if number.is_integer() and style is None:
                return int(number)
        else:
            number = int(text)
        if style is None:
            return number
        style_id = int(style)
        if style_id in self._date_styles:
            return self._date(number, style_id)
        if isinstance(number, float) and number.is_integer():
            return int(number)
        return number

    def _date(self, number: float, style_id: int) -> object:
        duration = style_id in self._duration_styles
        try:
            moment = from_excel(number, self._epoch, timedelta=duration)
        except (OverflowError, ValueError):
            message = _("The cell is marked as a date but holds %(value)r.")
            return BrokenCell(message % {"value": number})
        return self._date_kind(moment, style_id)

    def _date_kind(self, moment: object, style_id: int) -> object:
        if (
            isinstance(moment, datetime.datetime)
            and style_id in self._date_only_styles
            and moment.time() == _MIDNIGHT
        ):
            return moment.date()
        return moment

    def _other_value(self, kind: str, text: str, style: str | None) -> object:
        if kind == "b":
            return bool(int(text))
        if kind == "e":
            message = _("The cell holds the error %(error)s.")
            return BrokenCell(message % {"error": text})
        if kind == "d":
            moment = from_ISO8601(text)
            return self._date_kind(moment, int(style) if style else 0)
        # "str", a formula's text result, and types openpyxl does not know
        # keep their text.
        return text
