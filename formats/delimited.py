"""Delimiter sniffing, and records split by multi-character separators.

Python's :mod:`csv` module reads one-character delimiters only. ERP dumps
such as AdventureWorks' ``ProductPhoto.csv`` separate fields with ``+|``
and end records with ``&|`` and a line feed, so that tabs, commas and line
feeds may stand in the data unquoted; :func:`split_records` reads those.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator

from formats.errors import LimitError, ParseError
from formats.errors import gettext as _

__all__ = ["DELIMITERS", "join_record", "sniff_delimiter", "split_records"]

# Order settles ties: a file of "1,5;2,5" lines is a semicolon file with
# decimal commas far more often than a comma file with semicolons in it.
DELIMITERS = ("\t", ";", "|", ",")
MAX_RECORD_CHARS = 64 * 1024 * 1024
_LINE_BREAKS = "\r\n"


def sniff_delimiter(lines: Iterable[str], quotechar: str | None = '"') -> str:
    """Pick the delimiter that splits the sample lines most consistently.

    Args:
        lines: The first lines of the file.
        quotechar: Quote character; quoted text is not counted.

    Returns:
        One of TAB, ``;``, ``|`` and ``,``: the one found in most lines the
        same number of times, then the most often; ``,`` when none is found.

    Limitation: multi-character delimiters are not sniffed; a ``+|`` file
    is seen as ``|``-separated unless ``delimiter="+|"`` is given.
    """
    if quotechar:
        quoted = re.compile(
            f"{re.escape(quotechar)}[^{re.escape(quotechar)}]*(?:"
            f"{re.escape(quotechar)}|$)"
        )
        sample = [quoted.sub("", line) for line in lines if line.strip()]
    else:
        sample = [line for line in lines if line.strip()]
    best, best_score = ",", (0.0, 0)
    for delimiter in DELIMITERS:
        counts = [line.count(delimiter) for line in sample]
        usual, times = Counter(counts).most_common(1)[0] if counts else (0, 0)
        if usual == 0:
            continue
        score = (times / len(counts), usual)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _quoted_field(
    buffer: str, position: int, quotechar: str, final: bool
) -> tuple[str, int] | None:
    parts, start = [], position + 1
    while True:
        end = buffer.find(quotechar, start)
        if end < 0 or (end + 1 == len(buffer) and not final):
            if final:
                raise ParseError(_("A quoted field starts here and is never closed."))
            return None
        if buffer.startswith(quotechar, end + 1):
            parts.append(buffer[start : end + 1])
            start = end + 2
            continue
        parts.append(buffer[start:end])
        return "".join(parts), end + 1


def take_record(
    buffer: str,
    delimiter: str,
    terminator: str,
    quotechar: str | None,
    *,
    final: bool = False,
) -> tuple[list[str], int] | None:
    """Split the first record off the front of ``buffer``.

    Args:
        buffer: Text starting at a record.
        delimiter: Field separator, one or more characters.
        terminator: Record terminator, one or more characters.
        quotechar: Quote character, or ``None`` when fields are never
            quoted.
        final: ``True`` when no more text follows; the end of the buffer
            then ends the record.

    Returns:
        The fields and the length of text used, or ``None`` when the
        buffer holds no whole record yet.

    Raises:
        ParseError: If a quote is never closed, or is followed by
            something other than a delimiter or terminator.
    """
    fields: list[str] = []
    position = 0
    while True:
        if quotechar and buffer.startswith(quotechar, position):
            found = _quoted_field(buffer, position, quotechar, final)
            if found is None:
                return None
            value, position = found
            rest = buffer[position : position + len(terminator)]
            if buffer.startswith(terminator, position) or (final and not rest):
                fields.append(value)
                return fields, position + len(terminator) if rest else position
            if buffer.startswith(delimiter, position):
                fields.append(value)
                position += len(delimiter)
                continue
            if not final and (
                terminator.startswith(rest) or delimiter.startswith(rest)
            ):
                return None
            message = _("A closing quote is followed by %(found)r, not by a delimiter.")
            raise ParseError(message % {"found": buffer[position : position + 10]})
        next_delimiter = buffer.find(delimiter, position)
        next_terminator = buffer.find(terminator, position)
        if next_terminator >= 0 and (
            next_delimiter < 0 or next_terminator <= next_delimiter
        ):
            fields.append(buffer[position:next_terminator])
            return fields, next_terminator + len(terminator)
        if next_delimiter >= 0:
            fields.append(buffer[position:next_delimiter])
            position = next_delimiter + len(delimiter)
            continue
        if not final:
            return None
        fields.append(buffer[position:])
        return fields, len(buffer)


def _trim_end(buffer: str, terminator: str) -> str:
    # The last record may lack its line feed, or its whole terminator.
    if buffer.endswith("\r\n"):
        buffer = buffer[:-2]
    elif buffer.endswith(("\n", "\r")):
        buffer = buffer[:-1]
    core = terminator.rstrip(_LINE_BREAKS)
    if core and buffer.endswith(core):
        buffer = buffer[: -len(core)]
    return buffer


def _take_at(
    start: int, *args: object, final: bool = False
) -> tuple[list[str], int] | None:
    try:
        return take_record(*args, final=final)
    except ParseError as error:
        raise error.at(row=start) from None


def split_records(
    lines: Iterable[str],
    *,
    delimiter: str,
    terminator: str,
    quotechar: str | None = '"',
    max_record_chars: int = MAX_RECORD_CHARS,
) -> Iterator[tuple[int, list[str]]]:
    """Yield the records of text read line by line, with their first line.

    Line breaks between records, and one right after a terminator that
    does not end in a line feed, are skipped. When the terminator ends in
    LF without CR, a CRLF at the end of a line is read as LF.

    Args:
        lines: Lines with their line ends, as from
            :meth:`formats.decoding.TextSource.lines`.
        delimiter: Field separator, one or more characters.
        terminator: Record terminator, one or more characters.
        quotechar: Quote character, or ``None``.
        max_record_chars: Longest record allowed, in characters.

    Returns:
        An iterator of ``(line number where the record starts, fields)``.

    Raises:
        ParseError: If the quoting is malformed (the error has no row;
            the caller adds it).
        LimitError: If a record grows past ``max_record_chars``.
    """
    fold_crlf = terminator.endswith("\n") and "\r" not in terminator
    buffer, start = "", 0
    for number, line in enumerate(lines, start=1):
        if fold_crlf and line.endswith("\r\n"):
            line = line[:-2] + "\n"
        if not buffer:
            line = line.lstrip(_LINE_BREAKS)
            start = number
        buffer += line
        while buffer:
            record = _take_at(start, buffer, delimiter, terminator, quotechar)
            if record is None:
                break
            yield start, record[0]
            buffer, start = buffer[record[1] :].lstrip(_LINE_BREAKS), number
        if len(buffer) > max_record_chars:
            message = _(
                "A record is longer than %(limit)d characters; check the "
                "quotes and the record terminator."
            )
            raise LimitError(message % {"limit": max_record_chars}, row=start)
    buffer = _trim_end(buffer, terminator)
    if buffer.strip(_LINE_BREAKS):
        record = _take_at(start, buffer, delimiter, terminator, quotechar, final=True)
        if record is not None:
            yield start, record[0]


def join_record(
    cells: list[str], delimiter: str, terminator: str, quotechar: str | None
) -> str:
    """Join text cells into one record, quoting the cells that need it.

    Args:
        cells: Cell texts.
        delimiter: Field separator.
        terminator: Record terminator, appended.
        quotechar: Quote character, or ``None``.

    Returns:
        The record text.

    Raises:
        ParseError: If a cell holds the delimiter, terminator or a line
            break and there is no quote character to protect it.
    """
    specials = (delimiter, terminator, "\n", "\r") + ((quotechar,) if quotechar else ())
    parts = []
    for cell in cells:
        if any(special in cell for special in specials):
            if not quotechar:
                message = _(
                    "The text %(text)r holds a separator and cannot be "
                    "written without a quote character."
                )
                raise ParseError(message % {"text": cell[:40]})
            cell = quotechar + cell.replace(quotechar, quotechar * 2) + quotechar
        parts.append(cell)
    return delimiter.join(parts) + terminator
