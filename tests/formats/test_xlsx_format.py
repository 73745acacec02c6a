"""Tests of formats.xlsx_format on the sample workbooks."""

from __future__ import annotations

import datetime
import io
import zipfile
from decimal import Decimal

import openpyxl
import pytest

from formats.base import BrokenCell
from formats.errors import CellError, FormatError, LimitError, ParseError
from formats.xlsx_format import XlsxReader, XlsxWriter

SAMPLES = [
    "types.xlsx",
    "date1904.xlsx",
    "merged.xlsx",
    "error_cells.xlsx",
    "formulas.xlsx",
    "logo_totals.xlsx",
]


class OneWayFile(io.RawIOBase):
    """A file object that can be read but not rewound, like a pipe."""

    def __init__(self, data: bytes):
        self.data = io.BytesIO(data)

    def readable(self):
        return True

    def seekable(self):
        return False

    def readinto(self, buffer):
        chunk = self.data.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


def read(sample, name, **options):
    return list(XlsxReader(sample(name), name=name, **options))


def test_a_table_below_a_logo_block_is_read_from_its_range(sample):
    # Given a report with a logo block, the table in B5:D8, a note in F6,
    # and a totals row whose formula was never computed
    # When the table's range is read
    rows = read(
        sample, "logo_totals.xlsx", header=5, first_column=2, last_column=4, last_row=8
    )

    # Then only the table comes; the uncomputed total costs nothing
    assert [(row.number, row.sheet, row.values) for row in rows] == [
        (6, "Stock", {"SKU": "A1", "Name": "Lamp", "Quantity": 5}),
        (7, "Stock", {"SKU": "A2", "Name": "Desk", "Quantity": 2}),
        (8, "Stock", {"SKU": "A3", "Name": "Chair", "Quantity": 12}),
    ]


def test_stop_at_blank_ends_the_table_above_the_totals_row(sample):
    # Given the same report
    # When it is read up to the first blank row
    rows = read(
        sample,
        "logo_totals.xlsx",
        header=5,
        first_column=2,
        last_column=4,
        stop_at_blank=True,
    )

    # Then the totals row is not reached
    assert [row.number for row in rows] == [6, 7, 8]


def test_a_formula_without_a_cached_value_is_reported_not_read_as_empty(sample):
    # Given the report read past its table
    # When the totals row is reached
    with pytest.raises(CellError) as caught:
        read(sample, "logo_totals.xlsx", header=5, first_column=2)

    # Then the error names the sheet, row and column of the formula
    error = caught.value
    assert (error.file, error.sheet, error.row, error.column) == (
        "logo_totals.xlsx",
        "Stock",
        10,
        "D",
    )
    assert "formula whose result was never saved" in str(error)


def test_styled_empty_rows_and_a_bogus_sheet_size_cost_next_to_nothing(sample):
    # Given two data rows followed by 3,000 styled empty rows of 26 columns,
    # and a sheet that declares itself A1:XFD1048576
    # When it is read
    rows = read(sample, "styled_trailing.xlsx")
    stored = list(XlsxReader(sample("styled_trailing.xlsx")).read_cells())

    # Then the data rows come; only the rows the file stores were looked
    # at, without a million padded rows, and the styled ones hold nothing
    assert [row.values for row in rows] == [
        {"sku": "A1", "name": "Lamp"},
        {"sku": "A2", "name": "Desk"},
    ]
    assert len(stored) == 3000
    assert all(cells == [] for _number, cells in stored[3:])


def test_formulas_give_their_cached_values_and_an_empty_text_result(sample):
    # Given formulas saved with results by a spreadsheet
    # When the computed row is read
    rows = read(sample, "formulas.xlsx", last_row=2)

    # Then the cached results are the values, an empty text result is ""
    assert rows[0].values == {"quantity": 2, "price": 3, "total": 6, "label": ""}


def test_an_error_cell_is_reported_with_its_place_after_the_rows_before(sample):
    # Given a sheet with #DIV/0! in B3
    reader = XlsxReader(sample("error_cells.xlsx"), name="error_cells.xlsx")

    # When it is read
    first = next(reader)
    with pytest.raises(CellError) as caught:
        next(reader)

    # Then row 2 came and the error names the cell and the error code
    assert first.values == {"sku": "A1", "ratio": 0.5, "note": "fine"}
    assert (caught.value.sheet, caught.value.row, caught.value.column) == (
        "Sheet",
        3,
        "B",
    )
    assert "#DIV/0!" in str(caught.value)


def test_a_cached_error_of_a_formula_is_reported_too(sample):
    # Given a formula whose cached result is #DIV/0!
    # When its row is read
    with pytest.raises(CellError) as caught:
        read(sample, "formulas.xlsx", last_row=3)

    # Then it is an error at C3
    assert (caught.value.row, caught.value.column) == (3, "C")


def test_a_merged_cell_gives_its_value_to_the_top_left_cell_only(sample):
    # Given A2:A3 merged with the value "Bikes"
    # When the sheet is read
    rows = read(sample, "merged.xlsx")

    # Then row 3 reads the merged cell as empty
    assert [row.values["category"] for row in rows] == ["Bikes", None, "Parts"]


def test_dates_of_a_1904_workbook_are_read_on_the_right_day(sample):
    # Given a workbook using the 1904 date system
    # When it is read
    rows = read(sample, "date1904.xlsx")

    # Then dates are not shifted by four years, dates stay dates
    assert rows[0].values["sold on"] == datetime.date(2024, 1, 31)
    assert rows[0].values["sold at"] == datetime.datetime(2024, 1, 31, 10, 30)
    assert rows[1].values["sold on"] == datetime.date(1904, 1, 2)


def test_whole_numbers_read_as_int_and_dates_keep_their_kind(sample):
    # Given numbers, booleans, a date and a datetime
    # When they are read
    rows = read(sample, "types.xlsx")

    # Then a whole float is an int and the date formats decide date or datetime
    assert rows[0].values == {
        "sku": "A1",
        "quantity": 5,
        "price": 2.5,
        "active": True,
        "added": datetime.date(2024, 1, 31),
    }
    assert type(rows[1].values["quantity"]) is int
    assert rows[1].values["added"] == datetime.datetime(2024, 2, 1, 8, 15)


@pytest.mark.parametrize("sheet", ["Notes", " notes ", 2])
def test_a_sheet_is_chosen_by_name_ignoring_case_or_by_position(sample, sheet):
    # Given a workbook of two sheets
    # When the second is asked for
    rows = read(sample, "types.xlsx", sheet=sheet)

    # Then its rows come, named after it
    assert [(row.sheet, row.values) for row in rows] == [("Notes", {"note": "hello"})]


def test_a_missing_sheet_is_reported_with_the_sheets_there_are(sample):
    # Given a workbook without a sheet "Stock"
    # When it is asked for
    with pytest.raises(FormatError) as caught:
        read(sample, "types.xlsx", sheet="Stock")

    # Then the message lists the sheets
    assert "'Products', 'Notes'" in str(caught.value)


def test_a_file_that_is_not_a_workbook_is_a_parse_error(sample):
    # Given a CSV file named .xlsx
    # When it is read as XLSX
    with pytest.raises(ParseError) as caught:
        read(sample, "not_a_workbook.xlsx")

    # Then the error names the file
    assert caught.value.file == "not_a_workbook.xlsx"


def test_a_workbook_that_unpacks_past_the_limit_is_refused(sample):
    # Given a limit smaller than the workbook's unpacked size
    # When it is read
    with pytest.raises(LimitError) as caught:
        read(sample, "types.xlsx", max_unpacked_bytes=10_000)

    # Then the declared size is checked before any XML is parsed
    assert "more than the limit of 10000" in str(caught.value)


def test_a_file_object_that_cannot_seek_is_read(data_dir):
    # Given a workbook coming through a pipe
    fileobj = OneWayFile((data_dir / "types.xlsx").read_bytes())

    # When it is read
    rows = list(XlsxReader(fileobj, name="types.xlsx"))

    # Then the rows come as from a file
    assert [row.values["sku"] for row in rows] == ["A1", "A2"]


def test_the_reader_does_not_close_the_callers_file(sample):
    # Given an open workbook file
    fileobj = sample("types.xlsx")

    # When it has been read to the end
    list(XlsxReader(fileobj))

    # Then the caller's file is still open
    assert not fileobj.closed


def write(rows, columns, **options):
    output = io.BytesIO()
    with XlsxWriter(output, name="out.xlsx", columns=columns, **options) as writer:
        writer.write_rows(rows)
    output.seek(0)
    return output


def test_the_writer_escapes_formulas_and_stores_text_as_text():
    # Given text that looks like formulas and error codes
    rows = [["=1+2", "#N/A", "-12.5", "@x"]]

    # When it is written with and without escaping
    escaped = openpyxl.load_workbook(write(rows, list("abcd"))).active
    plain = openpyxl.load_workbook(
        write(rows, list("abcd"), escape_formulas=False)
    ).active

    # Then no cell is a formula or an error, and only the default adds quotes
    assert [cell.value for cell in escaped[2]] == ["'=1+2", "#N/A", "-12.5", "'@x"]
    assert [cell.value for cell in plain[2]] == ["=1+2", "#N/A", "-12.5", "@x"]
    assert {cell.data_type for cell in plain[2]} == {"s"}


def test_the_writer_names_the_cell_of_a_value_it_cannot_store():
    # Given a writer and values XLSX cannot hold
    writer = XlsxWriter(io.BytesIO(), name="out.xlsx", columns=["a", "b"], sheet="Data")
    aware = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)

    # When they are written
    with pytest.raises(CellError) as listed:
        writer.write_row(["x", [1, 2]])
    with pytest.raises(CellError) as zoned:
        writer.write_row([aware, 1])
    with pytest.raises(CellError) as control:
        writer.write_row(["bell\x07", 1])

    writer.close()

    # Then each error names sheet, row and column
    assert (listed.value.sheet, listed.value.row, listed.value.column) == (
        "Data",
        2,
        "b",
    )
    assert "time zone" in str(zoned.value)
    assert "control characters" in str(control.value)


def test_decimals_are_written_as_numbers():
    # Given a Decimal
    # When it is written and read back
    rows = list(XlsxReader(write([[Decimal("2.50")]], ["price"])))

    # Then it is a number
    assert rows[0].values == {"price": 2.5}


def openpyxl_rows(path, sheet):
    # openpyxl's values, brought to the reader's rules: a whole float is an
    # int, an error is "#ERR", trailing empty cells are left out.
    workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    rows = []
    for cells in workbook.worksheets[sheet].iter_rows():
        values = [
            "#ERR"
            if cell.data_type == "e"
            else int(cell.value)
            if isinstance(cell.value, float) and cell.value.is_integer()
            else cell.value
            for cell in cells
        ]
        while values and values[-1] is None:
            values.pop()
        rows.append(values)
    workbook.close()
    return rows


def our_rows(path, sheet):
    # A date the reader gave for a date-only style is openpyxl's midnight;
    # openpyxl reads an uncomputed formula and an empty text result as None.
    def plain(value):
        if isinstance(value, BrokenCell):
            return None if "never saved" in value.reason else "#ERR"
        if type(value) is datetime.date:
            return datetime.datetime.combine(value, datetime.time())
        return None if value == "" else value

    rows = {}
    with path.open("rb") as fileobj:
        for number, cells in XlsxReader(fileobj, sheet=sheet + 1).read_cells():
            values = [plain(value) for value in cells]
            while values and values[-1] is None:
                values.pop()
            rows[number] = values
    return [rows.get(number, []) for number in range(1, max(rows, default=0) + 1)]


@pytest.mark.parametrize("name", SAMPLES)
def test_every_sample_workbook_reads_the_values_openpyxl_reads(data_dir, name):
    # Given a sample workbook
    path = data_dir / name
    sheets = len(openpyxl.load_workbook(path, read_only=True).worksheets)

    # When each sheet is read by the reader's parser and by openpyxl
    # Then the values agree, after the reader's own rules
    for sheet in range(sheets):
        assert our_rows(path, sheet) == openpyxl_rows(path, sheet)


def test_a_sheet_that_declares_entities_is_refused_with_its_place(data_dir):
    # Given a workbook whose sheet XML declares an entity
    output = io.BytesIO()
    source = zipfile.ZipFile(data_dir / "types.xlsx")
    member = "xl/worksheets/sheet1.xml"
    with zipfile.ZipFile(output, "w") as archive:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename == member:
                data = data.replace(
                    b"<worksheet",
                    b'<!DOCTYPE worksheet [<!ENTITY big "lol">]><worksheet',
                    1,
                )
            archive.writestr(info.filename, data)
    output.seek(0)

    # When it is read
    with pytest.raises(ParseError) as caught:
        list(XlsxReader(output, name="evil.xlsx"))

    # Then the error names the file and sheet and why it was refused
    assert (caught.value.file, caught.value.sheet) == ("evil.xlsx", "Products")
    assert "document type" in str(caught.value)


def test_the_writer_refuses_text_longer_than_a_cell_holds():
    # Given text one character over the cell limit
    writer = XlsxWriter(io.BytesIO(), name="out.xlsx", columns=["note"])

    # When it is written
    with pytest.raises(CellError) as caught:
        writer.write_row(["x" * 32_768])
    writer.close()

    # Then the error names the limit and the cell
    assert "32767" in str(caught.value)
    assert (caught.value.row, caught.value.column) == (2, "note")
