"""Tests of formats.decoding: encoding detection and numbered lines."""

from __future__ import annotations

import codecs
import io

import pytest

from formats.decoding import CHUNK_SIZE, TextSource, detect_encoding
from formats.errors import EncodingError, LimitError


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (codecs.BOM_UTF8 + b"a,b\n", "utf-8-sig"),
        ("a,b\n".encode("utf-16"), "utf-16"),
        ("a,b\n".encode("utf-32"), "utf-32"),
        ("sku,name\n".encode("utf-16-le"), "utf-16-le"),
        ("sku,name\n".encode("utf-16-be"), "utf-16-be"),
        ("Lämp\n".encode(), "utf-8"),
        ("Lämp\n".encode("cp1252"), "cp1252"),
        (b"plain ascii\n", "utf-8"),
    ],
)
def test_the_encoding_is_detected_from_the_first_bytes(data, expected):
    # Given the start of a file
    # When its encoding is guessed
    # Then the byte order mark, the zeros of UTF-16 or UTF-8 validity decide
    assert detect_encoding(data, complete=True) == expected


def test_a_utf8_character_cut_by_the_sample_end_still_counts_as_utf8():
    # Given a sample that ends inside a two-byte character
    sample = "ä".encode() * 10 + "ä".encode()[:1]

    # When it is checked as part of a longer file
    # Then UTF-8 is kept
    assert detect_encoding(sample, complete=False) == "utf-8"


def test_lines_keep_their_ends_and_split_on_lf_crlf_and_cr():
    # Given text with the three kinds of line end
    source = TextSource(io.BytesIO(b"a\nb\r\nc\rd"))

    # When its lines are read
    lines = list(source.lines())

    # Then each kind ends a line and the last line needs no end
    assert lines == ["a\n", "b\r\n", "c\r", "d"]
    assert source.line_number == 4


@pytest.mark.parametrize("text", ["a\fb\x1cc\n", "Lämp\x85 \u2028x\n"])
def test_form_feeds_and_unicode_separators_do_not_end_a_line(text):
    # Given a line holding characters that str.splitlines would break at,
    # in ASCII text and in text with other characters
    source = TextSource(io.BytesIO((text + "next\n").encode()))

    # When its lines are read
    lines = list(source.lines())

    # Then only the line feeds end lines
    assert lines == [text, "next\n"]


def test_a_crlf_split_between_two_chunks_stays_one_line_end():
    # Given a CRLF whose CR ends the first 64 KiB chunk
    first = b"x" * (CHUNK_SIZE - 1) + b"\r"
    source = TextSource(io.BytesIO(first + b"\nsecond\n"))

    # When the lines are read
    lines = list(source.lines())

    # Then the CRLF ends one line, not two
    assert [len(line) for line in lines] == [CHUNK_SIZE + 1, 7]


def test_undecodable_bytes_raise_on_their_line_after_the_lines_before():
    # Given UTF-8 text with bad bytes on its third line
    source = TextSource(
        io.BytesIO(b"one\ntwo\nbad \xff\xfe\nfour\n"),
        encoding="utf-8",
        name="Product.csv",
    )
    lines = source.lines()

    # When the lines are read
    before = [next(lines), next(lines)]
    with pytest.raises(EncodingError) as caught:
        next(lines)

    # Then the good lines came first and the error names the bytes and line
    assert before == ["one\n", "two\n"]
    assert str(caught.value) == (
        "Product.csv, row 3: The bytes 0xff 0xfe cannot be read as UTF-8."
    )


def test_an_unknown_encoding_name_is_an_encoding_error():
    # Given an encoding name that does not exist
    # When a source is opened with it
    # Then an encoding error says so
    with pytest.raises(EncodingError, match="'klingon'"):
        TextSource(io.BytesIO(b"a"), encoding="klingon")


def test_a_line_longer_than_the_limit_is_refused():
    # Given a long line and a small limit
    source = TextSource(
        io.BytesIO(b"x" * (CHUNK_SIZE * 2) + b"\n"), max_line_chars=1000
    )

    # When it is read
    # Then a limit error names the line
    with pytest.raises(LimitError) as caught:
        list(source.lines())
    assert caught.value.row == 1


def test_chunks_report_undecodable_bytes_without_a_row():
    # Given bad bytes in a JSON-like text
    source = TextSource(io.BytesIO(b'[{"a": "\xff"}]'), encoding="utf-8")

    # When its chunks are read
    # Then an encoding error is raised for the caller to place
    with pytest.raises(EncodingError) as caught:
        list(source.chunks())
    assert caught.value.row is None


def test_batches_give_the_lines_of_lines_in_one_list_per_chunk():
    # Given text of more than two chunks of short lines
    data = b"".join(b"line %d\r\n" % number for number in range(20_000))

    # When it is read in batches and line by line
    batches = list(TextSource(io.BytesIO(data)).batches())
    lines = list(TextSource(io.BytesIO(data)).lines())

    # Then the batches hold the same lines, a chunk's worth each
    assert [line for batch in batches for line in batch] == lines
    assert len(lines) == 20_000
    assert len(batches) == -(-len(data) // CHUNK_SIZE)


def test_batches_hand_out_the_lines_before_bad_bytes_then_raise_on_their_line():
    # Given bad bytes in a line that a chunk boundary cuts
    good = b"".join(b"%05d\n" % number for number in range(CHUNK_SIZE // 6))
    data = good + b"x" * 100 + b"\xff bad\nafter\n"
    source = TextSource(io.BytesIO(data), encoding="utf-8", name="Product.csv")
    assert len(good) < CHUNK_SIZE < len(good) + 100

    # When the batches are read
    received = []
    with pytest.raises(EncodingError) as caught:
        for batch in source.batches():
            received.extend(batch)

    # Then every good line came first and the error names the next line
    assert len(received) == CHUNK_SIZE // 6
    assert caught.value.row == CHUNK_SIZE // 6 + 1
    assert "0xff" in str(caught.value)
