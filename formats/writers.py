"""The writer class that every format builds on, and formula escaping.

A format's writer only stores a list of cells
(:meth:`Writer.write_cells`); column order, formula escaping and closing
are done here the same way for every format.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import IO, ClassVar

from formats.errors import FormatError
from formats.errors import gettext as _

__all__ = ["FORMULA_STARTS", "Writer", "escape_formula"]

# Characters that make a spreadsheet run a cell as a formula (OWASP "CSV
# injection"); TAB and CR are in the list because some spreadsheets strip
# them and then see the character behind.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:[.,]\d*)?|[.,]\d+)(?:[eE][+-]?\d+)?")


def escape_formula(value: object) -> object:
    """Defuse a text cell that a spreadsheet would run as a formula.

    Args:
        value: A cell value of any type.

    Returns:
        The value with a single quote in front when it is text starting
        with ``=``, ``+``, ``-``, ``@``, TAB or CR and is not a plain number
        such as ``-12.5``; any other value unchanged.
    """
    if not isinstance(value, str) or not value.startswith(FORMULA_STARTS):
        return value
    if _PLAIN_NUMBER.fullmatch(value):
        return value
    return "'" + value


class Writer:
    """Base of every writer: column order, formula escaping, closing.

    A writer does not close the file object it was given; :meth:`close`
    finishes the file (a spreadsheet is only complete after it).

    Args:
        fileobj: A binary file object open for writing.
        name: File name used in messages; ``None`` leaves it out.
        columns: Column names, in order.
        escape_formulas: Put a single quote before text that a spreadsheet
            would run as a formula (see :func:`escape_formula`).

    Raises:
        FormatError: If a column name is repeated.

    A subclass that sets ``escapes_in_write_cells`` gets the cells
    unescaped and escapes text itself, with :func:`escape_formula`, in the
    pass that converts the cells; a writer of millions of rows then looks
    at each cell once.
    """

    format_name: ClassVar[str] = ""
    escapes_formulas: ClassVar[bool] = True
    escapes_in_write_cells: ClassVar[bool] = False

    def __init__(
        self,
        fileobj: IO[bytes],
        *,
        name: str | None = None,
        columns: Sequence[str],
        escape_formulas: bool = True,
    ) -> None:
        self.fileobj = fileobj
        self.name = name
        self.columns = [str(column) for column in columns]
        if len(set(self.columns)) != len(self.columns):
            message = _("The columns %(columns)s name a column twice.")
            raise FormatError(message % {"columns": self.columns}, file=name)
        self.escape_formulas = escape_formulas and self.escapes_formulas
        self.rows_written = 0
        self.first_data_row = 1
        self.closed = False

    def write_row(self, values: Sequence | Mapping) -> None:
        """Write one row.

        Args:
            values: Values in column order, or a mapping keyed by column
                name (missing columns are written empty).

        Raises:
            FormatError: If the values do not fit the columns, a value
                cannot be stored, or the writer is closed.
        """
        number = self.first_data_row + self.rows_written
        if self.closed:
            raise FormatError(_("The writer is closed."), file=self.name, row=number)
        cells = self._ordered(values, number)
        if self.escape_formulas and not self.escapes_in_write_cells:
            # Checked here rather than by a call per cell: most cells are
            # not text starting like a formula.
            cells = [
                escape_formula(value)
                if isinstance(value, str) and value.startswith(FORMULA_STARTS)
                else value
                for value in cells
            ]
        self.write_cells(cells, number)
        self.rows_written += 1

    def write_rows(self, rows: Iterable[Sequence | Mapping]) -> int:
        """Write many rows.

        Args:
            rows: Rows as accepted by :meth:`write_row`.

        Returns:
            The number of rows written by this call.
        """
        before = self.rows_written
        write_row, write_cells = self.write_row, self.write_cells
        fast, width = self.escapes_in_write_cells, len(self.columns)
        for values in rows:
            # A list in column order, for a format that escapes in
            # write_cells, needs none of write_row's work.
            if fast and values.__class__ is list and len(values) == width:
                if self.closed:
                    write_row(values)  # Raises that the writer is closed.
                write_cells(values, self.first_data_row + self.rows_written)
                self.rows_written += 1
            else:
                write_row(values)
        return self.rows_written - before

    def close(self) -> None:
        """Finish the file; calling it again does nothing."""
        if not self.closed:
            self.closed = True
            self.finish()

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def write_cells(self, cells: list, number: int) -> None:
        """Store one row of cells; subclasses implement this.

        Args:
            cells: Values in column order, already escaped unless
                ``escapes_in_write_cells`` is set.
            number: The row's number in the output, for messages.
        """
        raise NotImplementedError

    def finish(self) -> None:
        """Complete the file; subclasses that buffer override this."""

    def _ordered(self, values: Sequence | Mapping, number: int) -> list:
        if isinstance(values, (list, tuple)) and len(values) == len(self.columns):
            return list(values)
        if isinstance(values, Mapping):
            unknown = [key for key in values if key not in self.columns]
            if unknown:
                message = _(
                    "The row names columns that the writer does not have: %(keys)s."
                )
                raise FormatError(
                    message % {"keys": unknown}, file=self.name, row=number
                )
            return [values.get(column) for column in self.columns]
        if isinstance(values, (str, bytes)) or len(values) != len(self.columns):
            message = _(
                "Expected %(expected)d values, one per column, found %(found)r."
            )
            filled = message % {"expected": len(self.columns), "found": values}
            raise FormatError(filled, file=self.name, row=number)
        return list(values)
