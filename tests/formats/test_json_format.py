"""Tests of formats.json_format: streamed arrays, JSON Lines, writers."""

from __future__ import annotations

import datetime
import io
import json
from decimal import Decimal

import pytest

from formats.errors import (
    CellError,
    EncodingError,
    FormatError,
    HeaderError,
    LimitError,
    ParseError,
)
from formats.json_format import (
    JsonLinesReader,
    JsonLinesWriter,
    JsonReader,
    JsonWriter,
    flatten,
)


class CountingFile(io.BytesIO):
    """An in-memory file that counts the bytes read from it."""

    bytes_read = 0

    def read(self, size=-1):
        data = super().read(size)
        self.bytes_read += len(data)
        return data


def test_nested_objects_stay_nested_and_columns_gather_every_key(sample):
    # Given an array of objects with a nested price
    reader = JsonReader(sample("nested.json"), name="nested.json")

    # When it is read
    rows = list(reader)

    # Then objects are rows numbered from 1, nested values stay dicts
    assert rows[0].number == 1
    assert rows[0].values["price"] == {"list": 5.5, "cost": 3}
    assert reader.columns == ["sku", "name", "price", "tags", "stock"]


def test_flatten_joins_nested_keys_with_dots(sample):
    # Given the same array
    # When it is read flattened
    rows = list(JsonReader(sample("nested.json"), flatten=True))

    # Then nested keys become dotted keys, lists stay lists
    assert rows[1].values == {
        "sku": "A2",
        "name": "Desk",
        "price.list": 120,
        "price.cost": None,
        "tags": [],
    }


def test_json_lines_are_numbered_by_line_and_blank_lines_are_skipped(sample):
    # Given JSON Lines with a blank third line
    # When they are read
    rows = list(JsonLinesReader(sample("lines.jsonl"), name="lines.jsonl"))

    # Then the rows carry their line numbers
    assert [(row.number, row.values["sku"]) for row in rows] == [
        (1, "A1"),
        (2, "A2"),
        (4, "A3"),
    ]


def test_malformed_json_is_reported_at_its_object_after_the_objects_before(sample):
    # Given an array whose second object has a trailing comma
    reader = JsonReader(sample("bad.json"), name="bad.json")

    # When it is read
    first = next(reader)
    with pytest.raises(ParseError) as caught:
        next(reader)

    # Then the first object came and the error names the second
    assert first.values == {"sku": "A1"}
    assert (caught.value.file, caught.value.row) == ("bad.json", 2)


def test_a_malformed_json_line_names_its_line_and_column():
    # Given a broken second line
    data = b'{"a": 1}\n{"a": }\n'

    # When it is read
    with pytest.raises(ParseError) as caught:
        list(JsonLinesReader(io.BytesIO(data), name="x.jsonl"))

    # Then line 2 is named
    assert caught.value.row == 2 and "column 7" in str(caught.value)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'{"a": 1}', "Expected a JSON array of objects"),
        (b"[1, 2]", "Expected a JSON object, found int"),
        (b'[{"a": 1}] tail', "Text follows the end"),
        (b"", "Expected a JSON array of objects"),
        (b'[{"a": 1} {"a": 2}]', "Expected ',' or ']'"),
        (b"[" * 100_000, "nests too deeply"),
    ],
)
def test_text_that_is_no_array_of_objects_is_a_parse_error(data, message):
    # Given JSON that is not an array of objects
    # When it is read
    # Then the parse error says what was expected
    with pytest.raises(ParseError, match=message):
        list(JsonReader(io.BytesIO(data)))


@pytest.mark.parametrize("reader", [JsonReader, JsonLinesReader])
def test_a_number_longer_than_python_reads_is_a_parse_error_at_its_row(reader):
    # Given a second object whose number has 5,000 digits, more than Python
    # turns into an integer
    data = b'{"a": 1}\n{"a": ' + b"7" * 5000 + b"}\n"
    if reader is JsonReader:
        data = b"[" + data.replace(b"}\n{", b"},{").rstrip() + b"]"

    # When it is read
    with pytest.raises(ParseError) as caught:
        list(reader(io.BytesIO(data), name="big.json"))

    # Then the error names the row and says why, not a bare ValueError
    assert caught.value.row == 2
    assert "A number has more than 4300 digits." in str(caught.value)


@pytest.mark.parametrize("reader", [JsonReader, JsonLinesReader])
def test_half_a_surrogate_pair_is_a_cell_error_at_its_key(reader):
    # Given an escape of half a UTF-16 pair, which decodes to no character,
    # beside a whole pair and an escaped backslash that only look like one
    data = (
        b'{"ok": "\\ud83d\\ude00 \\\\ud800"}\n'
        b'{"ok": "fine", "name": {"first": "x\\udc41"}}\n'
    )
    if reader is JsonReader:
        data = b"[" + data.replace(b"}\n{", b"},{").rstrip() + b"]"

    # When it is read
    rows = reader(io.BytesIO(data), name="people.json")
    first = next(iter(rows))
    with pytest.raises(CellError) as caught:
        list(rows)

    # Then the whole pair and the backslash read as text, and the lone half
    # is refused at its row and dotted key, never reaching a database
    assert first.values == {"ok": "\U0001f600 \\ud800"}
    assert (caught.value.row, caught.value.column) == (2, "name.first")
    assert "\\udc41, half of a UTF-16 surrogate pair" in str(caught.value)


def test_an_empty_array_has_no_rows():
    # Given "[]"
    # When it is read
    # Then there are no rows
    assert list(JsonReader(io.BytesIO(b" [ ] \n"))) == []


def test_a_large_array_is_read_one_object_at_a_time():
    # Given an array of about 8 MB
    items = [{"sku": f"A{n}", "name": "x" * 80, "price": n / 4} for n in range(80_000)]
    fileobj = CountingFile(json.dumps(items).encode())

    # When its first row is read
    reader = JsonReader(fileobj)
    first = next(reader)

    # Then only a chunk was read; the rest still reads correctly
    assert first.values["sku"] == "A0" and fileobj.bytes_read < 200_000
    rest = list(reader)
    assert len(rest) == 79_999 and rest[-1].values == items[-1]


def test_objects_and_numbers_cut_by_chunk_ends_are_read_whole():
    # Given objects with long strings and numbers placed across 64 KiB ends
    items = [{"n": 123456789 + n, "text": "é" * (7000 + n)} for n in range(40)]

    # When they are read
    rows = list(JsonReader(io.BytesIO(json.dumps(items, ensure_ascii=False).encode())))

    # Then every value is whole
    assert [row.values for row in rows] == items


def test_an_object_longer_than_the_limit_is_refused():
    # Given a long object and a small limit
    data = json.dumps([{"a": "x" * 200_000}]).encode()

    # When it is read
    # Then a limit error names the object
    with pytest.raises(LimitError) as caught:
        list(JsonReader(io.BytesIO(data), max_object_chars=100_000))
    assert caught.value.row == 1


def test_an_object_over_the_limit_is_refused_even_when_read_at_once():
    # Given a limit far below what the reader reads at a time, and a second
    # object of about 300 characters, read whole with the first
    data = json.dumps([{"a": "short"}, {"a": "x" * 300}]).encode()

    # When it is read
    rows = JsonReader(io.BytesIO(data), max_object_chars=100)
    first = next(iter(rows))
    with pytest.raises(LimitError) as caught:
        list(rows)

    # Then the short object is read and the long one refused
    assert first.values == {"a": "short"}
    assert caught.value.row == 2


def test_bad_bytes_are_reported_at_the_object_being_read():
    # Given a Latin-1 byte in a UTF-8 array
    data = b'[{"a": "ok"}, {"a": "caf\xe9"}]'

    # When it is read as UTF-8
    with pytest.raises(EncodingError) as caught:
        list(JsonReader(io.BytesIO(data), name="x.json", encoding="utf-8"))

    # Then an encoding error names the file
    assert caught.value.file == "x.json"


def test_flatten_refuses_two_paths_to_one_key():
    # Given a dotted key and a nested one that meet
    # When it is flattened
    # Then a header error names the key
    with pytest.raises(HeaderError, match="'a.b'"):
        flatten({"a.b": 1, "a": {"b": 2}})


def test_the_writer_writes_an_array_that_reads_back_with_nesting():
    # Given rows with dotted columns, dates and decimals
    output = io.BytesIO()
    columns = ["sku", "price.list", "price.cost", "added", "exact"]
    with JsonWriter(output, columns=columns, unflatten=True) as writer:
        writer.write_row(["A1", 5.5, None, datetime.date(2024, 1, 31), Decimal("0.10")])
        writer.write_row({"sku": "=A2"})

    # When the output is loaded
    loaded = json.loads(output.getvalue())

    # Then objects are nested, dates and decimals are text, nothing is escaped
    assert loaded == [
        {
            "sku": "A1",
            "price": {"list": 5.5, "cost": None},
            "added": "2024-01-31",
            "exact": "0.10",
        },
        {
            "sku": "=A2",
            "price": {"list": None, "cost": None},
            "added": None,
            "exact": None,
        },
    ]


def test_an_empty_writer_writes_an_empty_array_or_nothing():
    # Given writers with no rows
    array, lines = io.BytesIO(), io.BytesIO()
    JsonWriter(array, columns=["a"]).close()
    JsonLinesWriter(lines, columns=["a"]).close()

    # When their output is read
    # Then it is an empty array, and an empty file
    assert json.loads(array.getvalue()) == [] and lines.getvalue() == b""


def test_the_json_lines_writer_ends_every_line():
    # Given two rows
    output = io.BytesIO()
    with JsonLinesWriter(output, columns=["a"]) as writer:
        writer.write_rows([[1], ["é"]])

    # When the output is looked at
    # Then each object has its line
    assert output.getvalue() == '{"a": 1}\n{"a": "é"}\n'.encode()


def test_values_json_cannot_hold_are_cell_errors():
    # Given NaN
    writer = JsonWriter(io.BytesIO(), name="x.json", columns=["a"])

    # When it is written
    # Then a cell error names the row
    with pytest.raises(CellError) as caught:
        writer.write_row([float("nan")])
    assert caught.value.row == 1


def test_unflatten_refuses_a_column_under_another_column():
    # Given "a" and "a.b"
    # When a nesting writer is made
    # Then it is refused
    with pytest.raises(FormatError, match="'a.b'"):
        JsonWriter(io.BytesIO(), columns=["a", "a.b"], unflatten=True)
