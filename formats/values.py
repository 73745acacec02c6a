"""Turn cell text into dates, numbers and booleans.

Readers of delimited text give strings exactly as in the file; a
spreadsheet gives typed values. The parsers here take both: text is
parsed, a value of the right type passes through, and an empty cell
(``None``, ``""`` or spaces) gives ``None``. A value of the wrong form
raises :class:`ValueParseError` saying what was expected and what was
found; the caller, who knows the row, adds it with ``error.at(row=...)``.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Collection, Sequence
from decimal import Decimal, InvalidOperation

from formats.errors import ValueParseError
from formats.errors import gettext as _

__all__ = [
    "FALSE_WORDS",
    "TRUE_WORDS",
    "parse_bool",
    "parse_date",
    "parse_datetime",
    "parse_decimal",
    "parse_int",
    "parse_text",
]

TRUE_WORDS = frozenset({"true", "t", "yes", "y", "1", "on"})
FALSE_WORDS = frozenset({"false", "f", "no", "n", "0", "off"})
_SPACES = ("\u00a0", "\u202f", " ")
_THOUSANDS = {".": (",", "'", "_") + _SPACES, ",": (".", "'") + _SPACES}
_DIGITS = re.compile(r"[0-9]*")
_DAY_MONTH_YEAR = re.compile(r"(\d{1,2})([./-])(\d{1,2})\2(\d{4})")
_TIME = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,6}))?)?")


def _fail(expected: str, value: object) -> ValueParseError:
    message = _("Expected %(expected)s, found %(value)r.")
    return ValueParseError(
        message % {"expected": expected, "value": value}, expected=expected, value=value
    )


def _empty(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def parse_text(value: object, *, strip: bool = True) -> str | None:
    """Return text, or ``None`` for an empty cell.

    Args:
        value: A cell value; numbers and dates are turned into text.
        strip: Remove surrounding spaces.

    Returns:
        The text, or ``None`` for ``None``, ``""`` or spaces only.
    """
    if _empty(value):
        return None
    text = value if isinstance(value, str) else str(value)
    return text.strip() if strip else text


def parse_bool(
    value: object,
    *,
    true: Collection[str] = TRUE_WORDS,
    false: Collection[str] = FALSE_WORDS,
) -> bool | None:
    """Read a yes/no value.

    Args:
        value: Text such as ``"Yes"``, ``"0"`` or ``"off"`` (case is
            ignored), a ``bool``, or the number 0 or 1.
        true: Lower-case words read as ``True``.
        false: Lower-case words read as ``False``.

    Returns:
        ``True``, ``False``, or ``None`` for an empty cell.

    Raises:
        ValueParseError: For any other value.
    """
    if _empty(value):
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float, Decimal)) and value in (0, 1):
        return bool(value)
    word = str(value).strip().casefold()
    if word in true:
        return True
    if word in false:
        return False
    raise _fail(_("yes or no (such as true, false, 1, 0)"), value)


def _split_number(
    text: str, decimal_point: str, thousands: Sequence[str] | None
) -> tuple[str, str, str] | None:
    sign = ""
    if text[:1] in "+-":
        sign, text = text[0], text[1:]
    integer, _point, fraction = text.partition(decimal_point)
    separators = _THOUSANDS.get(decimal_point, ()) if thousands is None else thousands
    used = {char for char in integer if char in separators}
    if len(used) > 1:
        return None
    if used:
        groups = integer.split(used.pop())
        if not (
            1 <= len(groups[0]) <= 3 and all(len(group) == 3 for group in groups[1:])
        ):
            return None
        integer = "".join(groups)
    if not (integer or fraction) or not _DIGITS.fullmatch(integer + fraction):
        return None
    return sign, integer or "0", fraction


def parse_decimal(
    value: object,
    *,
    decimal_point: str = ".",
    thousands: Sequence[str] | None = None,
) -> Decimal | None:
    """Read a number exactly, as a :class:`~decimal.Decimal`.

    Args:
        value: Text such as ``"1,234.50"``, ``".0000"`` or (with
            ``decimal_point=","``) ``"1.234,50"``; or a number.
        decimal_point: ``"."`` or ``","``.
        thousands: Characters allowed between groups of three digits;
            ``None`` allows the usual ones: for a decimal point, comma,
            apostrophe, underscore and spaces; for a decimal comma, point,
            apostrophe and spaces. An empty tuple allows none.

    Returns:
        The number, or ``None`` for an empty cell.

    Raises:
        ValueParseError: If the text is not such a number (exponents,
            currency signs and badly grouped thousands are refused).
    """
    if _empty(value):
        return None
    if isinstance(value, bool):
        raise _fail(_("a number"), value)
    if isinstance(value, (int, Decimal)):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))
    example = "1234.56" if decimal_point == "." else "1234,56"
    expected = _("a number such as %(example)s") % {"example": example}
    parts = _split_number(str(value).strip(), decimal_point, thousands)
    if parts is None:
        raise _fail(expected, value)
    sign, integer, fraction = parts
    try:
        return Decimal(
            f"{sign}{integer}.{fraction}" if fraction else f"{sign}{integer}"
        )
    except InvalidOperation:
        raise _fail(expected, value) from None


def parse_int(value: object, *, thousands: Sequence[str] | None = None) -> int | None:
    """Read a whole number.

    Args:
        value: Text such as ``"1,234"`` or ``"-7"``, an ``int``, or a
            whole ``float`` or ``Decimal`` (``12.0``).
        thousands: As for :func:`parse_decimal` with a decimal point.

    Returns:
        The number, or ``None`` for an empty cell.

    Raises:
        ValueParseError: If the value is not a whole number.
    """
    number = parse_decimal(value, thousands=thousands) if not _empty(value) else None
    if number is None:
        return None
    if number != number.to_integral_value():
        raise _fail(_("a whole number such as 1234"), value)
    return int(number)


def _date_part(text: str, day_first: bool | None) -> datetime.date | None:
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        pass
    found = _DAY_MONTH_YEAR.fullmatch(text)
    if found is None or day_first is None:
        return None
    first, _separator, second, year = found.groups()
    day, month = (first, second) if day_first else (second, first)
    try:
        return datetime.date(int(year), int(month), int(day))
    except ValueError:
        return None


def _expected_date(day_first: bool | None) -> str:
    if day_first is None:
        return _("a date such as 2024-01-31")
    if day_first:
        return _("a date such as 2024-01-31 or 31/01/2024")
    return _("a date such as 2024-01-31 or 01/31/2024")


def _expected_datetime(day_first: bool | None) -> str:
    if day_first is None:
        return _("a date and time such as 2024-01-31 10:00")
    if day_first:
        return _("a date and time such as 2024-01-31 10:00 or 31/01/2024 10:00")
    return _("a date and time such as 2024-01-31 10:00 or 01/31/2024 10:00")


def _strptime(text: str, formats: Sequence[str]) -> datetime.datetime | None:
    for pattern in formats:
        try:
            return datetime.datetime.strptime(text, pattern)
        except ValueError:
            continue
    return None


def parse_date(
    value: object,
    *,
    day_first: bool | None = None,
    formats: Sequence[str] = (),
) -> datetime.date | None:
    """Read a date.

    Args:
        value: Text such as ``"2024-01-31"``, a ``date``, or a
            ``datetime`` (its date is kept).
        day_first: ``None`` accepts ISO 8601 only; ``True`` also
            ``31/01/2024`` (``/``, ``.`` or ``-`` between); ``False`` also
            ``01/31/2024``.
        formats: More :meth:`~datetime.datetime.strptime` patterns, tried
            in order.

    Returns:
        The date, or ``None`` for an empty cell.

    Raises:
        ValueParseError: If the value is no such date.
    """
    if _empty(value):
        return None
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    text = str(value).strip()
    found = _date_part(text, day_first) if isinstance(value, str) else None
    if found is None:
        moment = _strptime(text, formats)
        found = moment.date() if moment else None
    if found is None:
        raise _fail(_expected_date(day_first), value)
    return found


def parse_datetime(
    value: object,
    *,
    day_first: bool | None = None,
    formats: Sequence[str] = (),
) -> datetime.datetime | None:
    """Read a date and time.

    Args:
        value: Text such as ``"2019-04-30 00:00:00.000"`` or
            ``"2024-01-31T10:00:00+01:00"``; a date alone gives midnight;
            a ``datetime`` or ``date`` passes through.
        day_first: As for :func:`parse_date`, for the date part; the time
            part is then ``HH:MM``, ``HH:MM:SS`` or ``HH:MM:SS.ffffff``.
        formats: More :meth:`~datetime.datetime.strptime` patterns.

    Returns:
        The datetime (aware only if the text gives an offset), or ``None``
        for an empty cell.

    Raises:
        ValueParseError: If the value is no such date and time.
    """
    if _empty(value):
        return None
    if isinstance(value, datetime.datetime):
        return value
    if isinstance(value, datetime.date):
        return datetime.datetime.combine(value, datetime.time(0))
    text = str(value).strip()
    try:
        return datetime.datetime.fromisoformat(text)
    except ValueError:
        pass
    date_text, _space, time_text = text.partition(" ")
    day = _date_part(date_text, day_first)
    clock = _TIME.fullmatch(time_text.strip()) if time_text else None
    if day is not None and (clock or not time_text):
        hour, minute, second, fraction = (
            clock.groups() if clock else ("0", "0", None, None)
        )
        micro = int((fraction or "0").ljust(6, "0"))
        try:
            return datetime.datetime.combine(
                day, datetime.time(int(hour), int(minute), int(second or 0), micro)
            )
        except ValueError:
            pass
    found = _strptime(text, formats)
    if found is None:
        raise _fail(_expected_datetime(day_first), value)
    return found
