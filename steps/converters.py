"""Named converters that mapping rules apply to a value, in order.

A rule's ``convert`` list names converters from this registry; each takes
the value the previous one returned and gives the next. They run after the
value is read (and stripped, and matched against ``null_values``) and
before the model field cleans it, so ``"12,50"`` can become
``Decimal("12.50")`` for a ``DecimalField``. A project adds its own with
:func:`register_converter`.

.. code-block:: python

    from steps.converters import register_converter

    @register_converter("sku")
    def sku(value):
        return value.replace(" ", "").upper()
"""

from collections.abc import Callable
from typing import Any

from django.utils.translation import gettext as _

from formats.errors import ValueParseError
from formats.values import (
    parse_bool,
    parse_date,
    parse_datetime,
    parse_decimal,
    parse_int,
)

from .errors import RowRejected

Converter = Callable[[Any], Any]

_converters: dict[str, Converter] = {}


def register_converter(name: str, function: Converter | None = None):
    """Register ``function`` as the converter ``name``, replacing any before.

    Args:
        name: The name rules use in their ``convert`` list.
        function: Takes a value that is not ``None`` and returns the
            converted value (``None`` for no value). It raises
            ``ValueError`` or ``formats.ValueParseError`` for a value it
            refuses; the row is then rejected with the error's message.

    Returns:
        ``function``; without it, a decorator that registers what it wraps.
    """
    if function is None:
        return lambda wrapped: register_converter(name, wrapped)
    _converters[name] = function
    return function


def get_converter(name: str) -> Converter:
    """Return the converter registered as ``name``.

    Raises:
        KeyError: If none is; the message lists the known names.
    """
    try:
        return _converters[name]
    except KeyError:
        known = ", ".join(sorted(_converters))
        raise KeyError(
            _("unknown converter %(name)r; known converters are %(known)s.")
            % {"name": name, "known": known}
        ) from None


def apply_converters(converters: list[tuple[str, Converter]], value: Any) -> Any:
    """Return ``value`` passed through ``converters``, a list of (name, fn).

    ``None`` is not passed to a converter: an empty cell stays empty.

    Raises:
        RowRejected: If a converter refuses the value; the message names the
            converter and says what it expected.
    """
    for name, converter in converters:
        if value is None:
            return None
        try:
            value = converter(value)
        except (ValueParseError, ValueError, TypeError, ArithmeticError) as exc:
            reason = getattr(exc, "reason", None) or str(exc)
            raise RowRejected(
                _("converter %(name)r: %(error)s") % {"name": name, "error": reason},
                value=value,
                code="invalid",
            ) from None
    return value


def _text(function: Callable[[str], str]) -> Converter:
    return lambda value: function(value) if isinstance(value, str) else value


def _none_if_empty(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


BUILTIN = {
    "strip": _text(str.strip),
    "upper": _text(str.upper),
    "lower": _text(str.lower),
    "title": _text(str.title),
    "none_if_empty": _none_if_empty,
    "decimal": lambda v: parse_decimal(v),
    "decimal_comma": lambda v: parse_decimal(v, decimal_point=","),
    "int": lambda v: parse_int(v),
    "bool": lambda v: parse_bool(v),
    "date_day_first": lambda v: parse_date(v, day_first=True),
    "date_month_first": lambda v: parse_date(v, day_first=False),
    "datetime_day_first": lambda v: parse_datetime(v, day_first=True),
    "datetime_month_first": lambda v: parse_datetime(v, day_first=False),
}
for _name, _function in BUILTIN.items():
    register_converter(_name, _function)
