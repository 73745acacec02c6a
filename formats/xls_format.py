"""Excel 97-2003 workbooks (XLS), read with xlrd and written with xlwt."""

from __future__ import annotations

import datetime
import io
import re
import struct
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import IO, Any

import xlrd
import xlwt
from xlrd.compdoc import CompDocError
from xlrd.xldate import XLDateError

from formats.base import BrokenCell, TableReader
from formats.errors import CellError, FormatError, LimitError, ParseError
from formats.errors import gettext as _
from formats.writers import Writer, escape_formula

__all__ = ["XlsReader", "XlsWriter"]

MAX_BYTES = 100 * 1024 * 1024
MAX_ROWS = 65_536
MAX_COLUMNS = 256
MAX_TEXT_CHARS = 32_767
_EMPTY = (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK)
_TEXT, _NUMBER, _DATE = xlrd.XL_CELL_TEXT, xlrd.XL_CELL_NUMBER, xlrd.XL_CELL_DATE
_MIDNIGHT = datetime.time(0)
_TIME_PART = re.compile(r"[hs]|am/pm|a/p", re.IGNORECASE)
_FORMAT_NOISE = re.compile(r'"[^"]*"|\[[^\]]*\]|\\.')
_DAMAGE = (
    xlrd.XLRDError,
    CompDocError,
    struct.error,
    AssertionError,
    KeyError,
    IndexError,
    ValueError,
    TypeError,
    AttributeError,
    OverflowError,
    UnicodeDecodeError,
    EOFError,
    OSError,
    NotImplementedError,
)


class XlsReader(TableReader):
    """Read one sheet of an XLS workbook.

    Values: text, ``int`` for whole numbers, ``float``, ``bool``,
    ``datetime`` for date cells (``date`` when the number format shows no
    time and the time is midnight, ``time`` for a time without a date),
    ``None`` for an empty cell. Dates follow the workbook's date system.

    Args:
        fileobj: A binary file object open for reading.
        sheet: Sheet name or 1-based position; ``None`` reads the first.
        max_bytes: Largest file accepted, in bytes.
        **options: The options of :class:`formats.base.TableReader`.

    Raises:
        ParseError: If the file is not a readable XLS workbook.
        LimitError: If it is larger than ``max_bytes``.
        CellError: For an error cell in the header or a data row.

    The workbook is opened with xlrd's ``formatting_info=True``: xlrd marks
    date cells without it, but keeps each cell's number format, which
    tells a date from a datetime at midnight, only with it.

    Limitation: the format forces xlrd to read the whole file and build the
    whole sheet in memory before the first row; an XLS sheet holds at most
    65,536 rows, so this stays small. A merged cell gives its value to its
    top-left cell only.
    """

    format_name = "xls"
    column_label = "letter"

    def __init__(
        self,
        fileobj: IO[bytes],
        *,
        sheet: str | int | None = None,
        max_bytes: int = MAX_BYTES,
        **options: Any,
    ) -> None:
        super().__init__(fileobj, **options)
        self.sheet = sheet
        self.max_bytes = max_bytes
        self._date_only: dict[int, bool] = {}

    def read_cells(self) -> Iterator[tuple[int, list]]:
        """Yield ``(row number, values)`` for each row of the sheet.

        Returns:
            An iterator of rows, from row 1.
        """
        data = self.fileobj.read(self.max_bytes + 1)
        if len(data) > self.max_bytes:
            message = _("The file is larger than the limit of %(limit)d bytes.")
            raise self.error(LimitError, message % {"limit": self.max_bytes})
        try:
            book = xlrd.open_workbook(
                file_contents=data,
                formatting_info=True,
                on_demand=True,
                logfile=io.StringIO(),
            )
        except _DAMAGE as error:
            raise self._damaged(error) from error
        try:
            sheet = self._open_sheet(book)
            self.sheet_name = sheet.name
            limit = self.last_column or sheet.ncols
            date = self._date_reader(book)
            for index in range(sheet.nrows):
                end = min(limit, sheet.row_len(index))
                kinds = sheet.row_types(index, 0, end)
                values = sheet.row_values(index, 0, end)
                # Text and numbers, most cells, are read without a call.
                cells = [
                    value
                    if kind == _TEXT
                    else (int(value) if value.is_integer() else value)
                    if kind == _NUMBER
                    else None
                    if kind in _EMPTY
                    else date(value, sheet, index, column)
                    if kind == _DATE
                    else self._value(kind, value)
                    for column, (kind, value) in enumerate(zip(kinds, values))
                ]
                yield index + 1, cells
        except FormatError:
            raise
        except _DAMAGE as error:
            raise self._damaged(error) from error
        finally:
            book.release_resources()

    def _damaged(self, error: Exception) -> ParseError:
        message = _("The workbook is damaged or not an XLS file: %(detail)s")
        detail = f"{type(error).__name__}: {error}"[:200]
        return self.error(ParseError, message % {"detail": detail})

    def _open_sheet(self, book: Any) -> Any:
        names = book.sheet_names()
        sheet = self.sheet
        if sheet is None and names:
            return book.sheet_by_index(0)
        if isinstance(sheet, int) and not isinstance(sheet, bool):
            if 1 <= sheet <= len(names):
                return book.sheet_by_index(sheet - 1)
        elif isinstance(sheet, str):
            folded = [title.strip().casefold() for title in names]
            if sheet in names:
                return book.sheet_by_name(sheet)
            if sheet.strip().casefold() in folded:
                return book.sheet_by_index(folded.index(sheet.strip().casefold()))
        message = _("The workbook has no sheet %(sheet)r; its sheets are %(sheets)s.")
        titles = ", ".join(repr(title) for title in names) or "-"
        raise FormatError(message % {"sheet": sheet, "sheets": titles}, file=self.name)

    def _value(self, kind: int, value: object) -> object:
        if kind == xlrd.XL_CELL_BOOLEAN:
            return bool(value)
        if kind == xlrd.XL_CELL_ERROR:
            text = xlrd.error_text_from_code.get(value, f"#{value}")
            return BrokenCell(
                _("The cell holds the error %(error)s.") % {"error": text}
            )
        return value

    def _date_reader(self, book: Any) -> Callable[[float, Any, int, int], object]:
        # A column of dates repeats the same few thousand days; each is
        # converted once per number format, and the format of a cell is
        # only looked up when its time is midnight.
        days: dict[tuple[float, bool], object] = {}
        date_only = self._date_only

        def read_date(value: float, sheet: Any, row: int, column: int) -> object:
            if not value.is_integer() or 0 <= value < 1:
                return self._date(book, value, date_only=False)
            xf_index = sheet.cell_xf_index(row, column)
            only = date_only.get(xf_index)
            if only is None:
                only = date_only[xf_index] = self._is_date_only(book, xf_index)
            found = days.get((value, only))
            if found is None:
                found = days[value, only] = self._date(book, value, date_only=only)
            return found

        return read_date

    def _date(self, book: Any, value: float, *, date_only: bool) -> object:
        try:
            moment = xlrd.xldate.xldate_as_datetime(value, book.datemode)
        except (XLDateError, OverflowError, ValueError):
            message = _("The cell is marked as a date but holds %(value)r.")
            return BrokenCell(message % {"value": value})
        if 0 <= value < 1:
            return moment.time()
        if date_only and moment.time() == _MIDNIGHT:
            return moment.date()
        return moment

    def _is_date_only(self, book: Any, xf_index: int) -> bool:
        xf = book.xf_list[xf_index]
        pattern = book.format_map[xf.format_key].format_str
        return _TIME_PART.search(_FORMAT_NOISE.sub("", pattern)) is None


class XlsWriter(Writer):
    """Write one sheet of an XLS workbook with xlwt.

    Args:
        fileobj: A binary file object open for writing.
        columns: Column names, in order (at most 256).
        header: Write the column names as the first row.
        sheet: Sheet name.
        **options: ``name`` and ``escape_formulas`` of
            :class:`formats.base.Writer`.

    Numbers are stored as 64-bit floats (``Decimal`` too), so integers
    past 2**53 lose digits; dates, datetimes and times get a number format
    that shows them.

    Raises:
        LimitError: Past 65,536 rows (the XLS limit; write XLSX instead)
            or 256 columns.
        CellError: If a value cannot be stored.

    Limitation: xlwt keeps the whole workbook in memory until
    :meth:`close`, as the format forces (about 140 MB for 65,535 rows of
    eight columns); write XLSX for large exports.
    """

    format_name = "xls"

    def __init__(
        self,
        fileobj: IO[bytes],
        *,
        columns: list[str],
        header: bool = True,
        sheet: str = "Sheet1",
        **options: Any,
    ) -> None:
        super().__init__(fileobj, columns=columns, **options)
        if len(self.columns) > MAX_COLUMNS:
            message = _("An XLS sheet holds at most %(limit)d columns, not %(count)d.")
            filled = message % {"limit": MAX_COLUMNS, "count": len(self.columns)}
            raise LimitError(filled, file=self.name)
        self._workbook = xlwt.Workbook(encoding="utf-8")
        try:
            self._sheet = self._workbook.add_sheet(sheet)
        except Exception as error:  # xlwt raises a bare Exception for names.
            message = _("%(sheet)r cannot name a sheet: %(detail)s")
            raise FormatError(
                message % {"sheet": sheet, "detail": error}, file=self.name
            ) from error
        self.sheet_name = sheet
        self._styles = {
            datetime.datetime: xlwt.easyxf(num_format_str="YYYY-MM-DD HH:MM:SS"),
            datetime.date: xlwt.easyxf(num_format_str="YYYY-MM-DD"),
            datetime.time: xlwt.easyxf(num_format_str="HH:MM:SS"),
        }
        if header:
            self.first_data_row = 2
            names = list(self.columns)
            if self.escape_formulas:
                names = [escape_formula(name) for name in names]
            self.write_cells(names, 1)

    def write_cells(self, cells: list, number: int) -> None:
        """Write one row of the sheet.

        Args:
            cells: Values in column order.
            number: The row's number in the sheet.
        """
        if number > MAX_ROWS:
            message = _(
                "An XLS sheet holds at most %(limit)d rows; write XLSX instead."
            )
            raise LimitError(message % {"limit": MAX_ROWS}, file=self.name, row=number)
        for index, (value, column) in enumerate(zip(cells, self.columns)):
            if value is not None:
                self._write(number, index, column, value)

    def finish(self) -> None:
        """Save the workbook into the file object."""
        self._workbook.save(self.fileobj)

    def _write(self, number: int, index: int, column: str, value: object) -> None:
        row = number - 1
        if isinstance(value, bool):
            self._sheet.write(row, index, value)
        elif isinstance(value, (int, float, Decimal)):
            self._sheet.write(row, index, float(value))
        elif isinstance(value, (datetime.date, datetime.time)):
            if getattr(value, "tzinfo", None) is not None:
                message = _(
                    "%(value)s has a time zone, which XLS cannot store; "
                    "convert it first."
                )
                raise self._error(message % {"value": value}, number, column)
            self._sheet.write(row, index, value, self._style(value))
        elif isinstance(value, str):
            if len(value) > MAX_TEXT_CHARS:
                message = _("A cell holds at most %(limit)d characters, not %(count)d.")
                filled = message % {"limit": MAX_TEXT_CHARS, "count": len(value)}
                raise self._error(filled, number, column)
            self._sheet.write(row, index, value)
        else:
            message = _("A %(type)s cannot be stored in a cell.")
            raise self._error(message % {"type": type(value).__name__}, number, column)

    def _style(self, value: datetime.date | datetime.time) -> Any:
        for kind in (datetime.datetime, datetime.date, datetime.time):
            if isinstance(value, kind):
                return self._styles[kind]
        return None

    def _error(self, message: str, number: int, column: str) -> CellError:
        return CellError(
            message, file=self.name, sheet=self.sheet_name, row=number, column=column
        )
