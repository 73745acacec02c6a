"""The batched CSV row path gives exactly what the row-by-row path gives.

``CsvReader.read_rows`` builds the usual rows a batch at a time and sends
any batch with something unusual in it (a record over several lines, a
ragged or blank row, the end of the range, the row cap) through the
row-by-row loop of ``formats.base.TableReader``. Random files, cut into
batches of a few records, are read both ways and must give the same rows,
and the same error after the same rows.
"""

from __future__ import annotations

import io
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from formats import csv_format
from formats.base import TableReader
from formats.csv_format import CsvReader
from formats.errors import FormatError

FIELD = st.one_of(
    st.sampled_from(["a", "b c", " padded ", "", "1.5", "x;y"]),
    st.sampled_from(['"two\nlines"', '"cr\rlf"', '"crlf\r\nend"', '"q ""x"""']),
)
RECORD = st.lists(FIELD, min_size=0, max_size=4).map(",".join)
LINE_END = st.sampled_from(["\n", "\r\n"])
OPTIONS = st.fixed_dictionaries(
    {},
    optional={
        "header": st.booleans(),
        "first_row": st.integers(1, 8),
        "last_row": st.integers(1, 40),
        "max_rows": st.integers(1, 30),
        "stop_at_blank": st.booleans(),
        "skip_blank": st.booleans(),
    },
)


def read_both(data: bytes, options: dict) -> tuple[tuple, tuple]:
    def outcome(rows_of) -> tuple:
        rows = []
        try:
            reader = CsvReader(
                io.BytesIO(data), name="random.csv", delimiter=",", **options
            )
            for row in rows_of(reader):
                rows.append(tuple(row))
        except FormatError as error:
            return rows, (type(error), str(error))
        return rows, None

    return outcome(CsvReader.read_rows), outcome(TableReader.read_rows)


@settings(
    max_examples=int(os.environ.get("FORMATS_FUZZ_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    header=st.lists(st.sampled_from(["id", "name", "price", "note"]), max_size=4),
    records=st.lists(RECORD, max_size=40),
    line_end=LINE_END,
    options=OPTIONS,
    tail=st.sampled_from([b"", b"\n", b'"unclosed', b"bad \xff byte\n"]),
)
def test_batched_rows_equal_rows_read_one_by_one(
    header, records, line_end, options, tail, monkeypatch
):
    # Given batches of three records, and a random file read with random
    # options
    monkeypatch.setattr(csv_format, "BATCH_ROWS", 3)
    header_line = ",".join(dict.fromkeys(header))
    text = line_end.join([header_line, *records]) + line_end
    data = text.encode("utf-8") + tail

    # When it is read by the batched path and by the row-by-row loop
    batched, one_by_one = read_both(data, options)

    # Then both give the same rows, and the same error if any
    assert batched == one_by_one


@pytest.mark.parametrize("batch_rows", [1, 2, 256])
def test_an_undecodable_line_comes_after_every_row_before_it(batch_rows, monkeypatch):
    # Given 600 good rows and a line that is not UTF-8
    monkeypatch.setattr(csv_format, "BATCH_ROWS", batch_rows)
    good = "".join(f"{n},item {n}\n" for n in range(600))
    data = ("id,name\n" + good).encode() + b"601,caf\xe9\n"

    # When it is read
    reader = CsvReader(io.BytesIO(data), name="odd.csv", encoding="utf-8")
    rows = []
    with pytest.raises(FormatError) as raised:
        rows.extend(reader)

    # Then all 600 rows came first, numbered by line, and the error names
    # line 602
    assert [row.number for row in rows] == list(range(2, 602))
    assert rows[-1].values == {"id": "599", "name": "item 599"}
    assert "602" in str(raised.value)
