"""Rows, and the reader classes that every format builds on.

A format's reader only turns its file into numbered lists of cells
(:meth:`TableReader.read_cells`); this module does the rest the same way
for every format: the data range, the header row, blank rows, the row cap
and the keys of :attr:`Row.values`.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import chain, repeat
from typing import IO, Any, ClassVar, NamedTuple

from formats.errors import CellError, FormatError, HeaderError, LimitError, ParseError
from formats.errors import gettext as _

__all__ = [
    "BrokenCell",
    "Reader",
    "Row",
    "TableReader",
    "column_letter",
    "is_blank",
    "make_row",
]

_NONES = repeat(None)


@dataclass(frozen=True, slots=True)
class BrokenCell:
    """A cell that cannot be read, reported only if the cell is in the range.

    A spreadsheet reader yields this in place of a value (an ``#DIV/0!``
    cell, a formula never computed); :class:`TableReader` raises
    :class:`CellError` when the cell lies in the header or a data row, so a
    broken cell in a logo block or a totals row left out costs nothing.

    Attributes:
        reason: The translated message, without the place.
    """

    reason: str


class Row(NamedTuple):
    """One record of a file.

    A named tuple rather than a dataclass: readers of millions of rows make
    one per row, and a tuple is built in C at a third of the cost of a
    frozen dataclass. It compares equal to a plain tuple of its fields.

    Attributes:
        number: The row as a person counts it in that file: for delimited
            text the physical line where the record starts (1-based,
            header line included); for spreadsheets the sheet's row
            number; for JSON the position of the object (JSON) or its line
            (JSON Lines).
        values: Header name to value; without a header, column number
            (``int``, 1-based) or letter to value.
        sheet: Sheet name; ``None`` for formats without sheets.
    """

    number: int
    values: dict
    sheet: str | None = None


# tuple.__new__ skips the Python __new__ that a named tuple's constructor
# runs to fill in defaults.
_tuple_new = tuple.__new__


def make_row(number: int, values: dict, sheet: str | None) -> Row:
    """Build a :class:`Row` faster than its constructor; same result.

    Args:
        number: See :attr:`Row.number`.
        values: See :attr:`Row.values`.
        sheet: See :attr:`Row.sheet`.

    Returns:
        The row.
    """
    return _tuple_new(Row, (number, values, sheet))


def column_letter(number: int) -> str:
    """Return the spreadsheet letters of a 1-based column number.

    Args:
        number: Column number, 1 for ``A``.

    Returns:
        ``"A"`` to ``"Z"``, then ``"AA"`` and so on.
    """
    letters = ""
    while number > 0:
        number, remainder = divmod(number - 1, 26)
        letters = chr(ord("A") + remainder) + letters
    return letters


def is_blank(cells: Iterable[object]) -> bool:
    """Tell whether every cell is ``None`` or text of spaces only.

    Args:
        cells: Cell values.

    Returns:
        ``True`` for a row with nothing in it, including an empty row.
    """
    for value in cells:
        if value is not None and (not isinstance(value, str) or value.strip()):
            return False
    return True


def _check_number(option: str, value: object, *, allow_none: bool = True) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        message = _(
            "The option %(option)s must be a whole number from 1, not %(value)r."
        )
        raise FormatError(message % {"option": option, "value": value})


class Reader:
    """Base of every reader: iteration, ``columns`` and the common options.

    A reader is an iterator of :class:`Row`; it reads its file as it goes
    and never holds the whole file. It does not close the file object it
    was given; :meth:`close` releases what the reader itself opened.

    Args:
        fileobj: A binary file object open for reading.
        name: File name used in messages; ``None`` leaves it out.
        first_row: First row number (1-based, inclusive) of the data
            range; ``None`` starts at the top.
        last_row: Last row number (inclusive) of the data range; ``None``
            reads to the end.
        stop_at_blank: Stop at the first blank row after the header.
        skip_blank: Leave out blank rows (ignored when ``stop_at_blank``).
        max_rows: Most data rows allowed; one more raises
            :class:`LimitError`. ``None`` means no cap.

    Raises:
        FormatError: If an option is out of range.
    """

    format_name: ClassVar[str] = ""

    def __init__(
        self,
        fileobj: IO[bytes],
        *,
        name: str | None = None,
        first_row: int | None = None,
        last_row: int | None = None,
        stop_at_blank: bool = False,
        skip_blank: bool = True,
        max_rows: int | None = None,
    ) -> None:
        for option, value in (("first_row", first_row), ("last_row", last_row)):
            _check_number(option, value)
        if first_row is not None and last_row is not None and last_row < first_row:
            message = _(
                "The option last_row (%(last)d) is before first_row (%(first)d)."
            )
            raise FormatError(message % {"last": last_row, "first": first_row})
        if max_rows is not None and (not isinstance(max_rows, int) or max_rows < 0):
            message = _("The option max_rows must be a whole number, not %(value)r.")
            raise FormatError(message % {"value": max_rows})
        self.fileobj = fileobj
        self.name = name
        self.first_row = first_row or 1
        self.last_row = last_row
        self.stop_at_blank = stop_at_blank
        self.skip_blank = skip_blank
        self.max_rows = max_rows
        self.sheet_name: str | None = None
        self._columns: list = []
        self._columns_known = False
        self._rows: Iterator[Row] | None = None
        self._pending: list[Row] = []
        self._count = 0

    @property
    def columns(self) -> list:
        """The column keys, reading the header first if need be.

        Returns:
            Header names in file order, or column numbers or letters for a
            file without a header (known after its first data row). Empty
            for an empty file.

        Raises:
            FormatError: If reading up to the header fails.
        """
        if not self._columns_known:
            row = next(self._iterator(), None)
            if row is not None:
                self._pending.append(row)
        return list(self._columns)

    def column_key(self, name: object) -> object:
        """Find the key of a column, ignoring surrounding spaces and case.

        Args:
            name: A header name such as ``" product name "``, or a column
                number or letter for a file without a header.

        Returns:
            The key as used in :attr:`Row.values`, such as ``"Product Name"``.

        Raises:
            HeaderError: If no column matches.
        """
        columns = self.columns
        if name in columns and not isinstance(name, str):
            return name
        wanted = str(name).strip().casefold()
        for key in columns:
            if str(key).strip().casefold() == wanted:
                return key
        message = _("No column is named %(name)r; the columns are: %(columns)s.")
        shown = ", ".join(str(key) for key in columns) or "-"
        raise HeaderError(message % {"name": name, "columns": shown}, file=self.name)

    def __iter__(self) -> Iterator[Row]:
        # The rows' own generator, once no row waits, saves a Python call
        # per row; next(reader) still takes rows from the same generator.
        return self if self._pending else self._iterator()

    def __next__(self) -> Row:
        if self._pending:
            return self._pending.pop(0)
        return next(self._iterator())

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Release what the reader opened; the caller's file stays open."""

    def read_rows(self) -> Iterator[Row]:
        """Yield the rows of the file; subclasses implement this.

        Returns:
            An iterator of :class:`Row`.
        """
        raise NotImplementedError

    def error(
        self, cls: type[FormatError], message: str, **place: object
    ) -> FormatError:
        """Build an error of ``cls`` placed in this reader's file and sheet.

        Args:
            cls: The error class.
            message: The translated, filled-in message.
            **place: ``row`` and ``column``.

        Returns:
            The error, to be raised by the caller.
        """
        return cls(message, file=self.name, sheet=self.sheet_name, **place)

    def count_row(self, number: int) -> None:
        """Count one more data row and enforce :attr:`max_rows`.

        Args:
            number: The row's number, for the message.

        Raises:
            LimitError: If the row is one past :attr:`max_rows`.
        """
        self._count += 1
        if self.max_rows is not None and self._count > self.max_rows:
            message = _("The file has more than %(limit)d rows, the most allowed.")
            raise self.error(LimitError, message % {"limit": self.max_rows}, row=number)

    def _iterator(self) -> Iterator[Row]:
        if self._rows is None:
            self._rows = self.read_rows()
        return self._rows


class TableReader(Reader):
    """Base of readers of grids of cells (delimited text, spreadsheets).

    Subclasses implement :meth:`read_cells`; this class applies the data
    range, finds the header and builds :attr:`Row.values`.

    Args:
        fileobj: A binary file object open for reading.
        header: ``True`` when the first non-blank row of the range is the
            header; a 1-based row number to name the header row; ``False``
            when there is no header.
        first_column: First column (1-based, inclusive) of the data range;
            ``None`` starts at the first.
        last_column: Last column (inclusive); ``None`` reads to the last.
        column_names: Keys of a file without a header: ``"numbers"`` (1, 2,
            ...) or ``"letters"`` (``"A"``, ``"B"``, ...); numbers keep their
            position in the file even when ``first_column`` is set.
        strict: Raise :class:`ParseError` for a row with a value outside
            the header's columns (and, for delimited text, for a row with
            another number of fields than the header).
        **options: The options of :class:`Reader`.

    Header names lose their surrounding spaces. An empty name between
    named columns, or a name used twice (ignoring case), raises
    :class:`HeaderError`; empty names after the last named column end the
    table. A row shorter than the header gives ``None`` for the missing
    columns; a value to the right of the header is kept under its column
    number (``int``) unless ``strict`` is set.
    """

    fixed_width: ClassVar[bool] = False
    # False for a format that never yields a BrokenCell, to skip the check.
    broken_cells: ClassVar[bool] = True
    column_label: ClassVar[str] = "number"

    def __init__(
        self,
        fileobj: IO[bytes],
        *,
        header: bool | int = True,
        first_column: int | None = None,
        last_column: int | None = None,
        column_names: str = "numbers",
        strict: bool = False,
        **options: Any,
    ) -> None:
        super().__init__(fileobj, **options)
        if not isinstance(header, bool):
            _check_number("header", header, allow_none=False)
        for option, value in (
            ("first_column", first_column),
            ("last_column", last_column),
        ):
            _check_number(option, value)
        if first_column and last_column and last_column < first_column:
            message = _(
                "The option last_column (%(last)d) is before first_column (%(first)d)."
            )
            raise FormatError(message % {"last": last_column, "first": first_column})
        if column_names not in ("numbers", "letters"):
            message = _(
                "The option column_names must be 'numbers' or 'letters', not %(value)r."
            )
            raise FormatError(message % {"value": column_names})
        self.header = header
        self.first_column = first_column or 1
        self.last_column = last_column
        self.column_names = column_names
        self.strict = strict
        self.range_ended = False
        self._header_width = 0

    def read_cells(self) -> Iterator[tuple[int, list]]:
        """Yield ``(row number, cells)`` pairs; subclasses implement this.

        Returns:
            An iterator of row numbers (increasing) and cell values from
            column 1.
        """
        raise NotImplementedError

    def read_rows(self) -> Iterator[Row]:
        """Yield the data rows of the range, keyed by the header.

        Returns:
            An iterator of :class:`Row`.

        Raises:
            HeaderError: If the header row is missing or its names are not
                usable.
            ParseError: If ``strict`` and a row does not fit the header.
            LimitError: If there are more than ``max_rows`` rows.
        """
        rows = iter(self.read_cells())
        keys = self._find_header(rows) if self.header else []
        if keys is not None:
            yield from self.data_rows(rows, keys)
        self._columns_known = True

    def data_rows(self, rows: Iterable[tuple[int, list]], keys: list) -> Iterator[Row]:
        """Yield the rows of numbered cells that follow the header.

        A reader that reads its data rows in batches hands each batch here
        when the batch needs checks row by row; the count of rows, the
        column keys and the end of the range carry over between calls.

        Args:
            rows: ``(row number, cells)`` pairs after the header, in order.
            keys: The column keys; for a file without a header, empty
                until the first data row sets them.

        Returns:
            An iterator of :class:`Row`; :attr:`range_ended` is ``True``
            once it has stopped at the end of the range or at a blank row
            (``stop_at_blank``).

        Raises:
            ParseError: If ``strict`` and a row does not fit the header.
            LimitError: If there are more than ``max_rows`` rows.
        """
        # This loop runs once per row of files of millions of rows: the
        # options are read once, and a row no wider than the header takes
        # the shortest path; wider rows, and strict reading, go to _values.
        last_row = sys.maxsize if self.last_row is None else self.last_row
        first_row, sheet, width = self.first_row, self.sheet_name, len(keys)
        sliced = self.first_column > 1 or self.last_column is not None
        broken = self.broken_cells
        counted = self.max_rows is not None
        plain = not self.strict
        known = self._columns_known
        tuple_new = _tuple_new
        for number, cells in rows:
            if number > last_row:
                self.range_ended = True
                break
            if number < first_row:
                continue
            if sliced:
                cells = self._slice(cells)
            # Comparing types in C finds a broken cell without a loop here.
            if broken and BrokenCell in map(type, cells):
                self._check_cells(cells, number)
            # Most rows start with a filled cell, which settles it quickly.
            first = cells[0] if cells else None
            if (not first or (first.__class__ is str and first.isspace())) and (
                is_blank(cells)
            ):
                if self.stop_at_blank:
                    self.range_ended = True
                    break
                if self.skip_blank:
                    continue
            if not known:
                keys = self._number_columns(cells)
                width, known = len(keys), True
            if counted:
                self.count_row(number)
            if plain and len(cells) == width:
                values = dict(zip(keys, cells))
            elif plain and len(cells) < width:
                # A short row gets None for its missing columns.
                values = dict(zip(keys, chain(cells, _NONES)))
            else:
                values = self._values(keys, cells, number)
            yield tuple_new(Row, (number, values, sheet))

    def label(self, index: int) -> str:
        """Name the column at ``index`` of the range for a message.

        Args:
            index: 0-based position in the data range.

        Returns:
            A letter for spreadsheets, a number for text formats.
        """
        number = self.first_column + index
        return column_letter(number) if self.column_label == "letter" else str(number)

    def _find_header(self, rows: Iterator[tuple[int, list]]) -> list | None:
        header_row = None if self.header is True else self.header
        for number, cells in rows:
            if self.last_row is not None and number > self.last_row:
                break
            if header_row is not None:
                if number < header_row:
                    continue
                if number > header_row:
                    break
            elif number < self.first_row:
                continue
            cells = self._slice(cells)
            self._check_cells(cells, number)
            if not is_blank(cells):
                return self._read_header(cells, number)
            if header_row is not None:
                break
        if header_row is not None:
            message = _("The header row %(row)d is empty or missing.")
            raise self.error(HeaderError, message % {"row": header_row}, row=header_row)
        return None

    def _set_columns(self, keys: list) -> None:
        self._columns = list(keys)
        self._columns_known = True

    def _slice(self, cells: Sequence) -> list:
        cells = list(cells[self.first_column - 1 : self.last_column])
        if not self.fixed_width:
            while cells and cells[-1] is None:
                cells.pop()
        return cells

    def _check_cells(self, cells: list, number: int) -> None:
        for index, value in enumerate(cells):
            if isinstance(value, BrokenCell):
                label = self.label(index)
                raise self.error(CellError, value.reason, row=number, column=label)

    def _number_columns(self, cells: list) -> list:
        # Without a header, the first data row sets the width, less its
        # trailing empty cells.
        width = len(cells)
        if not self.fixed_width:
            while width and cells[width - 1] is None:
                width -= 1
        self._header_width = width
        keys = [self._key(index) for index in range(width)]
        self._set_columns(keys)
        return keys

    def _key(self, index: int) -> object:
        number = self.first_column + index
        return column_letter(number) if self.column_names == "letters" else number

    def _read_header(self, cells: list, number: int) -> list:
        names = ["" if value is None else str(value).strip() for value in cells]
        self._header_width = len(names)
        while names and not names[-1]:
            names.pop()
        seen: dict[str, int] = {}
        for index, name in enumerate(names):
            if not name:
                message = _("The header leaves column %(column)s without a name.")
                label = self.label(index)
                raise self.error(HeaderError, message % {"column": label}, row=number)
            folded = name.casefold()
            if folded in seen:
                message = _(
                    "The header names %(name)r twice "
                    "(columns %(first)s and %(second)s)."
                )
                first, second = self.label(seen[folded]), self.label(index)
                filled = message % {"name": name, "first": first, "second": second}
                raise self.error(HeaderError, filled, row=number)
            seen[folded] = index
        self._set_columns(names)
        return names

    def _values(self, keys: list, cells: list, number: int) -> dict:
        width = len(keys)
        if self.strict and self.fixed_width and len(cells) != self._header_width:
            message = _(
                "Expected %(expected)d fields as in the header, found %(found)d."
            )
            found = {"expected": self._header_width, "found": len(cells)}
            raise self.error(ParseError, message % found, row=number)
        values = {
            key: cells[i] if i < len(cells) else None for i, key in enumerate(keys)
        }
        for index in range(width, len(cells)):
            value = cells[index]
            if value is None or value == "":
                continue
            if self.strict:
                message = _("A value lies outside the header's columns: %(value)r.")
                label = self.label(index)
                raise self.error(
                    ParseError, message % {"value": value}, row=number, column=label
                )
            values[self.first_column + index if self.header else self._key(index)] = (
                value
            )
        return values
