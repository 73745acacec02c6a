"""Tests of formats.xls_format on the sample XLS workbooks."""

from __future__ import annotations

import datetime
import io

import pytest
import xlwt

from formats.errors import CellError, FormatError, LimitError, ParseError
from formats.xls_format import XlsReader, XlsWriter


@pytest.mark.parametrize("name", ["dates.xls", "dates1904.xls"])
def test_dates_follow_the_workbooks_date_system(sample, name):
    # Given XLS workbooks in the 1900 and the 1904 date systems
    # When they are read
    rows = list(XlsReader(sample(name), name=name))

    # Then both give the same dates, dates stay dates
    assert rows[0].values == {
        "sku": "A1",
        "quantity": 5,
        "price": 2.5,
        "active": True,
        "added": datetime.date(2024, 1, 31),
        "at": datetime.datetime(2024, 1, 31, 10, 30),
    }
    assert rows[1].values["at"] == datetime.datetime(2000, 1, 1)
    assert type(rows[1].values["quantity"]) is int


def test_a_merged_cell_gives_its_value_to_its_top_left_cell_only(sample):
    # Given A5:A6 merged with the value "merged"
    # When the sheet is read keeping blank rows
    rows = list(XlsReader(sample("dates.xls"), skip_blank=False))

    # Then row 6 reads as empty
    assert [(row.number, row.values["sku"]) for row in rows[-2:]] == [
        (5, "merged"),
        (6, None),
    ]


def test_a_missing_sheet_is_reported_with_the_sheets_there_are(sample):
    # Given a workbook with one sheet "Products"
    # When another is asked for
    with pytest.raises(FormatError, match="'Products'"):
        list(XlsReader(sample("dates.xls"), sheet=3))


def test_a_file_that_is_not_xls_is_a_parse_error(sample):
    # Given an XLSX file
    # When it is read as XLS
    with pytest.raises(ParseError) as caught:
        list(XlsReader(sample("types.xlsx"), name="types.xls"))

    # Then the error names the file
    assert caught.value.file == "types.xls"


def test_a_file_larger_than_max_bytes_is_refused(sample):
    # Given a small limit
    # When the workbook is read
    # Then a limit error says so
    with pytest.raises(LimitError):
        list(XlsReader(sample("dates.xls"), max_bytes=1000))


def test_time_only_values_are_read_as_times():
    # Given a time written alone
    output = io.BytesIO()
    with XlsWriter(output, columns=["at"]) as writer:
        writer.write_row([datetime.time(10, 30)])

    # When it is read back
    output.seek(0)
    rows = list(XlsReader(output))

    # Then it is a time
    assert rows[0].values == {"at": datetime.time(10, 30)}


def test_writing_past_65536_rows_raises_a_clear_limit_error():
    # Given a writer whose header uses row 1
    writer = XlsWriter(io.BytesIO(), name="big.xls", columns=["n"])
    for number in range(65535):
        writer.write_row([number])

    # When row 65,537 is written
    with pytest.raises(LimitError) as caught:
        writer.write_row([0])

    # Then the error names the row and suggests XLSX
    assert caught.value.row == 65537
    assert "write XLSX instead" in str(caught.value)


def test_more_than_256_columns_are_refused():
    # Given 300 columns
    # When an XLS writer is made
    # Then a limit error says so
    with pytest.raises(LimitError):
        XlsWriter(io.BytesIO(), columns=[f"c{n}" for n in range(300)])


def test_the_writer_names_the_cell_of_a_value_it_cannot_store():
    # Given a dict value
    writer = XlsWriter(io.BytesIO(), name="out.xls", columns=["a"], sheet="Data")

    # When it is written
    with pytest.raises(CellError) as caught:
        writer.write_row([{"x": 1}])

    # Then the error names the place
    assert (caught.value.sheet, caught.value.row, caught.value.column) == (
        "Data",
        2,
        "a",
    )


def test_booleans_blanks_and_error_cells_read_as_in_xlsx():
    # Given a sheet with booleans, an empty text cell and a #DIV/0! in C3
    output = io.BytesIO()
    workbook = xlwt.Workbook()
    sheet = workbook.add_sheet("Stock")
    for column, name in enumerate(["sku", "active", "ratio", "note"]):
        sheet.write(0, column, name)
    sheet.write(1, 0, "A1")
    sheet.write(1, 1, True)
    sheet.write(1, 2, 0.5)
    sheet.write(1, 3, "")
    sheet.write(2, 0, "A2")
    sheet.write(2, 1, False)
    sheet.row(2).set_cell_error(2, "#DIV/0!")
    workbook.save(output)
    output.seek(0)
    reader = XlsReader(output, name="stock.xls")

    # When it is read
    first = next(reader)
    with pytest.raises(CellError) as caught:
        next(reader)

    # Then booleans stay booleans, the empty cell is None, and the error is
    # reported at its cell
    assert first.values == {"sku": "A1", "active": True, "ratio": 0.5, "note": None}
    assert (caught.value.row, caught.value.column) == (3, "C")
    assert "#DIV/0!" in str(caught.value)


def test_the_same_day_reads_as_a_date_or_a_datetime_by_the_cells_format():
    # Given one day written as a date, then as a datetime at midnight, in
    # rows that alternate
    output = io.BytesIO()
    day = datetime.date(2024, 1, 31)
    midnight = datetime.datetime(2024, 1, 31)
    with XlsWriter(output, columns=["added", "at"]) as writer:
        for _number in range(3):
            writer.write_row([day, midnight])
            writer.write_row([midnight, day])

    # When the rows are read back
    output.seek(0)
    rows = list(XlsReader(output))

    # Then each cell keeps the kind its number format shows
    assert [tuple(row.values.values()) for row in rows] == [
        (day, midnight),
        (midnight, day),
    ] * 3
    assert [type(row.values["added"]) for row in rows[:2]] == [
        datetime.date,
        datetime.datetime,
    ]
