"""Tests of formats.values: parsing dates, numbers and booleans."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest

from formats.errors import FormatError, ValueParseError
from formats.values import (
    parse_bool,
    parse_date,
    parse_datetime,
    parse_decimal,
    parse_int,
    parse_text,
)


@pytest.mark.parametrize(
    "parse",
    [parse_text, parse_bool, parse_date, parse_datetime, parse_decimal, parse_int],
)
@pytest.mark.parametrize("empty", [None, "", "   "])
def test_an_empty_cell_gives_none(parse, empty):
    # Given an empty cell: None, an empty string or spaces
    # When any parser reads it
    # Then it means "no value"
    assert parse(empty) is None


def test_text_is_stripped_unless_asked_not_to():
    # Given text with spaces
    # When it is parsed
    # Then surrounding spaces go unless strip is off
    assert parse_text("  M ") == "M"
    assert parse_text("M ", strip=False) == "M "
    assert parse_text(12) == "12"


@pytest.mark.parametrize(
    ("text", "options", "expected"),
    [
        ("2024-01-31", {}, datetime.date(2024, 1, 31)),
        ("31/01/2024", {"day_first": True}, datetime.date(2024, 1, 31)),
        ("31.01.2024", {"day_first": True}, datetime.date(2024, 1, 31)),
        ("01/31/2024", {"day_first": False}, datetime.date(2024, 1, 31)),
        ("2024-01-31", {"day_first": False}, datetime.date(2024, 1, 31)),
        ("31 Jan 2024", {"formats": ["%d %b %Y"]}, datetime.date(2024, 1, 31)),
        (datetime.datetime(2024, 1, 31, 10), {}, datetime.date(2024, 1, 31)),
        (datetime.date(2024, 1, 31), {}, datetime.date(2024, 1, 31)),
    ],
)
def test_dates_are_read_in_iso_and_the_configured_order(text, options, expected):
    # Given a date in some form
    # When it is parsed
    # Then the date is found
    assert parse_date(text, **options) == expected


@pytest.mark.parametrize(
    ("text", "options"),
    [
        ("31/01/2024", {}),
        ("2024-02-30", {}),
        ("13/31/2024", {"day_first": True}),
        ("soon", {"day_first": False}),
        (12, {}),
    ],
)
def test_a_wrong_date_says_what_was_expected_and_found(text, options):
    # Given something that is not a date in the configured order
    # When it is parsed
    with pytest.raises(ValueParseError) as caught:
        parse_date(text, **options)

    # Then the error shows an example and the value
    assert "Expected a date such as 2024-01-31" in str(caught.value)
    assert repr(text) in str(caught.value) and caught.value.value == text
    assert isinstance(caught.value, FormatError)


@pytest.mark.parametrize(
    ("text", "options", "expected"),
    [
        ("2019-04-30 00:00:00.000", {}, datetime.datetime(2019, 4, 30)),
        (
            "2025-02-07 10:01:36.827",
            {},
            datetime.datetime(2025, 2, 7, 10, 1, 36, 827000),
        ),
        (
            "2024-01-31T10:00:00+01:00",
            {},
            datetime.datetime(
                2024, 1, 31, 10, tzinfo=datetime.timezone(datetime.timedelta(hours=1))
            ),
        ),
        (
            "31/01/2024 10:05",
            {"day_first": True},
            datetime.datetime(2024, 1, 31, 10, 5),
        ),
        (
            "01/31/2024 10:05:07",
            {"day_first": False},
            datetime.datetime(2024, 1, 31, 10, 5, 7),
        ),
        ("31/01/2024", {"day_first": True}, datetime.datetime(2024, 1, 31)),
        (datetime.date(2024, 1, 31), {}, datetime.datetime(2024, 1, 31)),
    ],
)
def test_datetimes_are_read_with_an_optional_time(text, options, expected):
    # Given a date and time in some form
    # When it is parsed
    # Then the datetime is found
    assert parse_datetime(text, **options) == expected


def test_a_wrong_datetime_says_what_was_expected():
    # Given a broken time
    # When it is parsed
    # Then the error shows an example with a time
    with pytest.raises(ValueParseError, match="2024-01-31 10:00"):
        parse_datetime("31/01/2024 25:00", day_first=True)


@pytest.mark.parametrize(
    ("text", "options", "expected"),
    [
        (".0000", {}, Decimal("0.0000")),
        ("1,234.50", {}, Decimal("1234.50")),
        ("-1 234 567.5", {}, Decimal("-1234567.5")),
        ("1.234,50", {"decimal_point": ","}, Decimal("1234.50")),
        ("12,50", {"decimal_point": ","}, Decimal("12.50")),
        ("+7", {}, Decimal("7")),
        ("1'000", {}, Decimal("1000")),
        (5, {}, Decimal(5)),
        (0.1, {}, Decimal("0.1")),
    ],
)
def test_decimals_are_read_with_point_or_comma_and_thousands(text, options, expected):
    # Given a number in some form
    # When it is parsed
    # Then it is exact
    assert parse_decimal(text, **options) == expected


@pytest.mark.parametrize(
    ("text", "options"),
    [
        ("1,23", {}),
        ("1,234,5", {}),
        ("12.50", {"decimal_point": ","}),
        ("1e5", {}),
        ("$5", {}),
        ("1,234", {"thousands": ()}),
        ("-", {}),
        (True, {}),
        ("١٢", {}),
    ],
)
def test_a_wrong_number_says_what_was_expected(text, options):
    # Given text that is no number in the configured style
    # When it is parsed
    # Then the error shows an example
    with pytest.raises(ValueParseError, match="Expected a number"):
        parse_decimal(text, **options)


def test_whole_numbers_accept_grouping_and_whole_decimals_only():
    # Given whole numbers and a fraction
    # When they are parsed
    # Then whole ones pass and the fraction is refused
    assert parse_int("1,234") == 1234
    assert parse_int(7.0) == 7
    assert parse_int("-3") == -3
    with pytest.raises(ValueParseError, match="whole number"):
        parse_int("1.5")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("yes", True),
        ("No", False),
        ("1", True),
        ("0", False),
        ("TRUE", True),
        ("off", False),
        ("y", True),
        (True, True),
        (0, False),
        (1, True),
    ],
)
def test_booleans_accept_the_usual_spellings(value, expected):
    # Given a yes/no spelling
    # When it is parsed
    # Then the boolean is found
    assert parse_bool(value) is expected


def test_booleans_take_custom_words_and_refuse_others():
    # Given French words
    # When they are parsed with custom sets
    # Then they work, and unknown words are refused
    assert parse_bool("Oui", true={"oui"}, false={"non"}) is True
    with pytest.raises(ValueParseError, match="yes or no"):
        parse_bool("maybe")
    with pytest.raises(ValueParseError):
        parse_bool(2)
