"""Decode the bytes of a text file into numbered lines while reading it.

The file is read in chunks of 64 KiB and never held whole. Bytes that the
encoding cannot decode do not stop the decoding: they are marked, and the
error is raised only when the line that holds them is reached, so the rows
before it are read first and the error names the right line.
"""

from __future__ import annotations

import codecs
import io
import itertools
import re
from collections.abc import Iterator
from typing import IO

from formats.errors import EncodingError, FormatError, LimitError, ParseError
from formats.errors import gettext as _

__all__ = ["CHUNK_SIZE", "MAX_LINE_CHARS", "TextSource", "detect_encoding"]

CHUNK_SIZE = 64 * 1024
MAX_LINE_CHARS = 32 * 1024 * 1024
_HANDLER = "syncflow.formats.mark"
# Decoders never produce lone low surrogates from valid input, so they can
# stand for the undecodable bytes (U+DC00 + byte) until the line is reached.
_MARKS = re.compile("[\udc00-\udcff]+")
# The characters other than LF and CR that str.splitlines breaks at in
# ASCII text.
_OTHER_BREAKS = "\v\f\x1c\x1d\x1e"


# Counts marks, and the looks before and after each decoding, in any
# thread: when a decoding moves it by exactly one look, no bytes were
# marked meanwhile and its text need not be searched. next() on a count is
# atomic, so a mark is never lost; other threads only cause extra searches.
_ticks = itertools.count()


def _mark_bad_bytes(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeDecodeError):
        raise error
    next(_ticks)
    bad = error.object[error.start : error.end]
    return "".join(chr(0xDC00 + byte) for byte in bad), error.end


codecs.register_error(_HANDLER, _mark_bad_bytes)


def detect_encoding(sample: bytes, *, complete: bool) -> str:
    """Guess the encoding of a text file from its first bytes.

    Args:
        sample: The first bytes of the file (up to 64 KiB).
        complete: ``True`` when the sample is the whole file.

    Returns:
        ``"utf-32"``, ``"utf-8-sig"`` or ``"utf-16"`` from a byte order
        mark; ``"utf-16-le"`` or ``"utf-16-be"`` when every other byte is
        zero; ``"utf-8"`` when the sample decodes as UTF-8; else
        ``"cp1252"`` (Windows Western European).

    Limitation: only the sample is checked; a UTF-8 file with a stray
    Windows byte after the first 64 KiB raises :class:`EncodingError` on
    that line instead of being read as cp1252.
    """
    if sample.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "utf-32"
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    head = sample[:4096]
    even, odd = head[0::2], head[1::2]
    if len(head) >= 4:
        if odd.count(0) > len(odd) * 0.3 and even.count(0) < len(even) * 0.05:
            return "utf-16-le"
        if even.count(0) > len(even) * 0.3 and odd.count(0) < len(odd) * 0.05:
            return "utf-16-be"
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as error:
        cut_short = error.reason == "unexpected end of data"
        if complete or not cut_short or error.start < len(sample) - 3:
            return "cp1252"
    return "utf-8"


def _read_full(fileobj: IO[bytes], size: int) -> bytes:
    # A pipe or socket may return fewer bytes than asked before its end.
    parts, total = [], 0
    while total < size:
        part = fileobj.read(size - total)
        if not part:
            break
        parts.append(part)
        total += len(part)
    return b"".join(parts)


def _split_lines(text: str) -> list[str]:
    # str.splitlines runs twice as fast as a StringIO, but it also breaks
    # at characters that end no line in a text file (form feed, NEL, the
    # Unicode separators); they are rare, and a text with one is split by
    # a StringIO, which breaks at LF, CRLF and CR only.
    if text.isascii() and not any(char in text for char in _OTHER_BREAKS):
        return text.splitlines(keepends=True)
    return io.StringIO(text, newline="").readlines()


class TextSource:
    """The decoded text of a binary file, as numbered lines or as chunks.

    Args:
        fileobj: A binary file object open for reading.
        encoding: Codec name; ``None`` detects it with
            :func:`detect_encoding`.
        name: File name used in messages.
        max_line_chars: Longest line allowed, in characters.

    Raises:
        EncodingError: If the encoding name is unknown.

    Attributes:
        encoding: The codec used, given or detected.
        line_number: Number of lines handed out so far.
    """

    def __init__(
        self,
        fileobj: IO[bytes],
        *,
        encoding: str | None = None,
        name: str | None = None,
        max_line_chars: int = MAX_LINE_CHARS,
    ) -> None:
        self.fileobj = fileobj
        self.name = name
        self.max_line_chars = max_line_chars
        self._first = _read_full(fileobj, CHUNK_SIZE)
        complete = len(self._first) < CHUNK_SIZE
        self.encoding = encoding or detect_encoding(self._first, complete=complete)
        try:
            factory = codecs.getincrementaldecoder(self.encoding)
        except LookupError as error:
            message = _("%(encoding)r is not an encoding that can be read.")
            raise EncodingError(
                message % {"encoding": self.encoding}, file=name
            ) from error
        self._decoder = factory(errors=_HANDLER)
        self.line_number = 0

    def chunks(self) -> Iterator[str]:
        """Yield the text in pieces of about 64 KiB.

        Returns:
            An iterator of decoded text.

        Raises:
            EncodingError: When a piece holds undecodable bytes; the error
                has no row, the caller adds it with ``error.at(row=...)``.
        """
        chunk = self._first
        while True:
            final = not chunk
            text = self._decoder.decode(chunk, final)
            found = _MARKS.search(text)
            if found:
                raise self._bad_bytes(found.group(), row=None)
            if text:
                yield text
            if final:
                return
            chunk = self.fileobj.read(CHUNK_SIZE)

    def lines(self) -> Iterator[str]:
        """Yield lines with their line ends (LF, CRLF or CR) kept.

        Returns:
            An iterator of lines; :attr:`line_number` is the number of the
            line just yielded.

        Raises:
            EncodingError: When the next line holds undecodable bytes.
            ParseError: When the next line holds a NUL character, which
                no text file has (it is binary, or in another encoding).
            LimitError: When a line is longer than ``max_line_chars``.
        """
        for batch in self._batches():
            for line in batch:
                self.line_number += 1
                yield line

    def batches(self) -> Iterator[list[str]]:
        """Yield the lines in lists, one list per chunk read.

        ``itertools.chain.from_iterable(source.batches())`` gives the same
        lines as :meth:`lines` without a Python step per line, which makes
        a difference to a reader of millions of short lines.

        Returns:
            An iterator of lists of lines with their line ends;
            :attr:`line_number` is the number of the last line handed out.

        Raises:
            EncodingError: When the next line holds undecodable bytes; the
                lines before it were handed out first.
            ParseError: When the next line holds a NUL character.
            LimitError: When a line is longer than ``max_line_chars``.
        """
        for batch in self._batches():
            self.line_number += len(batch)
            yield batch

    def _batches(self) -> Iterator[list[str]]:
        chunk, pending, done = self._first, "", self.line_number
        pending_marked = False
        while True:
            final = not chunk
            before = next(_ticks)
            text = pending + self._decoder.decode(chunk, final)
            marked = pending_marked or next(_ticks) != before + 1
            held = ""
            if not final and text.endswith("\r"):
                # The LF of a CRLF may be in the next chunk.
                text, held = text[:-1], "\r"
            lines = _split_lines(text)
            pending = ""
            if not final and lines and not lines[-1].endswith(("\n", "\r")):
                pending = lines.pop()
            pending += held
            pending_marked = marked and _MARKS.search(pending) is not None
            bad = None
            if (marked and _MARKS.search(text) is not None) or "\x00" in text:
                lines, bad = self._check_lines(lines, done)
            # The lines before a bad one are handed out first.
            if lines:
                yield lines
            if bad is not None:
                raise bad
            done += len(lines)
            if len(pending) > self.max_line_chars:
                message = _("A line is longer than %(limit)d characters.")
                limit = {"limit": self.max_line_chars}
                raise LimitError(message % limit, file=self.name, row=done + 1)
            if final:
                return
            chunk = self.fileobj.read(CHUNK_SIZE)

    def _check_lines(
        self, lines: list[str], done: int
    ) -> tuple[list[str], FormatError | None]:
        for index, line in enumerate(lines):
            found = _MARKS.search(line)
            if found:
                return lines[:index], self._bad_bytes(found.group(), done + index + 1)
            if "\x00" in line:
                return lines[:index], self._binary(row=done + index + 1)
        # The bad text is in the unfinished last line, checked once whole.
        return lines, None

    def _binary(self, row: int) -> ParseError:
        message = _(
            "The line holds a NUL character; this is not a text file in "
            "the encoding %(encoding)s."
        )
        encoding = codecs.lookup(self.encoding).name.upper()
        return ParseError(message % {"encoding": encoding}, file=self.name, row=row)

    def _bad_bytes(self, marks: str, row: int | None) -> EncodingError:
        shown = " ".join(f"0x{ord(mark) - 0xDC00:02x}" for mark in marks[:8])
        encoding = codecs.lookup(self.encoding).name.upper()
        message = _("The bytes %(bytes)s cannot be read as %(encoding)s.")
        filled = message % {"bytes": shown, "encoding": encoding}
        return EncodingError(filled, file=self.name, row=row)
