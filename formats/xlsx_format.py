"""Excel workbooks (XLSX), read and written as streams with openpyxl.

Reading uses openpyxl's read-only mode, which parses a sheet's XML as it
goes; openpyxl parses XML with ``defusedxml`` when it is installed (it is a
dependency of this package), so entity tricks such as "billion laughs"
raise :class:`ParseError`.
"""

from __future__ import annotations

import datetime
import re
import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from decimal import Decimal
from typing import IO, Any

import openpyxl
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles.numbers import BUILTIN_FORMATS
from openpyxl.utils.exceptions import IllegalCharacterError, InvalidFileException
from openpyxl.worksheet._reader import FORMULA_TAG, VALUE_TAG, WorkSheetParser

from formats.base import BrokenCell, TableReader
from formats.errors import CellError, FormatError, LimitError, ParseError
from formats.errors import gettext as _
from formats.writers import Writer, escape_formula

__all__ = ["XlsxReader", "XlsxWriter", "open_sheet"]

MAX_UNPACKED_BYTES = 512 * 1024 * 1024
MAX_ROWS = 1_048_576
MAX_COLUMNS = 16_384
MAX_TEXT_CHARS = 32_767
_STORABLE = (int, float, Decimal, datetime.date, datetime.time, datetime.timedelta)
_TIME_PART = re.compile(r"[hs]|am/pm|a/p", re.IGNORECASE)
_FORMAT_NOISE = re.compile(r'"[^"]*"|\[[^\]]*\]|\\.')
# Errors that openpyxl, zipfile and the XML parser raise on damaged files.
_DAMAGE = (
    KeyError,
    ValueError,
    TypeError,
    IndexError,
    AttributeError,
    EOFError,
    OSError,
    SyntaxError,
    zipfile.BadZipFile,
    zlib.error,
    InvalidFileException,
    NotImplementedError,
)


_NO_VALUE = {"row": 0, "column": 0, "value": None, "data_type": "n", "style_id": 0}


class _CachedValueParser(WorkSheetParser):
    """Openpyxl's sheet parser that also tells an uncomputed formula.

    With ``data_only`` openpyxl gives a formula's cached value and ``None``
    when the file has none, the same as an empty cell. Looking at the cell's
    XML once more here costs a lookup per cell, where opening the file a
    second time without ``data_only`` would parse the sheet twice.
    """

    def parse_cell(self, element: Any) -> dict:
        """Parse a ``<c>`` element as openpyxl does; mark uncached formulas.

        Args:
            element: The cell's XML element.

        Returns:
            openpyxl's cell dict; ``data_type`` is ``"uncached"`` for a
            formula saved without a result, and a text formula saved with an
            empty result has the value ``""``.
        """
        if len(element) == 0 and "r" in element.attrib:
            # A cell that is only styled: no value, no formula. Skipping
            # openpyxl's work here makes styled empty rows cheap.
            return _NO_VALUE
        cell = super().parse_cell(element)
        if cell["value"] is None and element.find(FORMULA_TAG) is not None:
            if element.get("t") == "str" and element.find(VALUE_TAG) is not None:
                cell["value"] = ""
            else:
                cell["data_type"] = "uncached"
        return cell


def _date_only_styles(workbook: Any) -> set[int]:
    # openpyxl knows which styles show dates; a date without a time part in
    # its number format reads as a date, not as a datetime at midnight.
    styles = set()
    for style_id in workbook._date_formats:
        format_id = workbook._cell_styles[style_id].numFmtId
        if format_id in BUILTIN_FORMATS:
            pattern = BUILTIN_FORMATS[format_id]
        else:
            pattern = workbook._number_formats[format_id - 164]
        if not _TIME_PART.search(_FORMAT_NOISE.sub("", pattern)):
            styles.add(style_id)
    return styles


def _check_unpacked_size(fileobj: IO[bytes], limit: int, name: str | None) -> None:
    try:
        archive = zipfile.ZipFile(fileobj)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as error:
        message = _("The file is not an XLSX workbook (it is not a zip archive).")
        raise ParseError(message, file=name) from error
    with archive:
        total = sum(member.file_size for member in archive.infolist())
    # zipfile stops at the declared size of a member and fails its checksum
    # if the data is longer, so the declared sizes can be trusted.
    if total > limit:
        message = _(
            "The workbook unpacks to %(size)d bytes, more than the limit of %(limit)d."
        )
        raise LimitError(message % {"size": total, "limit": limit}, file=name)
    fileobj.seek(0)


def _seekable(fileobj: IO[bytes], limit: int, name: str | None) -> IO[bytes]:
    seekable = getattr(fileobj, "seekable", None)
    if seekable is not None and seekable():
        fileobj.seek(0)
        return fileobj
    copy = tempfile.SpooledTemporaryFile(max_size=32 * 1024 * 1024)
    shutil.copyfileobj(fileobj, copy)
    if copy.tell() > limit:
        message = _("The file is larger than the limit of %(limit)d bytes.")
        raise LimitError(message % {"limit": limit}, file=name)
    copy.seek(0)
    return copy


def open_sheet(workbook: Any, sheet: str | int | None, name: str | None) -> Any:
    """Find a worksheet by name or position.

    Args:
        workbook: An openpyxl workbook.
        sheet: Sheet name (exact, else ignoring case and surrounding
            spaces), 1-based position, or ``None`` for the first sheet.
        name: File name used in messages.

    Returns:
        The worksheet.

    Raises:
        FormatError: If there is no such sheet; the message lists them.
    """
    sheets = workbook.worksheets
    if sheet is None and sheets:
        return sheets[0]
    if isinstance(sheet, int) and not isinstance(sheet, bool):
        if 1 <= sheet <= len(sheets):
            return sheets[sheet - 1]
    elif isinstance(sheet, str):
        for worksheet in sheets:
            if worksheet.title == sheet:
                return worksheet
        for worksheet in sheets:
            if worksheet.title.strip().casefold() == sheet.strip().casefold():
                return worksheet
    message = _("The workbook has no sheet %(sheet)r; its sheets are %(sheets)s.")
    titles = ", ".join(repr(worksheet.title) for worksheet in sheets) or "-"
    raise FormatError(message % {"sheet": sheet, "sheets": titles}, file=name)


class XlsxReader(TableReader):
    """Read one sheet of an XLSX workbook as it streams.

    Values are openpyxl's: text, ``int`` (a whole ``float`` becomes
    ``int``), ``float``, ``bool``, ``datetime`` (``date`` when the cell's
    number format shows no time and the time is midnight), ``time``,
    ``timedelta``; an empty cell is ``None``. Dates follow the workbook's
    date system, 1900 or 1904. A formula gives its cached value.

    Args:
        fileobj: A binary file object open for reading; a file that cannot
            seek is first copied to a temporary file.
        sheet: Sheet name or 1-based position; ``None`` reads the first.
        max_unpacked_bytes: Largest total size of the unpacked archive.
        **options: The options of :class:`formats.base.TableReader`.

    Raises:
        ParseError: If the file is not a readable workbook.
        LimitError: If it unpacks to more than ``max_unpacked_bytes``.
        CellError: For an error cell (``#DIV/0!``, ``#N/A``...) or a
            formula without a cached value in the header or a data row.

    Limitation: a merged cell gives its value to its top-left cell only;
    the other cells of the merge read as empty. Cells that are only styled
    are skipped, so the bogus size some files declare costs nothing.
    """

    format_name = "xlsx"
    column_label = "letter"

    def __init__(
        self,
        fileobj: IO[bytes],
        *,
        sheet: str | int | None = None,
        max_unpacked_bytes: int = MAX_UNPACKED_BYTES,
        **options: Any,
    ) -> None:
        super().__init__(fileobj, **options)
        self.sheet = sheet
        self.max_unpacked_bytes = max_unpacked_bytes
        self._workbook: Any = None

    def close(self) -> None:
        """Close the workbook's archive; the caller's file stays open."""
        if self._workbook is not None:
            self._workbook.close()
            self._workbook = None

    def read_cells(self) -> Iterator[tuple[int, list]]:
        """Yield ``(row number, values)`` for each row stored in the sheet.

        Returns:
            An iterator of the sheet's rows that hold cells.
        """
        fileobj = _seekable(self.fileobj, self.max_unpacked_bytes, self.name)
        _check_unpacked_size(fileobj, self.max_unpacked_bytes, self.name)
        try:
            self._workbook = openpyxl.load_workbook(
                fileobj, read_only=True, data_only=True, keep_links=False
            )
            worksheet = open_sheet(self._workbook, self.sheet, self.name)
            self.sheet_name = worksheet.title
            date_only = _date_only_styles(self._workbook)
            yield from self._sheet_rows(worksheet, date_only)
        except FormatError:
            raise
        except _DAMAGE as error:
            message = _("The workbook is damaged or not an XLSX file: %(detail)s")
            detail = {"detail": f"{type(error).__name__}: {error}"[:200]}
            raise self.error(ParseError, message % detail) from error
        finally:
            self.close()

    def _sheet_rows(
        self, worksheet: Any, date_only: set[int]
    ) -> Iterator[tuple[int, list]]:
        # openpyxl's read-only worksheet pads every row to the sheet's
        # declared size, which some programs set to a million rows; its
        # parser, used directly, yields only the cells the file stores.
        workbook = self._workbook
        with worksheet._get_source() as source:
            parser = _CachedValueParser(
                source,
                worksheet._shared_strings,
                data_only=True,
                epoch=workbook.epoch,
                date_formats=workbook._date_formats,
                timedelta_formats=workbook._timedelta_formats,
            )
            yield from self._parse(parser, date_only)

    def _parse(self, parser: Any, date_only: set[int]) -> Iterator[tuple[int, list]]:
        limit = self.last_column or MAX_COLUMNS
        for number, cells in parser.parse():
            values: list = []
            for cell in cells:
                column = cell["column"]
                if cell["value"] is None and cell["data_type"] != "uncached":
                    continue
                if column > limit:
                    continue
                if column > len(values):
                    values.extend([None] * (column - len(values)))
                values[column - 1] = _value(cell, date_only)
            yield number, values


def _value(cell: dict, date_only: set[int]) -> object:
    value, data_type = cell["value"], cell["data_type"]
    if data_type == "e":
        message = _("The cell holds the error %(error)s.")
        return BrokenCell(message % {"error": value})
    if data_type == "uncached":
        return BrokenCell(
            _(
                "The cell holds a formula whose result was never saved; "
                "open and save the file in a spreadsheet to compute it."
            )
        )
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, datetime.datetime) and cell["style_id"] in date_only:
        if value.time() == datetime.time(0):
            return value.date()
    return value


class XlsxWriter(Writer):
    """Write one sheet of an XLSX workbook with openpyxl's write-only mode.

    Rows go to a temporary file as they are written; :meth:`close` builds
    the workbook into ``fileobj``.

    Args:
        fileobj: A binary file object open for writing.
        columns: Column names, in order.
        header: Write the column names as the first row.
        sheet: Sheet name.
        **options: ``name`` and ``escape_formulas`` of
            :class:`formats.base.Writer`.

    Text is always stored as text, never as a formula or an error code,
    even with ``escape_formulas=False``; that option only leaves out the
    single quote. ``Decimal`` is stored as a number and reads back as
    ``float`` or ``int``.

    Raises:
        FormatError: If the sheet name is not allowed.
        CellError: If a value cannot be stored (a list, a time-zone-aware
            datetime, text with control characters or over 32,767
            characters).
        LimitError: Past 1,048,576 rows or 16,384 columns.
    """

    format_name = "xlsx"

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
            message = _("A sheet holds at most %(limit)d columns, not %(count)d.")
            filled = message % {"limit": MAX_COLUMNS, "count": len(self.columns)}
            raise LimitError(filled, file=self.name)
        self._workbook = openpyxl.Workbook(write_only=True)
        try:
            self._sheet = self._workbook.create_sheet(title=sheet)
        except ValueError as error:
            message = _("%(sheet)r cannot name a sheet: %(detail)s")
            raise FormatError(
                message % {"sheet": sheet, "detail": error}, file=self.name
            ) from error
        if header:
            self.first_data_row = 2
            names = list(self.columns)
            if self.escape_formulas:
                names = [escape_formula(name) for name in names]
            self.write_cells(names, 1)

    def write_cells(self, cells: list, number: int) -> None:
        """Append one row to the sheet.

        Args:
            cells: Values in column order.
            number: The row's number in the sheet.
        """
        if number > MAX_ROWS:
            message = _("A sheet holds at most %(limit)d rows.")
            raise LimitError(message % {"limit": MAX_ROWS}, file=self.name, row=number)
        row = [
            self._cell(value, number, column)
            for value, column in zip(cells, self.columns)
        ]
        self._sheet.append(row)

    def finish(self) -> None:
        """Build the workbook into the file object."""
        self._workbook.save(self.fileobj)

    def _cell(self, value: object, number: int, column: str) -> object:
        if isinstance(value, str):
            if len(value) > MAX_TEXT_CHARS:
                message = _("A cell holds at most %(limit)d characters, not %(count)d.")
                filled = message % {"limit": MAX_TEXT_CHARS, "count": len(value)}
                raise self._error(CellError, filled, number, column)
            try:
                cell = WriteOnlyCell(self._sheet, value=value)
            except IllegalCharacterError as error:
                message = _(
                    "The text %(text)r holds control characters that XLSX cannot store."
                )
                raise self._error(
                    CellError, message % {"text": value[:40]}, number, column
                ) from error
            cell.data_type = "s"
            return cell
        if isinstance(value, (datetime.datetime, datetime.time)) and value.tzinfo:
            message = _(
                "%(value)s has a time zone, which XLSX cannot store; convert it first."
            )
            raise self._error(CellError, message % {"value": value}, number, column)
        if value is not None and not isinstance(value, _STORABLE):
            message = _("A %(type)s cannot be stored in a cell.")
            raise self._error(
                CellError, message % {"type": type(value).__name__}, number, column
            )
        return value

    def _error(self, cls: type, message: str, number: int, column: str) -> FormatError:
        return cls(
            message, file=self.name, sheet=self._sheet.title, row=number, column=column
        )
