"""Tests of formats.csv_format on the sample files in tests/data/formats."""

from __future__ import annotations

import datetime
import io
from decimal import Decimal
from pathlib import Path

import pytest

from formats.csv_format import CsvReader, CsvWriter, render_text
from formats.errors import EncodingError, HeaderError, LimitError, ParseError

# The demo ships the real dumps, with their licence.
ADVENTURE_WORKS = Path(__file__).resolve().parents[2] / "demo" / "data"


class CountingFile(io.RawIOBase):
    """A file that makes its content on demand and counts the bytes read."""

    def __init__(self, head: bytes, line: bytes, count: int):
        self.parts = iter([head] + [line] * count)
        self.pending = b""
        self.bytes_read = 0

    def readable(self):
        return True

    def readinto(self, buffer):
        while len(self.pending) < len(buffer):
            part = next(self.parts, None)
            if part is None:
                break
            self.pending += part
        size = min(len(buffer), len(self.pending))
        buffer[:size], self.pending = self.pending[:size], self.pending[size:]
        self.bytes_read += size
        return size


def read(sample, name, **options):
    return list(CsvReader(sample(name), name=name, **options))


def test_a_utf8_file_with_a_byte_order_mark_reads_without_the_mark(sample):
    # Given a UTF-8 file starting with a byte order mark
    # When it is read
    rows = read(sample, "utf8_bom.csv")

    # Then the first header name is clean and text is decoded
    assert rows[0].values == {"sku": "A1", "name": "Lämpchen", "price": "5.00"}


def test_a_windows_semicolon_file_is_detected_as_cp1252_and_semicolons(sample):
    # Given a cp1252 file with semicolons and decimal commas
    reader = CsvReader(sample("cp1252_semicolon.csv"), name="cp1252_semicolon.csv")

    # When it is read
    rows = list(reader)

    # Then both the encoding and the delimiter are found
    assert (reader.encoding, reader.delimiter) == ("cp1252", ";")
    assert rows[1].values == {
        "Référence": "A2",
        "Désignation": "Café crème – tasse",
        "Prix": "3,20",
    }


def test_a_utf16_file_with_a_byte_order_mark_is_read(sample):
    # Given a UTF-16 TAB file
    # When it is read
    rows = read(sample, "utf16.csv")

    # Then its text is decoded and rows are numbered by line
    assert [(row.number, row.values["name"]) for row in rows] == [
        (2, "Ångström"),
        (3, "東京"),
    ]


def test_a_headerless_tab_file_without_a_final_line_feed_reads_every_record(sample):
    # Given a Product.csv-like file: no header, TAB, no final LF
    reader = CsvReader(
        sample("headerless_tab.csv"), name="headerless_tab.csv", header=False
    )

    # When it is read
    rows = list(reader)

    # Then all three records come, keyed by column number, text untouched
    assert [row.number for row in rows] == [1, 2, 3]
    assert reader.columns == [1, 2, 3, 4, 5, 6, 7, 8]
    assert rows[1].values[5] == "M " and rows[0].values[7] == ""
    assert rows[2].values == {
        1: "3",
        2: "BB Ball Bearing",
        3: "BE-2349",
        4: "1",
        5: "L ",
        6: "9.5000",
        7: "58",
        8: "2019-04-30 00:00:00.000",
    }


def test_a_plus_pipe_file_is_read_with_its_multi_character_dialect(sample):
    # Given a ProductPhoto.csv-like file with "+|" and "&|" LF, one long line
    # When it is read with that dialect
    rows = read(
        sample,
        "photo_plus_pipe.csv",
        header=False,
        delimiter="+|",
        record_terminator="&|\n",
    )

    # Then fields keep tabs and line feeds, and the long field is whole
    assert [row.number for row in rows] == [1, 2, 3]
    assert len(rows[0].values[2]) == 50024 and rows[0].values[2].startswith("47494638")
    assert rows[2].values == {
        1: "70",
        2: "4749\n4638",
        3: "two\tlines.gif",
        4: "2023-10-19 09:56:38.273",
    }


def test_quoted_fields_may_hold_line_feeds_and_rows_count_physical_lines(sample):
    # Given a file whose first record spans two lines
    # When it is read
    rows = read(sample, "quoted_newlines.csv")

    # Then the next record is numbered by the line it starts on
    assert [(row.number, row.values["note"]) for row in rows] == [
        (2, "line one\nline two"),
        (4, 'say "hi"'),
        (5, "plain"),
    ]


def test_bad_bytes_in_the_middle_raise_on_their_row_after_the_rows_before(sample):
    # Given a UTF-8 file with bad bytes on line 7
    reader = CsvReader(
        sample("bad_utf8_middle.csv"), name="Product.csv", encoding="utf-8"
    )

    # When it is read
    rows = []
    with pytest.raises(EncodingError) as caught:
        for row in reader:
            rows.append(row)

    # Then rows 2 to 6 came first and the error names row 7 and the bytes
    assert [row.number for row in rows] == [2, 3, 4, 5, 6]
    assert str(caught.value) == (
        "Product.csv, row 7: The bytes 0xff 0xfe cannot be read as UTF-8."
    )


def test_bad_bytes_past_the_detection_sample_raise_on_their_row():
    # Given a UTF-8 file whose only bad byte lies beyond the first 64 KiB
    good = b"".join(b"A%d,Lamp\n" % n for n in range(2, 12000))
    data = b"sku,name\n" + good + b"B1,Caf\xe9\n"

    # When it is read with detection
    reader = CsvReader(io.BytesIO(data), name="big.csv")
    with pytest.raises(EncodingError) as caught:
        for _row in reader:
            pass

    # Then UTF-8 was kept and the error names the last line
    assert reader.encoding == "utf-8"
    assert caught.value.row == 12000


def test_an_unclosed_quote_is_reported_on_the_line_where_its_record_starts(sample):
    # Given a quote opened on line 2 and never closed
    # When the file is read
    with pytest.raises(ParseError) as caught:
        read(sample, "unclosed_quote.csv")

    # Then the error names line 2
    assert caught.value.row == 2 and caught.value.file == "unclosed_quote.csv"
    assert "never closed" in str(caught.value)


def test_a_header_naming_a_column_twice_is_rejected(sample):
    # Given "Name" and " name " in one header
    # When it is read
    with pytest.raises(HeaderError) as caught:
        read(sample, "duplicate_header.csv")

    # Then the message names the column
    assert "'name' twice" in str(caught.value)


def test_a_header_with_an_empty_name_is_rejected(sample):
    # Given a header with an empty name in the middle
    # When it is read
    with pytest.raises(HeaderError, match="column 2 without a name"):
        read(sample, "empty_header.csv")


def test_blank_lines_and_lines_of_empty_fields_are_skipped(sample):
    # Given blank lines and a line of empty fields
    # When the file is read
    rows = read(sample, "blank_rows.csv")

    # Then only data rows come, numbered by their lines
    assert [(row.number, row.values["sku"]) for row in rows] == [
        (3, "A1"),
        (6, "A2"),
        (8, "A3"),
    ]


def test_a_pipe_file_is_sniffed_and_a_comma_in_data_does_not_confuse_it(sample):
    # Given a pipe-separated file with a comma in a name
    # When it is read
    rows = read(sample, "pipe.csv")

    # Then the pipe is the delimiter
    assert rows[0].values == {"sku": "A1", "name": "Lamp, small", "price": "5"}


def test_the_encoding_and_delimiter_can_be_given():
    # Given a latin-1 file with a rare delimiter
    data = "a:b\nÿ:x\n".encode("latin-1")

    # When it is read with both options
    rows = list(CsvReader(io.BytesIO(data), encoding="latin-1", delimiter=":"))

    # Then they are used instead of detection
    assert rows[0].values == {"a": "ÿ", "b": "x"}


def test_quotechar_none_reads_quotes_as_text():
    # Given a TAB file with a stray quote at a field start
    data = b'sku\tname\nA1\t"Big" lamp\n'

    # When it is read with quoting off
    rows = list(CsvReader(io.BytesIO(data), quotechar=None))

    # Then the quotes are data
    assert rows[0].values["name"] == '"Big" lamp'


def test_strict_reading_rejects_a_row_with_another_number_of_fields():
    # Given a ragged file
    data = b"a,b,c\n1,2,3\n4,5\n"

    # When it is read strictly
    reader = CsvReader(io.BytesIO(data), name="r.csv", strict=True)
    first = next(reader)
    with pytest.raises(ParseError) as caught:
        next(reader)

    # Then the good row came and the error names row 3 and the counts
    assert first.number == 2
    assert "Expected 3 fields as in the header, found 2" in str(caught.value)


def test_the_reader_streams_and_does_not_read_the_whole_file():
    # Given a file of about 30 MB made on demand
    fileobj = CountingFile(b"sku,name\n", b"A1,Lamp with a long name\n", 1_200_000)

    # When its first row is read
    reader = CsvReader(fileobj, name="big.csv")
    row = next(reader)

    # Then far less than the file was read
    assert row.values == {"sku": "A1", "name": "Lamp with a long name"}
    assert fileobj.bytes_read < 256 * 1024


def test_a_huge_field_from_an_unclosed_quote_is_a_limit_error():
    # Given a quote never closed before a lot of text
    data = b'a,b\n1,"open\n' + b"x" * 200_000 + b"\n"

    # When it is read
    # Then a limit error names the record's line
    with pytest.raises(LimitError) as caught:
        list(CsvReader(io.BytesIO(data)))
    assert caught.value.row == 2


def test_binary_data_is_a_parse_error():
    # Given bytes with NUL characters in UTF-8
    # When they are read as CSV
    # Then a parse error says it is no text file
    with pytest.raises(ParseError, match="NUL"):
        list(CsvReader(io.BytesIO(b"a,b\n\x00\x01,\x02\n"), encoding="utf-8"))


@pytest.mark.parametrize(
    ("value", "text"),
    [(None, ""), (True, "true"), (5, "5"), (2.5, "2.5")],
)
def test_values_are_written_as_plain_text(value, text):
    # Given a value
    # When it is rendered for CSV
    # Then it reads as expected
    assert render_text(value) == text


def test_the_writer_escapes_formulas_and_leaves_numbers_alone():
    # Given a writer with the default escaping
    output = io.BytesIO()
    with CsvWriter(output, columns=["a", "b", "c"]) as writer:
        writer.write_row(["=cmd|'/c calc'!A1", "-12.5", -3])

    # When the file is read back
    # Then the formula is quoted and numbers are not
    assert output.getvalue() == b"a,b,c\r\n'=cmd|'/c calc'!A1,-12.5,-3\r\n"


def test_the_writer_can_leave_formulas_as_they_are():
    # Given a writer told not to escape
    output = io.BytesIO()
    with CsvWriter(
        output, columns=["a"], header=False, escape_formulas=False
    ) as writer:
        writer.write_row(["=1+2"])

    # When it has written
    # Then the text is unchanged
    assert output.getvalue() == b"=1+2\r\n"


def test_a_character_the_encoding_cannot_store_names_its_row_and_column():
    # Given a latin-1 writer and a euro sign
    writer = CsvWriter(
        io.BytesIO(), name="out.csv", columns=["sku", "price"], encoding="latin-1"
    )

    # When the row is written
    with pytest.raises(EncodingError) as caught:
        writer.write_row(["A1", "5 €"])

    # Then the error names row 2 and the column
    assert (caught.value.row, caught.value.column) == (2, "price")


def test_a_multi_character_dialect_is_written_and_read_back():
    # Given rows with tabs, line feeds and the separator in them
    output = io.BytesIO()
    rows = [["1", "47\t49\n46", "a+|b"], ["2", "", "plain"]]
    with CsvWriter(
        output,
        columns=["id", "data", "name"],
        header=False,
        delimiter="+|",
        record_terminator="&|\n",
    ) as writer:
        writer.write_rows(rows)

    # When the output is read with the same dialect
    output.seek(0)
    read_back = list(
        CsvReader(output, header=False, delimiter="+|", record_terminator="&|\n")
    )

    # Then the same text comes back
    assert [list(row.values.values()) for row in read_back] == rows


def test_the_adventure_works_dumps_read_with_the_expected_record_counts():
    # Given the real Product.csv and ProductPhoto.csv
    with (ADVENTURE_WORKS / "Product.csv").open("rb") as fileobj:
        products = list(CsvReader(fileobj, name="Product.csv", header=False))
    with (ADVENTURE_WORKS / "ProductPhoto.csv").open("rb") as fileobj:
        photos = list(
            CsvReader(
                fileobj,
                name="ProductPhoto.csv",
                header=False,
                delimiter="+|",
                record_terminator="&|\n",
            )
        )

    # When they are counted
    # Then every record and column is there
    assert len(products) == 504 and {len(row.values) for row in products} == {25}
    assert len(photos) == 101 and {len(row.values) for row in photos} == {6}
    assert photos[0].values[2].startswith("47494638")


class Markup(str):
    """A str subclass, as Django's SafeString is."""


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        False,
        7,
        2.5,
        Decimal("1E+3"),
        Decimal("-0.00"),
        Decimal("12.50"),
        datetime.date(2024, 1, 31),
        datetime.datetime(2024, 1, 31, 10, 30, 0, 500),
        datetime.time(10, 30),
        datetime.timedelta(hours=1),
        "plain",
    ],
)
def test_the_writer_stores_each_value_as_render_text_gives_it(value):
    # Given a value of a usual type
    output = io.BytesIO()

    # When a writer writes it
    with CsvWriter(output, columns=["v", "w"], header=False) as writer:
        writer.write_row([value, "x"])

    # Then the field is render_text's text
    assert output.getvalue() == render_text(value).encode() + b",x\r\n"


def test_text_of_a_str_subclass_is_escaped_like_text():
    # Given formula-like text in a str subclass
    output = io.BytesIO()

    # When it is written
    with CsvWriter(output, columns=["v"], header=False) as writer:
        writer.write_row([Markup("=1+2")])

    # Then it is escaped like any text
    assert output.getvalue() == b"'=1+2\r\n"


def test_a_utf16_writer_puts_one_byte_order_mark_at_the_start():
    # Given a UTF-16 writer
    output = io.BytesIO()

    # When two rows are written
    with CsvWriter(output, columns=["sku"], encoding="utf-16") as writer:
        writer.write_rows([["A1"], ["A2"]])

    # Then the file decodes as one text with one mark
    assert output.getvalue().decode("utf-16") == "sku\r\nA1\r\nA2\r\n"
