"""Tests of formats.writers: column order, formula escaping, closing."""

from __future__ import annotations

import io

import pytest

from formats.errors import FormatError
from formats.writers import Writer, escape_formula


class ListWriter(Writer):
    """A writer that keeps rows in a list."""

    def __init__(self, **options):
        super().__init__(io.BytesIO(), **options)
        self.rows = []

    def write_cells(self, cells, number):
        self.rows.append((number, cells))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1+2", "'+1+2"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("-12.5", "-12.5"),
        ("+3", "+3"),
        ("plain", "plain"),
        (-5, -5),
        (None, None),
    ],
)
def test_escape_formula_defuses_formulas_and_leaves_real_numbers_alone(value, expected):
    # Given a cell value
    # When it is escaped
    # Then formulas get a single quote and numbers stay
    assert escape_formula(value) == expected


def test_a_writer_escapes_formulas_by_default_and_can_be_told_not_to():
    # Given two writers, one opting out
    escaping = ListWriter(columns=["a", "b"])
    plain = ListWriter(columns=["a", "b"], escape_formulas=False)

    # When the same row is written to both
    escaping.write_row(["=1+2", -3])
    plain.write_row({"a": "=1+2", "b": -3})

    # Then only the default writer adds the quote
    assert escaping.rows == [(1, ["'=1+2", -3])]
    assert plain.rows == [(1, ["=1+2", -3])]


def test_a_writer_refuses_rows_that_do_not_fit_its_columns():
    # Given a writer of two columns
    writer = ListWriter(columns=["a", "b"], name="out.csv")

    # When rows of the wrong length or with unknown keys are written
    with pytest.raises(FormatError) as too_short:
        writer.write_row(["x"])
    with pytest.raises(FormatError) as unknown:
        writer.write_row({"a": 1, "c": 2})

    # Then the errors say why, and a missing key is written empty
    assert "Expected 2 values" in str(too_short.value)
    assert "'c'" in str(unknown.value)
    writer.write_row({"b": 2})
    assert writer.rows == [(1, [None, 2])]


def test_a_closed_writer_refuses_rows():
    # Given a closed writer
    writer = ListWriter(columns=["a"])
    writer.close()

    # When a row is written
    # Then it is refused
    with pytest.raises(FormatError, match="closed"):
        writer.write_row(["x"])


def test_write_rows_checks_every_row_as_write_row_does():
    # Given a writer and rows as lists, tuples and dicts
    writer = ListWriter(columns=["a", "b"])

    # When they are written together, then a row that does not fit
    count = writer.write_rows([["=1", 2], ("x", None), {"b": 3}])
    with pytest.raises(FormatError, match="Expected 2 values"):
        writer.write_rows([["only one"]])
    writer.close()

    # Then each was escaped and numbered, and a closed writer refuses more
    assert count == 3
    assert writer.rows == [(1, ["'=1", 2]), (2, ["x", None]), (3, [None, 3])]
    with pytest.raises(FormatError, match="closed"):
        writer.write_rows([["x", "y"]])
