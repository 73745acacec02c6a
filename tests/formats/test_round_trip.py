"""Round trips: rows written by each writer read back with the same values."""

from __future__ import annotations

import datetime
import io

import pytest

from formats import open_reader, open_writer
from formats.values import parse_bool, parse_date, parse_datetime, parse_decimal

COLUMNS = ["sku", "name", "quantity", "price", "active", "added", "at", "note"]
ROWS = [
    [
        "AR-5381",
        "Adjustable Race",
        5,
        2.5,
        True,
        datetime.date(2024, 1, 31),
        datetime.datetime(2024, 1, 31, 10, 30, 15),
        None,
    ],
    [
        "BA-8327",
        'Bearing Ball, "small"\nsecond line',
        -3,
        0.1,
        False,
        datetime.date(1999, 12, 31),
        datetime.datetime(2000, 2, 29, 23, 59),
        "ünïcødé €",
    ],
]


def write_and_read(format_name, rows, **options):
    output = io.BytesIO()
    with open_writer(
        output, name=f"out.{format_name}", columns=COLUMNS, **options
    ) as writer:
        writer.write_rows(rows)
    output.seek(0)
    return list(open_reader(output, name=f"out.{format_name}"))


@pytest.mark.parametrize("format_name", ["xlsx", "xls"])
def test_spreadsheets_give_back_the_same_values_and_types(format_name):
    # Given rows of text, numbers, booleans, dates and datetimes
    # When they are written and read back
    rows = write_and_read(format_name, ROWS)

    # Then every value and its type come back, in sheet row numbers
    assert [row.number for row in rows] == [2, 3]
    for row, expected in zip(rows, ROWS):
        assert list(row.values.values()) == expected
        assert [type(value) for value in row.values.values()] == [
            type(value) for value in expected
        ]


@pytest.mark.parametrize("format_name", ["json", "jsonl"])
def test_json_gives_back_json_values_and_dates_as_iso_text(format_name):
    # Given the same rows
    # When they are written and read back
    rows = write_and_read(format_name, ROWS)

    # Then JSON types come back as they were, dates as ISO text
    first = rows[0].values
    assert first["quantity"] == 5 and first["price"] == 2.5 and first["active"] is True
    assert first["note"] is None and rows[1].values["name"] == ROWS[1][1]
    assert parse_date(first["added"]) == ROWS[0][5]
    assert parse_datetime(first["at"]) == ROWS[0][6]


@pytest.mark.parametrize(
    "dialect",
    [
        {},
        {"delimiter": ";", "encoding": "utf-8-sig"},
        {"delimiter": "\t", "encoding": "utf-16"},
        {"delimiter": "+|", "record_terminator": "&|\n"},
    ],
)
def test_csv_gives_back_text_that_parses_to_the_same_values(dialect):
    # Given the same rows and a dialect
    reading = {key: value for key, value in dialect.items() if key != "encoding"}

    # When they are written and read back with the dialect
    output = io.BytesIO()
    with open_writer(output, name="out.csv", columns=COLUMNS, **dialect) as writer:
        writer.write_rows(ROWS)
    output.seek(0)
    rows = list(open_reader(output, name="out.csv", **reading))

    # Then text is exact and the typed values parse back
    assert [row.number for row in rows[:2]] == [2, 3]
    for row, expected in zip(rows, ROWS):
        values = row.values
        assert (values["sku"], values["name"]) == (expected[0], expected[1])
        assert int(values["quantity"]) == expected[2]
        assert parse_decimal(values["price"]) == parse_decimal(expected[3])
        assert parse_bool(values["active"]) is expected[4]
        assert parse_date(values["added"]) == expected[5]
        assert parse_datetime(values["at"]) == expected[6]
        assert (values["note"] or None) == expected[7]
