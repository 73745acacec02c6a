"""The table of formats, and opening a reader or writer by format name.

Built-in formats are ``csv``, ``xlsx``, ``xls``, ``json`` and ``jsonl``.
Another package adds its own with :func:`register_format`:

.. code-block:: python

    register_format(
        "parquet", reader_class=ParquetReader, extensions=(".parquet",)
    )
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import PurePath
from typing import IO, Any

from formats.base import Reader
from formats.csv_format import CsvReader, CsvWriter
from formats.errors import FormatError
from formats.errors import gettext as _
from formats.json_format import JsonLinesReader, JsonLinesWriter, JsonReader, JsonWriter
from formats.writers import Writer
from formats.xls_format import XlsReader, XlsWriter
from formats.xlsx_format import XlsxReader, XlsxWriter

__all__ = [
    "Format",
    "formats_for_name",
    "get_format",
    "open_reader",
    "open_writer",
    "register_format",
]


@dataclass(frozen=True)
class Format:
    """A registered format.

    Attributes:
        name: Short name such as ``"csv"``.
        reader_class: Class called as ``reader_class(fileobj, name=...,
            **options)``; ``None`` when the format cannot be read.
        writer_class: Class called as ``writer_class(fileobj, name=...,
            columns=..., **options)``; ``None`` when it cannot be written.
        extensions: File name endings, lower case with the dot
            (``".csv"``).
    """

    name: str
    reader_class: type[Reader] | None = None
    writer_class: type[Writer] | None = None
    extensions: tuple[str, ...] = ()


_FORMATS: dict[str, Format] = {}


def register_format(
    name: str,
    reader_class: type[Reader] | None = None,
    writer_class: type[Writer] | None = None,
    extensions: tuple[str, ...] | list[str] = (),
) -> Format:
    """Add a format, or replace the one of the same name.

    Args:
        name: Short name, such as ``"csv"``; case is ignored.
        reader_class: Reader class, usually a subclass of
            :class:`formats.base.TableReader`; ``None`` if write-only.
        writer_class: Writer class, a subclass of
            :class:`formats.base.Writer`; ``None`` if read-only.
        extensions: File name endings that guess this format, such as
            ``(".csv", ".txt")``; the dot may be left out.

    Returns:
        The registered :class:`Format`.
    """
    endings = tuple(
        ending.lower() if ending.startswith(".") else f".{ending.lower()}"
        for ending in extensions
    )
    found = Format(name.lower(), reader_class, writer_class, endings)
    _FORMATS[found.name] = found
    return found


def get_format(name: str) -> Format:
    """Find a format by name.

    Args:
        name: Short name such as ``"xlsx"``; case is ignored.

    Returns:
        The :class:`Format`.

    Raises:
        FormatError: If no format has that name; the message lists the
            known ones.
    """
    found = _FORMATS.get(str(name).lower())
    if found is None:
        message = _("%(name)r is not a known format; the known formats are %(known)s.")
        known = ", ".join(sorted(_FORMATS))
        raise FormatError(message % {"name": name, "known": known})
    return found


def formats_for_name(name: str) -> list[Format]:
    """List the formats whose extensions match a file name.

    Args:
        name: File name or path, such as ``"Product.CSV"``.

    Returns:
        Matching formats, longest extension first (``.tar.gz`` before
        ``.gz``); empty when none matches.
    """
    lowered = PurePath(str(name)).name.lower()
    matches = []
    for found in _FORMATS.values():
        endings = [ending for ending in found.extensions if lowered.endswith(ending)]
        if endings:
            matches.append((max(len(ending) for ending in endings), found))
    matches.sort(key=lambda match: -match[0])
    return [found for _length, found in matches]


def _choose(name: str | None, format: str | None) -> Format:
    if format is not None:
        return get_format(format)
    matches = formats_for_name(name) if name else []
    if not matches:
        message = _(
            "The format of %(name)s cannot be told from its name; give "
            "one of %(known)s."
        )
        known = ", ".join(sorted(_FORMATS))
        raise FormatError(message % {"name": name or "-", "known": known}, file=name)
    return matches[0]


def _accepted_options(cls: type) -> set[str]:
    accepted: set[str] = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        for parameter in inspect.signature(init).parameters.values():
            if parameter.kind is parameter.KEYWORD_ONLY:
                accepted.add(parameter.name)
    return accepted


def _check_options(cls: type, options: dict, found: Format, name: str | None) -> None:
    unknown = sorted(set(options) - _accepted_options(cls))
    if unknown:
        message = _(
            "The options %(unknown)s do not apply to the %(format)s format; "
            "it takes %(accepted)s."
        )
        accepted = ", ".join(sorted(_accepted_options(cls) - {"name"}))
        filled = {
            "unknown": ", ".join(unknown),
            "format": found.name,
            "accepted": accepted,
        }
        raise FormatError(message % filled, file=name)


def open_reader(
    fileobj: IO[bytes],
    name: str | None = None,
    format: str | None = None,
    **options: Any,
) -> Reader:
    """Open a reader on a binary file object.

    Args:
        fileobj: A binary file object open for reading; the reader does
            not close it.
        name: File name, used in messages and, when ``format`` is
            ``None``, to guess the format from its extension.
        format: Format name such as ``"csv"``; ``None`` guesses from
            ``name``.
        **options: Read options of that format (see ``docs/formats.md``).

    Returns:
        A reader: iterate it for :class:`formats.Row` objects.

    Raises:
        FormatError: If the format is unknown, cannot be guessed or cannot
            be read, or an option does not apply to it.
    """
    found = _choose(name, format)
    if found.reader_class is None:
        message = _("The %(format)s format can be written but not read.")
        raise FormatError(message % {"format": found.name}, file=name)
    _check_options(found.reader_class, options, found, name)
    return found.reader_class(fileobj, name=name, **options)


def open_writer(
    fileobj: IO[bytes],
    name: str | None = None,
    format: str | None = None,
    **options: Any,
) -> Writer:
    """Open a writer on a binary file object.

    Args:
        fileobj: A binary file object open for writing; the writer does
            not close it.
        name: File name, used in messages and to guess the format.
        format: Format name; ``None`` guesses from ``name``.
        **options: ``columns`` (required), ``escape_formulas`` and the
            write options of that format.

    Returns:
        A writer: call ``write_row`` and then ``close``.

    Raises:
        FormatError: If the format is unknown, cannot be guessed or cannot
            be written, or an option does not apply to it.
    """
    found = _choose(name, format)
    if found.writer_class is None:
        message = _("The %(format)s format can be read but not written.")
        raise FormatError(message % {"format": found.name}, file=name)
    _check_options(found.writer_class, options, found, name)
    return found.writer_class(fileobj, name=name, **options)


register_format("csv", CsvReader, CsvWriter, (".csv", ".tsv", ".tab", ".txt"))
register_format("xlsx", XlsxReader, XlsxWriter, (".xlsx", ".xlsm"))
register_format("xls", XlsReader, XlsWriter, (".xls",))
register_format("json", JsonReader, JsonWriter, (".json",))
register_format("jsonl", JsonLinesReader, JsonLinesWriter, (".jsonl", ".ndjson"))
