"""Tests of formats.delimited: sniffing and multi-character dialects."""

from __future__ import annotations

import pytest

from formats.delimited import join_record, sniff_delimiter, split_records, take_record
from formats.errors import LimitError, ParseError


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (["sku,name\n", "A1,Lamp\n"], ","),
        (["sku;name;price\n", "A1;Lamp;1,50\n", "A2;Desk;12,00\n"], ";"),
        (["1\tAdjustable Race\tAR-5381\n", "2\tBearing Ball\tBA-8327\n"], "\t"),
        (["a|b|c\n", "1|2, 3|4\n"], "|"),
        (["sku,name\n", 'A1,"Lamp; small; red"\n'], ","),
        (["single column\n", "value\n"], ","),
    ],
)
def test_the_delimiter_is_the_one_that_splits_lines_consistently(lines, expected):
    # Given the first lines of a file
    # When the delimiter is sniffed
    # Then the consistent one wins, quoted text does not count
    assert sniff_delimiter(lines) == expected


def test_a_record_splits_on_a_multi_character_delimiter_and_terminator():
    # Given a ProductPhoto-style record with a tab and comma in its data
    buffer = "1+|4749\t46,38+|name.gif&|\nnext"

    # When the first record is taken
    fields, used = take_record(buffer, "+|", "&|\n", '"')

    # Then only the two-character marks split it
    assert fields == ["1", "4749\t46,38", "name.gif"]
    assert buffer[used:] == "next"


def test_a_quoted_field_may_hold_the_delimiter_and_doubled_quotes():
    # Given a quoted field with the delimiter and a doubled quote
    buffer = '"a+|b ""c"""+|d&|\n'

    # When it is split
    fields, _used = take_record(buffer, "+|", "&|\n", '"')

    # Then the quotes protect the content
    assert fields == ['a+|b "c"', "d"]


def test_records_carry_the_line_where_they_start():
    # Given records, one spanning two lines, and a blank line between
    lines = ["1+|a&|\n", "\n", "2+|b\n", "c&|\n", "3+|d&|"]

    # When they are split
    records = list(split_records(lines, delimiter="+|", terminator="&|\n"))

    # Then each record names its first line; the last lacks its line feed
    assert records == [(1, ["1", "a"]), (3, ["2", "b\nc"]), (5, ["3", "d"])]


def test_crlf_files_match_a_terminator_that_ends_in_lf():
    # Given a Windows copy of a "&|" LF file
    lines = ["1+|a&|\r\n", "2+|b&|\r\n"]

    # When it is split with the LF terminator
    records = list(split_records(lines, delimiter="+|", terminator="&|\n"))

    # Then the CR does not stick to the data
    assert records == [(1, ["1", "a"]), (2, ["2", "b"])]


def test_an_unclosed_quote_names_the_line_where_its_record_starts():
    # Given a quote never closed on line 2
    lines = ["1+|a&|\n", '2+|"b&|\n', "3+|c&|\n"]

    # When the records are split
    records = split_records(lines, delimiter="+|", terminator="&|\n")
    first = next(records)
    with pytest.raises(ParseError) as caught:
        next(records)

    # Then the first record came and the error names line 2
    assert first == (1, ["1", "a"])
    assert caught.value.row == 2


def test_a_record_that_never_ends_is_stopped_by_the_limit():
    # Given lines with no terminator at all
    lines = ["x" * 100 + "\n"] * 50

    # When they are split with a small limit
    # Then a limit error names the record's first line
    with pytest.raises(LimitError) as caught:
        list(
            split_records(
                lines, delimiter="+|", terminator="&|\n", max_record_chars=1000
            )
        )
    assert caught.value.row == 1


def test_joined_records_split_back_into_the_same_fields():
    # Given awkward cells
    cells = ["plain", "with+|mark", 'a "quote"', "two\nlines", ""]

    # When they are joined and split again
    text = join_record(cells, "+|", "&|\n", '"')
    fields, used = take_record(text, "+|", "&|\n", '"')

    # Then nothing is lost
    assert fields == cells and used == len(text)


def test_joining_a_separator_without_a_quote_character_is_refused():
    # Given a cell holding the delimiter and no quote character
    # When it is joined
    # Then a parse error says why
    with pytest.raises(ParseError, match="quote character"):
        join_record(["a+|b"], "+|", "&|\n", None)
