"""Errors raised by readers, writers and value parsers.

Every error is a :class:`FormatError`, so a caller that imports a file
catches one class. The error carries where it happened (file, sheet, row,
column) as attributes, and its message starts with the same place, so a
person reading a log line knows which cell to open.
"""

from __future__ import annotations

__all__ = [
    "CellError",
    "EncodingError",
    "FormatError",
    "HeaderError",
    "LimitError",
    "ParseError",
    "ValueParseError",
    "gettext",
]


def gettext(message: str) -> str:
    """Translate a message with Django when Django is ready, else return it.

    ``formats`` is used by Django code, but its tests and scripts run
    without settings; calling Django's ``gettext`` then would raise
    ``ImproperlyConfigured`` or ``AppRegistryNotReady``.

    Args:
        message: The English message, with ``%(name)s`` placeholders still
            unfilled so that translators see the whole sentence.

    Returns:
        The message in the active language, or unchanged when Django's
        settings are not configured or its apps are not loaded yet.
    """
    try:
        from django.apps import apps
        from django.conf import settings
    except ImportError:
        return message
    if not settings.configured or not apps.ready:
        return message
    from django.utils.translation import gettext as django_gettext

    return django_gettext(message)


_ = gettext


def describe_place(
    file: str | None = None,
    sheet: str | None = None,
    row: int | None = None,
    column: object = None,
) -> str:
    """Name a place in a file the way a person would look for it.

    Args:
        file: File name as the person knows it, such as ``"Product.csv"``.
        sheet: Sheet name; ``None`` for formats without sheets.
        row: Row number as shown by the reader (1-based).
        column: Column name, number or letter.

    Returns:
        Text such as ``"Product.csv, sheet Stock, row 7, column Name"``;
        an empty string when nothing is known.
    """
    parts = []
    if file:
        parts.append(str(file))
    if sheet is not None:
        parts.append(_("sheet %(sheet)s") % {"sheet": sheet})
    if row is not None:
        parts.append(_("row %(row)s") % {"row": row})
    if column is not None:
        parts.append(_("column %(column)s") % {"column": column})
    return ", ".join(parts)


class FormatError(Exception):
    """Base class for every error of the ``formats`` package.

    The message says what was expected and what was found; the place is
    prefixed from the keyword arguments, so ``str(error)`` reads like
    ``"Product.csv, row 7: the bytes 0xff 0xfe cannot be read as UTF-8."``.

    Args:
        message: What went wrong, already translated and filled in, without
            the place.
        file: File name; ``None`` when unknown.
        sheet: Sheet name; ``None`` for formats without sheets.
        row: Row number (1-based, as :attr:`formats.Row.number`).
        column: Column name, number or letter.

    Attributes:
        reason: The message without the place.
        file, sheet, row, column: The place, as given.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        sheet: str | None = None,
        row: int | None = None,
        column: object = None,
    ) -> None:
        self.reason = message
        self.file = file
        self.sheet = sheet
        self.row = row
        self.column = column
        place = describe_place(file, sheet, row, column)
        super().__init__(f"{place}: {message}" if place else message)

    @property
    def message(self) -> str:
        """The full message, place included."""
        return str(self)

    def at(self, **place: object) -> FormatError:
        """Return a copy of this error with more of its place filled in.

        A value parser does not know the row it parses; the caller that
        does can re-raise ``error.at(file=name, row=7, column="Price")``.

        Args:
            **place: Any of ``file``, ``sheet``, ``row`` and ``column``;
                the ones not given keep their current value.

        Returns:
            A new error of the same class.
        """
        known = {
            "file": self.file,
            "sheet": self.sheet,
            "row": self.row,
            "column": self.column,
        }
        known.update(place)
        copy = type(self).__new__(type(self))
        copy.__dict__.update(self.__dict__)
        FormatError.__init__(copy, self.reason, **known)
        return copy

    def __reduce__(self) -> tuple:
        # Exceptions pickle their positional arguments only; a task queue
        # that ships this error to another process must keep the place.
        return (_rebuild, (type(self), self.__dict__.copy()))


def _rebuild(cls: type[FormatError], state: dict) -> FormatError:
    """Recreate a pickled error with its attributes (see ``__reduce__``)."""
    error = cls.__new__(cls)
    error.__dict__.update(state)
    place = {key: state.get(key) for key in ("file", "sheet", "row", "column")}
    FormatError.__init__(error, state["reason"], **place)
    return error


class EncodingError(FormatError):
    """Bytes cannot be decoded, or text cannot be encoded, in the encoding."""


class HeaderError(FormatError):
    """The header row is missing, repeats a name or has an unnamed column."""


class ParseError(FormatError):
    """The file is malformed: an unclosed quote, broken XML, a ragged row."""


class CellError(FormatError):
    """A cell cannot be read or written, such as an ``#DIV/0!`` error cell."""


class LimitError(FormatError):
    """The file goes past a safety limit: rows, unpacked bytes, line length."""


class ValueParseError(FormatError):
    """A text value does not have the expected form, such as a date.

    Attributes:
        expected: What was expected, in words (``"a date such as
            2024-01-31"``).
        value: The value that was found.
    """

    def __init__(
        self,
        message: str,
        *,
        expected: str = "",
        value: object = None,
        **place: object,
    ) -> None:
        self.expected = expected
        self.value = value
        super().__init__(message, **place)
