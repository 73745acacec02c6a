"""Tests of formats.registry: guessing formats and opening readers."""

from __future__ import annotations

import io

import pytest

import formats
from formats import (
    FormatError,
    Row,
    formats_for_name,
    get_format,
    open_reader,
    open_writer,
    register_format,
)
from formats.base import TableReader
from formats.csv_format import CsvReader
from formats.registry import _FORMATS


class ListReader(TableReader):
    """A third-party reader of one cell per line of text."""

    def read_cells(self):
        for number, line in enumerate(
            self.fileobj.read().decode().splitlines(), start=1
        ):
            yield number, [line]


@pytest.fixture
def registry_snapshot():
    """Restore the table of formats after a test that registers one."""
    saved = dict(_FORMATS)
    yield
    _FORMATS.clear()
    _FORMATS.update(saved)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Product.csv", "csv"),
        ("export.TSV", "csv"),
        ("notes.txt", "csv"),
        ("stock.xlsx", "xlsx"),
        ("old.xls", "xls"),
        ("a/b/items.json", "json"),
        ("events.jsonl", "jsonl"),
    ],
)
def test_the_format_is_guessed_from_the_extension(name, expected):
    # Given a file name
    # When formats are looked up by it
    # Then the format of its extension comes first
    assert formats_for_name(name)[0].name == expected


def test_an_unknown_name_matches_no_format():
    # Given a name with an unknown extension
    # When formats are looked up
    # Then none matches
    assert formats_for_name("photo.gif") == []


def test_an_unknown_format_name_lists_the_known_ones():
    # Given a format name nobody registered
    # When it is asked for
    with pytest.raises(FormatError) as caught:
        get_format("parquet")

    # Then the message lists the known formats
    assert "csv, json, jsonl, xls, xlsx" in str(caught.value)


def test_open_reader_guesses_the_format_and_passes_the_options(sample):
    # Given a TAB file named .csv and no format
    reader = open_reader(
        sample("headerless_tab.csv"),
        name="headerless_tab.csv",
        header=False,
        max_rows=10,
    )

    # When it is read
    rows = list(reader)

    # Then the CSV reader read it with the options
    assert isinstance(reader, CsvReader)
    assert rows[0] == Row(1, rows[0].values) and rows[0].values[3] == "AR-5381"


def test_open_reader_refuses_a_name_it_cannot_place():
    # Given a file name without a known extension and no format
    # When a reader is asked for
    # Then the error asks for a format
    with pytest.raises(FormatError, match="cannot be told from its name"):
        open_reader(io.BytesIO(b""), name="upload.bin")


def test_an_option_that_does_not_apply_to_the_format_is_named():
    # Given a CSV option passed to an XLSX reader
    # When the reader is opened
    with pytest.raises(FormatError) as caught:
        open_reader(io.BytesIO(b""), name="a.xlsx", delimiter=";")

    # Then the option and the accepted ones are named
    assert "delimiter" in str(caught.value) and "max_unpacked_bytes" in str(
        caught.value
    )


def test_a_third_party_format_can_be_registered_and_opened(registry_snapshot):
    # Given a reader registered under a new name and extension
    register_format("lines", reader_class=ListReader, extensions=("LST",))

    # When a file of that extension is opened
    rows = list(open_reader(io.BytesIO(b"sku\nA1\nA2\n"), name="items.lst"))

    # Then the new reader is used with the shared header rules
    assert [row.values for row in rows] == [{"sku": "A1"}, {"sku": "A2"}]
    assert get_format("LINES").extensions == (".lst",)


def test_a_format_without_a_writer_cannot_be_written(registry_snapshot):
    # Given a read-only format
    register_format("lines", reader_class=ListReader)

    # When a writer is asked for
    # Then the error says it can only be read
    with pytest.raises(FormatError, match="read but not written"):
        open_writer(io.BytesIO(), format="lines", columns=["a"])


def test_the_package_exports_the_public_interface():
    # Given the package
    # When its names are listed
    # Then the interface the project relies on is there
    for name in (
        "open_reader",
        "open_writer",
        "get_format",
        "register_format",
        "formats_for_name",
        "Row",
        "FormatError",
        "EncodingError",
        "HeaderError",
        "ParseError",
        "CellError",
        "LimitError",
    ):
        assert hasattr(formats, name)
