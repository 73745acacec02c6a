"""Delimited text: CSV, TSV, and dumps with multi-character separators.

Values are read as text exactly as in the file (an empty field is ``""``);
turning text into dates or numbers is the caller's job, with the help of
:mod:`formats.values`.
"""

from __future__ import annotations

import codecs
import csv
import datetime
from collections.abc import Callable, Iterable, Iterator, Sequence
from decimal import Decimal
from itertools import chain, islice, repeat
from operator import countOf, itemgetter
from types import SimpleNamespace
from typing import IO, Any

from formats.base import Row, TableReader
from formats.decoding import CHUNK_SIZE, TextSource
from formats.delimited import join_record, sniff_delimiter, split_records
from formats.errors import EncodingError, FormatError, LimitError, ParseError
from formats.errors import gettext as _
from formats.writers import FORMULA_STARTS, Writer, escape_formula

__all__ = ["CsvReader", "CsvWriter", "render_text"]

_LINE_ENDS = (None, "\n", "\r\n", "\r")
# Codecs that encode each record alone the same as in a stream.
_STATELESS = frozenset({"utf-8", "ascii", "iso8859-1", "iso8859-15", "cp1252"})
_SAMPLE_LINES = 20
# Most records taken from Python's csv at once by CsvReader.read_rows.
BATCH_ROWS = 256
_FIRST = itemgetter(0)
_NO_SHEET = repeat(None)
# tuple.__new__ builds a Row without the Python __new__ of its constructor.
_tuple_new = tuple.__new__


def _check_text_option(option: str, value: object, *, single: bool = False) -> None:
    if value is None or (
        isinstance(value, str) and value and not (single and len(value) > 1)
    ):
        return
    if single:
        message = _(
            "The option %(option)s must be one character or None, not %(value)r."
        )
    else:
        message = _(
            "The option %(option)s must be non-empty text or None, not %(value)r."
        )
    raise FormatError(message % {"option": option, "value": value})


def _raising(error: Exception) -> Iterator[str]:
    yield from ()
    raise error


def _first_lines(batch: list[list[str]], read: int) -> tuple[list[int], int]:
    # A record spans one line more than its fields hold line breaks (LF,
    # CRLF or CR: the breaks the lines were split at). The fields are
    # joined by a space so that a CR ending one and an LF starting the
    # next do not count as one CRLF.
    numbers = []
    for fields in batch:
        numbers.append(read + 1)
        text = " ".join(fields)
        read += 1 + text.count("\n") + text.count("\r") - text.count("\r\n")
    return numbers, read


class CsvReader(TableReader):
    """Read delimited text as it streams, one record at a time.

    Args:
        fileobj: A binary file object open for reading.
        encoding: Codec name such as ``"cp1252"``; ``None`` detects UTF-8
            with or without a byte order mark, UTF-16 and UTF-32 with one,
            and falls back to cp1252.
        delimiter: Field separator, of one or more characters; ``None``
            sniffs TAB, ``;``, ``|`` or ``,`` from the first 20 lines.
        record_terminator: Record terminator such as ``"&|\\n"``; ``None``
            ends records at LF, CRLF or CR. Needed for multi-character
            dialects whose fields hold line feeds.
        quotechar: Quote character; ``None`` when quotes are plain text.
        sheet: Ignored; delimited text has no sheets.
        **options: The options of :class:`formats.base.TableReader`.

    Attributes:
        encoding: The encoding used, once reading has started.
        delimiter: The delimiter used, once reading has started.

    Row numbers are physical lines: a record whose quoted field holds a
    line feed counts two lines, and the next record's number says so.

    Limitation: with one-character delimiters and no record terminator,
    Python's :mod:`csv` reads the fields, so one field may not pass 131,072
    characters (a :class:`LimitError` names the row); multi-character
    dialects allow 64 MiB per record.
    """

    format_name = "csv"
    fixed_width = True
    broken_cells = False

    def __init__(
        self,
        fileobj: IO[bytes],
        *,
        encoding: str | None = None,
        delimiter: str | None = None,
        record_terminator: str | None = None,
        quotechar: str | None = '"',
        sheet: object = None,
        **options: Any,
    ) -> None:
        super().__init__(fileobj, **options)
        _check_text_option("delimiter", delimiter)
        _check_text_option("record_terminator", record_terminator)
        _check_text_option("quotechar", quotechar, single=True)
        self.encoding = encoding
        self.delimiter = delimiter
        self.record_terminator = record_terminator
        self.quotechar = quotechar

    def read_cells(self) -> Iterator[tuple[int, list]]:
        """Yield ``(line number, fields)`` for each record.

        Returns:
            An iterator of records.

        Raises:
            EncodingError: On the line that holds undecodable bytes.
            ParseError: If the quoting is malformed.
            LimitError: If a field, line or record is too long.
        """
        lines = self._lines()
        if self._csv_reads_dialect():
            return self._numbered(self._records(lines))
        return self._read_with_splitter(lines, self.record_terminator or "\n")

    def read_rows(self) -> Iterator[Row]:
        """Yield the data rows, building the usual ones in batches.

        Records read by Python's :mod:`csv` are taken a batch at a time
        (about one chunk of text). A batch of records that each start a
        line of their own, fill every column of the header and do not
        start blank, all within the data range and the row cap, becomes
        rows without a Python step per row; any other batch goes through
        :meth:`formats.base.TableReader.data_rows` row by row. Both give
        the same rows.

        Returns:
            An iterator of :class:`formats.Row`.

        Raises:
            HeaderError: If the header row is missing or its names are not
                usable.
            ParseError: If the quoting is malformed, or ``strict`` and a
                row does not fit the header.
            EncodingError: On the line that holds undecodable bytes, after
                the rows before it.
            LimitError: If a field or line is too long, or there are more
                than ``max_rows`` rows.
        """
        sliced = self.first_column > 1 or self.last_column is not None
        if self.strict or sliced or not self._csv_reads_dialect():
            return super().read_rows()
        return chain.from_iterable(self._row_batches())

    def _lines(self) -> Iterator[str]:
        source = TextSource(self.fileobj, encoding=self.encoding, name=self.name)
        self.encoding = source.encoding
        self._chunk_lines = 64
        lines: Iterator[str] = chain.from_iterable(self._measured(source.batches()))
        if self.delimiter is None:
            lines = self._sniff(lines)
        return lines

    def _sniff(self, lines: Iterator[str]) -> Iterator[str]:
        sample: list[str] = []
        size = 0
        try:
            while len(sample) < _SAMPLE_LINES and size < CHUNK_SIZE:
                line = next(lines, None)
                if line is None:
                    break
                sample.append(line)
                size += len(line)
        except FormatError as error:
            # The rows before a bad line are still read; the error waits.
            lines = _raising(error)
        self.delimiter = sniff_delimiter(sample, self.quotechar)
        return chain(sample, lines)

    def _measured(self, batches: Iterator[list[str]]) -> Iterator[list[str]]:
        # A batch of records holds about as many records as the last chunk
        # held lines, so that a file of long records is not held whole.
        for batch in batches:
            self._chunk_lines = len(batch)
            yield batch

    def _csv_reads_dialect(self) -> bool:
        # The delimiter is sniffed, if need be, as one character.
        one_char = self.delimiter is None or len(self.delimiter) == 1
        return one_char and self.record_terminator in _LINE_ENDS

    def _records(self, lines: Iterator[str]) -> Any:
        if self.quotechar is None:
            dialect = {"quoting": csv.QUOTE_NONE}
        else:
            dialect = {"quotechar": self.quotechar, "doublequote": True}
        return csv.reader(lines, delimiter=self.delimiter, strict=True, **dialect)

    def _numbered(self, records: Any) -> Iterator[tuple[int, list]]:
        previous = records.line_num
        try:
            for fields in records:
                yield previous + 1, fields
                previous = records.line_num
        except csv.Error as error:
            raise self._csv_error(error, previous + 1) from error

    def _row_batches(self) -> Iterator[Iterable[Row]]:
        records = self._records(self._lines())
        keys = self._find_header(self._numbered(records)) if self.header else []
        if keys is None:
            self._columns_known = True
            return
        read = records.line_num
        while not self.range_ended:
            batch, error = self._take_batch(records)
            if not batch and error is None:
                break
            numbers: Sequence[int]
            if error is None and records.line_num - read == len(batch):
                # Each record is one line: the usual case, numbered at once.
                numbers = range(read + 1, records.line_num + 1)
            else:
                numbers, read = _first_lines(batch, read)
            if error is None:
                read = records.line_num
            yield self._batch_rows(batch, numbers, keys)
            if self.range_ended:
                # The row-by-row loop would have stopped before reading
                # whatever went wrong after the range.
                break
            if isinstance(error, csv.Error):
                raise self._csv_error(error, read + 1) from error
            if error is not None:
                raise error
            if self._columns_known:
                keys = self._columns
        self._columns_known = True

    def _take_batch(self, records: Any) -> tuple[list[list[str]], Exception | None]:
        batch: list[list[str]] = []
        try:
            # list.extend keeps the records it took before an error, so the
            # rows before a bad line still come first.
            batch.extend(islice(records, min(self._chunk_lines, BATCH_ROWS)))
        except (csv.Error, FormatError) as error:
            return batch, error
        return batch, None

    def _batch_rows(
        self, batch: list[list[str]], numbers: Sequence[int], keys: list
    ) -> Iterable[Row]:
        # Every check runs in C over the whole batch; a batch that fails
        # one is read row by row, which finds the row that needs care.
        width = len(keys)
        usual = (
            numbers.__class__ is range
            and width > 0
            and self._columns_known
            and numbers[0] >= self.first_row
            and (self.last_row is None or numbers[-1] <= self.last_row)
            and (self.max_rows is None or self._count + len(batch) <= self.max_rows)
            and countOf(map(len, batch), width) == len(batch)
            and all(map(str.strip, map(_FIRST, batch)))
        )
        if not usual:
            return self.data_rows(zip(numbers, batch), keys)
        self._count += len(batch)
        values = map(dict, map(zip, repeat(keys), batch))
        return map(_tuple_new, repeat(Row), zip(numbers, values, _NO_SHEET))

    def _csv_error(self, error: csv.Error, row: int) -> FormatError:
        text = str(error)
        if "field larger than field limit" in text:
            message = _(
                "A field is longer than %(limit)d characters; a quote may be left open."
            )
            return self.error(
                LimitError, message % {"limit": csv.field_size_limit()}, row=row
            )
        if "unexpected end of data" in text:
            message = _("A quoted field starts here and is never closed.")
        else:
            message = _("The quoting is malformed: %(detail)s.") % {"detail": text}
        return self.error(ParseError, message, row=row)

    def _read_with_splitter(
        self, lines: Iterator[str], terminator: str
    ) -> Iterator[tuple[int, list]]:
        records = split_records(
            lines,
            delimiter=self.delimiter,
            terminator=terminator,
            quotechar=self.quotechar,
        )
        try:
            yield from records
        except (ParseError, LimitError) as error:
            raise error.at(file=self.name) from None


def render_text(value: object) -> str:
    """Write a value as text the way the CSV writer stores it.

    Args:
        value: Any value.

    Returns:
        ``""`` for ``None``; ``"true"``/``"false"`` for booleans; ISO 8601
        for dates and times (a space between date and time); a
        :class:`~decimal.Decimal` in fixed-point notation; ``str()`` of
        anything else.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return _decimal_text(value)
    return str(value)


# Python's csv writes these as render_text would (str() of a datetime,
# date or time is its ISO form with a space; None is an empty field), in C.
_WRITTEN_AS_IS = frozenset(
    {str, int, float, datetime.datetime, datetime.date, datetime.time, type(None)}
)


def _decimal_text(value: Decimal) -> str:
    # str() is quicker than format() and the same unless it uses an exponent.
    text = str(value)
    return format(value, "f") if "E" in text else text


# render_text of the other usual types, found by exact type.
_TEXT_OF: dict[type, Callable[[Any], str]] = {
    bool: {True: "true", False: "false"}.__getitem__,
    Decimal: _decimal_text,
}


class CsvWriter(Writer):
    """Write delimited text, row by row.

    Args:
        fileobj: A binary file object open for writing.
        columns: Column names, in order.
        header: Write the column names as the first row.
        encoding: Codec name; ``"utf-8-sig"`` adds the byte order mark
            that Excel needs to see UTF-8.
        delimiter: Field separator, one or more characters.
        record_terminator: Record terminator.
        quotechar: Quote character for fields that hold a separator, a
            line break or the quote itself; ``None`` never quotes (and
            such a field then raises :class:`ParseError`).
        sheet: Ignored; delimited text has no sheets.
        **options: ``name`` and ``escape_formulas`` of
            :class:`formats.base.Writer`.

    Values are written with :func:`render_text`.

    Raises:
        EncodingError: If the encoding is unknown, or a cell holds a
            character it cannot encode (naming the row and column).
    """

    format_name = "csv"
    escapes_in_write_cells = True

    def __init__(
        self,
        fileobj: IO[bytes],
        *,
        columns: list[str],
        header: bool = True,
        encoding: str = "utf-8",
        delimiter: str = ",",
        record_terminator: str = "\r\n",
        quotechar: str | None = '"',
        sheet: object = None,
        **options: Any,
    ) -> None:
        super().__init__(fileobj, columns=columns, **options)
        _check_text_option("delimiter", delimiter)
        _check_text_option("record_terminator", record_terminator)
        _check_text_option("quotechar", quotechar, single=True)
        try:
            self._encoder = codecs.getincrementalencoder(encoding)()
        except LookupError as error:
            message = _("%(encoding)r is not an encoding that can be written.")
            raise EncodingError(
                message % {"encoding": encoding}, file=self.name
            ) from error
        self.encoding = encoding
        self.delimiter = delimiter
        self.record_terminator = record_terminator
        self.quotechar = quotechar
        self._csv_writer = self._make_csv_writer()
        if header:
            self.first_data_row = 2
            names = list(self.columns)
            if self.escape_formulas:
                names = [escape_formula(name) for name in names]
            self.write_cells(names, 1)

    def write_cells(self, cells: list, number: int) -> None:
        """Encode one record and write it to the file.

        Args:
            cells: Values in column order.
            number: The record's line in the output, for messages.
        """
        try:
            if self._csv_writer is None:
                texts = [self._text(value) for value in cells]
                record = join_record(
                    texts, self.delimiter, self.record_terminator, self.quotechar
                )
                self.fileobj.write(self._encoder.encode(record))
            else:
                escape, text_of = self.escape_formulas, _TEXT_OF.get
                self._csv_writer.writerow(
                    [
                        (
                            escape_formula(value)
                            if escape and value.startswith(FORMULA_STARTS)
                            else value
                        )
                        if (kind := value.__class__) is str
                        else value
                        if kind in _WRITTEN_AS_IS
                        else text_of(kind, self._text)(value)
                        for value in cells
                    ]
                )
        except (csv.Error, ParseError) as error:
            message = _("A field cannot be written: %(detail)s") % {"detail": error}
            raise ParseError(message, file=self.name, row=number) from error
        except UnicodeEncodeError as error:
            texts = [self._text(value) for value in cells]
            raise self._encoding_error(texts, number) from error

    def finish(self) -> None:
        """Flush the encoder (a stateful codec may hold bytes back)."""
        self.fileobj.write(self._encoder.encode("", final=True))
        self.fileobj.flush()

    def _text(self, value: object) -> str:
        text = render_text(value)
        if self.escape_formulas and isinstance(value, str):
            return escape_formula(text)  # type: ignore[return-value]
        return text

    def _make_csv_writer(self) -> Any:
        # Python's csv writes one-character delimiters; its writer hands
        # each record to the sink, which encodes it into the file.
        terminator = self.record_terminator
        if len(self.delimiter) > 1 or terminator not in _LINE_ENDS:
            return None
        if self.quotechar is None:
            dialect = {"quoting": csv.QUOTE_NONE, "escapechar": None}
        else:
            dialect = {"quotechar": self.quotechar}
        write, name = self.fileobj.write, codecs.lookup(self.encoding).name
        if name in _STATELESS:
            # str.encode runs in C; the incremental encoder's Python method
            # is only needed by codecs that write a byte order mark.
            sink = SimpleNamespace(write=lambda record: write(record.encode(name)))
        else:
            encode = self._encoder.encode
            sink = SimpleNamespace(write=lambda record: write(encode(record)))
        return csv.writer(
            sink, delimiter=self.delimiter, lineterminator=terminator, **dialect
        )

    def _encoding_error(self, texts: list[str], number: int) -> EncodingError:
        for column, text in zip(self.columns, texts):
            try:
                text.encode(self.encoding)
            except UnicodeEncodeError as error:
                bad = text[error.start : error.end]
                message = _(
                    "The text %(text)r holds %(bad)r, which %(encoding)s cannot store."
                )
                filled = message % {
                    "text": text[:40],
                    "bad": bad,
                    "encoding": self.encoding,
                }
                return EncodingError(filled, file=self.name, row=number, column=column)
        message = _("The row cannot be written in %(encoding)s.")
        return EncodingError(
            message % {"encoding": self.encoding}, file=self.name, row=number
        )
