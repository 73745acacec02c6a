"""Tests of formats.base: data range, header, blank rows, caps, columns."""

from __future__ import annotations

import io

import pytest

from formats.base import BrokenCell, Row, TableReader, column_letter, make_row
from formats.errors import CellError, FormatError, HeaderError, LimitError, ParseError


class GridReader(TableReader):
    """A reader of a grid given as a list, to test the shared rules alone."""

    column_label = "letter"

    def __init__(self, grid, **options):
        super().__init__(io.BytesIO(), name="grid", **options)
        self.grid = grid

    def read_cells(self):
        for number, cells in enumerate(self.grid, start=1):
            if cells is not None:
                yield number, list(cells)


REPORT = [
    ["ACME Ltd"],
    ["Stock report"],
    [],
    [None, "SKU", "Name", "Qty"],
    [None, "A1", "Lamp", 5],
    [None, "A2", "Desk", 2],
    [None, "Total", None, 7],
]


def test_a_data_range_leaves_out_a_logo_block_and_a_totals_row():
    # Given a report whose table sits in B4:D6 under a logo block
    reader = GridReader(REPORT, header=4, first_column=2, last_row=6)

    # When its rows are read
    rows = list(reader)

    # Then only the table's rows come, numbered as in the sheet
    assert rows == [
        Row(5, {"SKU": "A1", "Name": "Lamp", "Qty": 5}),
        Row(6, {"SKU": "A2", "Name": "Desk", "Qty": 2}),
    ]
    assert reader.columns == ["SKU", "Name", "Qty"]


def test_header_true_takes_the_first_non_blank_row_of_the_range():
    # Given a grid with blank rows above its header
    reader = GridReader([[], [None, None], ["sku", "name"], ["A1", "Lamp"]])

    # When it is read
    rows = list(reader)

    # Then the first non-blank row named the columns
    assert rows == [Row(4, {"sku": "A1", "name": "Lamp"})]


def test_first_row_starts_the_range_where_the_header_is():
    # Given a grid whose header is the third row
    grid = [["junk", "x"], ["more", "y"], ["sku", "name"], ["A1", "Lamp"]]

    # When the range starts at row 3
    rows = list(GridReader(grid, first_row=3))

    # Then row 3 is the header
    assert rows == [Row(4, {"sku": "A1", "name": "Lamp"})]


def test_a_header_row_number_past_the_end_is_reported():
    # Given a grid of two rows
    reader = GridReader([["a"], ["b"]], header=5)

    # When its rows are read
    with pytest.raises(HeaderError) as caught:
        list(reader)

    # Then the error names the header row
    assert caught.value.row == 5
    assert "header row 5" in str(caught.value)


def test_header_names_lose_surrounding_spaces_and_trailing_empty_names_end_the_table():
    # Given a header with spaces around names and empty cells after them
    reader = GridReader([[" sku ", "Name\t", None, ""], ["A1", "Lamp", None, ""]])

    # When it is read
    rows = list(reader)

    # Then the names are trimmed and the empty columns are not columns
    assert reader.columns == ["sku", "Name"]
    assert rows[0].values == {"sku": "A1", "Name": "Lamp"}


def test_a_header_that_names_a_column_twice_ignoring_case_is_rejected():
    # Given a header naming "sku" twice in different cases
    reader = GridReader([["sku", "name", "SKU "], ["A1", "Lamp", "A2"]])

    # When it is read
    with pytest.raises(HeaderError) as caught:
        list(reader)

    # Then the error names the name, both columns and the row
    assert "'SKU' twice (columns A and C)" in str(caught.value)
    assert caught.value.row == 1


def test_a_header_with_an_empty_name_between_names_is_rejected():
    # Given a header with a hole
    reader = GridReader([["sku", None, "price"], ["A1", "Lamp", 5]])

    # When it is read
    with pytest.raises(HeaderError) as caught:
        list(reader)

    # Then the error names the unnamed column
    assert "column B without a name" in str(caught.value)


def test_blank_rows_are_skipped_by_default_and_kept_on_request():
    # Given a grid with a blank row of spaces and empty values
    grid = [["sku"], ["A1"], ["  ", None], ["A2"]]

    # When it is read with the default and with skip_blank=False
    skipped = [row.number for row in GridReader(grid)]
    kept = list(GridReader(grid, skip_blank=False))

    # Then the blank row is left out, or kept with empty values
    assert skipped == [2, 4]
    assert kept[1] == Row(3, {"sku": "  "})


def test_stop_at_blank_ends_the_table_at_its_first_blank_row():
    # Given a table followed by a blank row and notes
    grid = [["sku"], ["A1"], [], ["Notes: none"]]

    # When it is read with stop_at_blank
    rows = list(GridReader(grid, stop_at_blank=True))

    # Then the notes are not read
    assert [row.values for row in rows] == [{"sku": "A1"}]


def test_more_rows_than_max_rows_raise_a_limit_error_after_the_allowed_rows():
    # Given a table of three rows and a cap of two
    reader = GridReader([["sku"], ["A1"], ["A2"], ["A3"]], max_rows=2)

    # When it is read
    first, second = next(reader), next(reader)
    with pytest.raises(LimitError) as caught:
        next(reader)

    # Then the two allowed rows came first, the error names the third
    assert (first.number, second.number) == (2, 3)
    assert caught.value.row == 4
    assert "more than 2 rows" in str(caught.value)


def test_a_headerless_grid_is_keyed_by_column_numbers_or_letters():
    # Given a headerless grid read from column B
    grid = [[None, "A1", "Lamp"], [None, "A2", "Desk"]]

    # When it is read with numbers and with letters
    numbers = list(GridReader(grid, header=False, first_column=2))
    letters = list(GridReader(grid, header=False, column_names="letters"))

    # Then numbers keep their position in the sheet
    assert numbers[0].values == {2: "A1", 3: "Lamp"}
    assert letters[1].values == {"A": None, "B": "A2", "C": "Desk"}


def test_a_short_row_gives_none_and_a_value_right_of_the_header_keeps_its_number():
    # Given rows shorter and longer than the header
    reader = GridReader([["sku", "name"], ["A1"], ["A2", "Desk", None, "stray"]])

    # When they are read
    short, long = list(reader)

    # Then the missing value is None and the stray one is kept by number
    assert short.values == {"sku": "A1", "name": None}
    assert long.values == {"sku": "A2", "name": "Desk", 4: "stray"}


def test_strict_reading_rejects_a_value_right_of_the_header():
    # Given a row with a value outside the header
    reader = GridReader([["sku"], ["A1", "stray"]], strict=True)

    # When it is read strictly
    with pytest.raises(ParseError) as caught:
        list(reader)

    # Then the error names the row and the column
    assert (caught.value.row, caught.value.column) == (2, "B")


def test_columns_can_be_asked_before_iterating_without_losing_a_row():
    # Given a fresh reader
    reader = GridReader([["sku", "name"], ["A1", "Lamp"]])

    # When its columns are asked first
    columns = reader.columns

    # Then the header is known and the first row is still read
    assert columns == ["sku", "name"]
    assert [row.number for row in reader] == [2]


def test_column_key_finds_a_column_ignoring_spaces_and_case():
    # Given a reader of a header with mixed case
    reader = GridReader([["Product Name", "SKU"], ["Lamp", "A1"]])

    # When columns are looked up loosely
    # Then the keys used in row values are returned
    assert reader.column_key("  product name ") == "Product Name"
    assert reader.column_key("sku") == "SKU"


def test_column_key_names_the_columns_when_none_matches():
    # Given a reader with two columns
    reader = GridReader([["sku", "name"], ["A1", "Lamp"]])

    # When a missing column is looked up
    with pytest.raises(HeaderError) as caught:
        reader.column_key("price")

    # Then the message lists the columns there are
    assert "'price'" in str(caught.value)
    assert "sku, name" in str(caught.value)


def test_a_broken_cell_is_reported_only_inside_the_range():
    # Given a grid with a broken cell in a row left out and one in the table
    broken = BrokenCell("The cell holds the error #DIV/0!.")
    grid = [["sku", "ratio"], ["A1", 0.5], ["A2", broken], ["Total", broken]]

    # When the range stops before the broken cells, and when it does not
    kept = list(GridReader(grid, last_row=2))
    reader = GridReader(grid)
    first = next(reader)
    with pytest.raises(CellError) as caught:
        next(reader)

    # Then only a broken cell inside the range is an error, at its place
    assert [row.number for row in kept] == [2] and first.number == 2
    assert (caught.value.row, caught.value.column) == (3, "B")


@pytest.mark.parametrize(
    "options",
    [
        {"first_row": 0},
        {"last_row": "9"},
        {"first_row": 5, "last_row": 2},
        {"header": 0},
        {"column_names": "roman"},
        {"max_rows": -1},
        {"first_column": 3, "last_column": 1},
    ],
)
def test_options_out_of_range_are_refused(options):
    # Given an option out of range
    # When a reader is made
    # Then it refuses with a format error naming the option
    with pytest.raises(FormatError):
        GridReader([], **options)


def test_column_letters_follow_spreadsheet_naming():
    # Given column numbers
    # When they are named
    # Then they follow A..Z, AA..
    assert [column_letter(n) for n in (1, 26, 27, 52, 703)] == [
        "A",
        "Z",
        "AA",
        "AZ",
        "AAA",
    ]


def test_iterating_a_reader_and_calling_next_share_one_stream_of_rows():
    # Given a reader whose first row was taken with next()
    reader = GridReader([["sku"], ["A1"], ["A2"], ["A3"]])
    first = next(reader)

    # When the rest is iterated, with one more next() on the way
    numbers = [first.number]
    for row in reader:
        numbers.append(row.number)
        if row.number == 3:
            numbers.append(next(reader).number)

    # Then every row comes once, in order
    assert numbers == [2, 3, 4]


def test_a_row_made_by_make_row_is_the_same_as_a_constructed_row():
    # Given the fields of a row
    # When it is made both ways
    made = make_row(7, {"sku": "A1"}, "Stock")

    # Then the rows are equal and the made one is as frozen
    assert made == Row(7, {"sku": "A1"}, "Stock")
    with pytest.raises(AttributeError):
        made.number = 8


def test_a_row_starting_with_spaces_is_blank_only_if_every_cell_is():
    # Given rows whose first cell is spaces
    reader = GridReader([["a", "b"], ["  ", None], ["  ", 0], [None, "x"]])

    # When they are read
    rows = list(reader)

    # Then only the row with nothing in it is left out
    assert [row.values for row in rows] == [{"a": "  ", "b": 0}, {"a": None, "b": "x"}]
