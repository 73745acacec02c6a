"""Tests of formats.errors: the error tree, places in messages, pickling."""

from __future__ import annotations

import pickle

import pytest

from formats.errors import (
    CellError,
    EncodingError,
    FormatError,
    HeaderError,
    LimitError,
    ParseError,
    ValueParseError,
    describe_place,
    gettext,
)


def test_an_error_message_starts_with_the_file_and_the_row():
    # Given an error placed in a file and a row
    error = EncodingError(
        "The bytes 0xff 0xfe cannot be read as UTF-8.", file="Product.csv", row=7
    )

    # When it is shown
    text = str(error)

    # Then the place comes first, and the parts stay readable
    assert text == "Product.csv, row 7: The bytes 0xff 0xfe cannot be read as UTF-8."
    assert error.reason == "The bytes 0xff 0xfe cannot be read as UTF-8."
    assert (error.file, error.row, error.sheet, error.column) == (
        "Product.csv",
        7,
        None,
        None,
    )


def test_a_place_names_sheet_and_column_when_they_are_known():
    # Given a full place
    # When it is described
    text = describe_place("stock.xlsx", "Stock", 5, "C")

    # Then every part is named in reading order
    assert text == "stock.xlsx, sheet Stock, row 5, column C"


def test_an_error_without_a_place_is_its_message_alone():
    # Given an error with no place
    # When it is shown
    # Then only the message is shown
    assert str(FormatError("Unknown format.")) == "Unknown format."


@pytest.mark.parametrize(
    "cls",
    [EncodingError, HeaderError, ParseError, CellError, LimitError, ValueParseError],
)
def test_every_error_is_a_format_error(cls):
    # Given any error class of the package
    # When it is checked against the base
    # Then one except clause catches them all
    assert issubclass(cls, FormatError)


def test_at_returns_a_copy_with_the_place_filled_in():
    # Given a value error that knows no place
    error = ValueParseError("Expected a date.", expected="a date", value="31/02")

    # When the caller adds the place
    placed = error.at(file="orders.csv", row=4, column="day")

    # Then the copy keeps its class and details, the original is unchanged
    assert isinstance(placed, ValueParseError)
    assert str(placed) == "orders.csv, row 4, column day: Expected a date."
    assert placed.expected == "a date" and placed.value == "31/02"
    assert str(error) == "Expected a date."


def test_an_error_keeps_its_place_through_pickling():
    # Given an error as a task queue would ship it to another process
    error = CellError(
        "The cell holds #DIV/0!.", file="a.xlsx", sheet="S", row=3, column="B"
    )

    # When it is pickled and loaded
    loaded = pickle.loads(pickle.dumps(error))

    # Then the class, place and message survive
    assert type(loaded) is CellError
    assert (loaded.file, loaded.sheet, loaded.row, loaded.column) == (
        "a.xlsx",
        "S",
        3,
        "B",
    )
    assert str(loaded) == str(error)


def test_gettext_returns_english_text_whether_or_not_django_is_ready():
    # Given an English message (Django may or may not be configured)
    # When it is translated in an English or unconfigured setting
    text = gettext("The file is empty.")

    # Then the text is returned and nothing raises
    assert text == "The file is empty."
