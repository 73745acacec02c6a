"""Excel workbooks (XLSX), read and written as streams.

Reading takes the workbook's sheet list and styles from openpyxl, which
parses that XML with ``defusedxml`` (a dependency of this package), and
parses the sheet and its shared strings with :mod:`formats.xlsx_sheet`,
which refuses any document type declaration; entity tricks such as
"billion laughs" raise :class:`ParseError` either way. Writing uses
openpyxl's write-only mode.
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
from xml.parsers.expat import ExpatError

import openpyxl
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ERROR_CODES, ILLEGAL_CHARACTERS_RE
from openpyxl.reader.excel import ExcelReader
from openpyxl.styles.numbers import BUILTIN_FORMATS
from openpyxl.styles.stylesheet import apply_stylesheet
from openpyxl.utils.exceptions import InvalidFileException
from openpyxl.xml.constants import SHARED_STRINGS

from formats.base import TableReader
from formats.errors import CellError, FormatError, LimitError, ParseError
from formats.errors import gettext as _
from formats.writers import Writer, escape_formula
from formats.xlsx_sheet import SheetParser, read_shared_strings

__all__ = ["XlsxReader", "XlsxWriter", "find_sheet"]

MAX_UNPACKED_BYTES = 512 * 1024 * 1024
MAX_ROWS = 1_048_576
MAX_COLUMNS = 16_384
MAX_TEXT_CHARS = 32_767
_STORABLE = (int, float, Decimal, datetime.date, datetime.time, datetime.timedelta)
# Values that openpyxl stores as they are, with no check of ours.
_PLAIN = frozenset(
    {type(None), int, float, bool, Decimal, datetime.date, datetime.timedelta}
)
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
    ExpatError,
)


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


def find_sheet(titles: list[str], sheet: str | int | None, name: str | None) -> int:
    """Find a sheet by name or position.

    Args:
        titles: The workbook's sheet names, in order.
        sheet: Sheet name (exact, else ignoring case and surrounding
            spaces), 1-based position, or ``None`` for the first sheet.
        name: File name used in messages.

    Returns:
        The sheet's 0-based index in ``titles``.

    Raises:
        FormatError: If there is no such sheet; the message lists them.
    """
    if sheet is None and titles:
        return 0
    if isinstance(sheet, int) and not isinstance(sheet, bool):
        if 1 <= sheet <= len(titles):
            return sheet - 1
    elif isinstance(sheet, str):
        if sheet in titles:
            return titles.index(sheet)
        folded = [title.strip().casefold() for title in titles]
        if sheet.strip().casefold() in folded:
            return folded.index(sheet.strip().casefold())
    message = _("The workbook has no sheet %(sheet)r; its sheets are %(sheets)s.")
    shown = ", ".join(repr(title) for title in titles) or "-"
    raise FormatError(message % {"sheet": sheet, "sheets": shown}, file=name)


class XlsxReader(TableReader):
    """Read one sheet of an XLSX workbook as it streams.

    Values are those of openpyxl's read-only mode: text, ``int`` (a whole
    ``float`` becomes ``int``), ``float``, ``bool``, ``datetime`` (``date``
    when the cell's number format shows no time and the time is midnight),
    ``time``, ``timedelta``; an empty cell is ``None``. Dates follow the
    workbook's date system, 1900 or 1904. A formula gives its cached value.
    Only the sheet that is read is parsed, once.

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
    are skipped, so the bogus size some files declare costs nothing. The
    workbook's shared-string table (where Excel keeps every distinct text)
    is held in memory while the sheet is read; a sheet of a million
    distinct texts of 20 characters needs about 80 MB for it.
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
        self._archive: zipfile.ZipFile | None = None

    def close(self) -> None:
        """Close the workbook's archive; the caller's file stays open."""
        if self._archive is not None:
            self._archive.close()
            self._archive = None

    def read_cells(self) -> Iterator[tuple[int, list]]:
        """Yield ``(row number, values)`` for each row stored in the sheet.

        Returns:
            An iterator of the sheet's rows that hold cells.
        """
        fileobj = _seekable(self.fileobj, self.max_unpacked_bytes, self.name)
        _check_unpacked_size(fileobj, self.max_unpacked_bytes, self.name)
        try:
            parser, path = self._open(fileobj)
            with self._archive.open(path) as source:
                yield from parser.rows(source)
        except FormatError as error:
            raise error.at(file=self.name, sheet=self.sheet_name) from None
        except _DAMAGE as error:
            message = _("The workbook is damaged or not an XLSX file: %(detail)s")
            detail = {"detail": f"{type(error).__name__}: {error}"[:200]}
            raise self.error(ParseError, message % detail) from error
        finally:
            self.close()

    def _open(self, fileobj: IO[bytes]) -> tuple[SheetParser, str]:
        # openpyxl's load_workbook would read every sheet once to find its
        # size when the sheet does not state it; only the parts that the
        # values need are read here: the workbook, the styles and the
        # shared strings.
        reader = ExcelReader(fileobj, read_only=True, data_only=True, keep_links=False)
        self._archive = reader.archive
        reader.read_manifest()
        reader.read_workbook()
        workbook = reader.wb
        apply_stylesheet(reader.archive, workbook)
        sheets = [
            (sheet.name, link.target)
            for sheet, link in reader.parser.find_sheets()
            if link.target in reader.valid_files and "chartsheet" not in link.Type
        ]
        titles = [title for title, _path in sheets]
        self.sheet_name, path = sheets[find_sheet(titles, self.sheet, self.name)]
        parser = SheetParser(
            self._shared_strings(reader),
            epoch=workbook.epoch,
            date_styles=workbook._date_formats,
            duration_styles=workbook._timedelta_formats,
            date_only_styles=_date_only_styles(workbook),
            last_column=self.last_column or MAX_COLUMNS,
        )
        return parser, path

    def _shared_strings(self, reader: ExcelReader) -> list[str]:
        part = reader.package.find(SHARED_STRINGS)
        if part is None:
            return []
        with self._archive.open(part.PartName[1:]) as source:
            return read_shared_strings(source)


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
            value if value.__class__ in _PLAIN else self._cell(value, number, column)
            for value, column in zip(cells, self.columns)
        ]
        self._sheet.append(row)

    def finish(self) -> None:
        """Build the workbook into the file object."""
        self._workbook.save(self.fileobj)

    def _cell(self, value: object, number: int, column: str) -> object:
        if isinstance(value, str):
            return self._text(value, number, column)
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

    def _text(self, value: str, number: int, column: str) -> object:
        if len(value) > MAX_TEXT_CHARS:
            message = _("A cell holds at most %(limit)d characters, not %(count)d.")
            filled = message % {"limit": MAX_TEXT_CHARS, "count": len(value)}
            raise self._error(CellError, filled, number, column)
        if ILLEGAL_CHARACTERS_RE.search(value):
            message = _(
                "The text %(text)r holds control characters that XLSX cannot store."
            )
            raise self._error(CellError, message % {"text": value[:40]}, number, column)
        if value in ERROR_CODES or (len(value) > 1 and value.startswith("=")):
            # openpyxl would store this text as an error code or a formula;
            # a cell of type "s" keeps it text.
            cell = WriteOnlyCell(self._sheet, value=value)
            cell.data_type = "s"
            return cell
        return value

    def _error(self, cls: type, message: str, number: int, column: str) -> FormatError:
        return cls(
            message, file=self.name, sheet=self._sheet.title, row=number, column=column
        )
