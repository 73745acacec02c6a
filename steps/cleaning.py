"""Clean a mapped value by its model field, as a form would, but quickly.

:func:`convert` is the reference: the model field's own ``clean``, with its
messages. :func:`make_cleaner` builds a function per rule that gives the
same values and messages for a fraction of the cost, because an import
cleans every cell of every row.
"""

import datetime
import math
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.core.validators import (
    MaxLengthValidator,
    MaxValueValidator,
    MinValueValidator,
    ProhibitNullCharactersValidator,
)
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext as _

from formats.values import FALSE_WORDS, TRUE_WORDS

from .errors import RowRejected

if TYPE_CHECKING:
    from .mapping import FieldRule


def convert(rule: "FieldRule", raw: Any) -> Any:
    """Return ``raw`` as the Python value of the rule's model field.

    The model field's own ``to_python`` and validators do the work, so a
    field's choices, length and validators apply as they do in a form.

    Raises:
        RowRejected: If the field refuses the value; the message is the
            field's own.
    """
    model_field = rule.model_field
    raw = yes_or_no(model_field, raw)
    problem = type_problem(model_field, raw)
    if problem is not None:
        raise RowRejected(
            _("field %(field)r: %(error)s") % {"field": rule.name, "error": problem},
            column=rule.label,
            value=raw,
            code="invalid",
        )
    if raw is None and not model_field.null and model_field.empty_strings_allowed:
        raw = ""
    if isinstance(raw, float) and isinstance(model_field, models.DecimalField):
        # The float's shortest repr, 19.99, not its binary value,
        # 19.989999999999998436805981327779591083526611328125, which
        # Django would round to the field's digits without a word.
        raw = Decimal(repr(raw))
    timed = isinstance(model_field, models.DateTimeField)
    if timed:
        raw = _aware(raw)
    try:
        if isinstance(raw, str) and isinstance(model_field, _TEXT_FIELDS):
            _NO_NUL(raw)
        value = model_field.clean(raw, None)
    except ValidationError as exc:
        raise RowRejected(
            _("field %(field)r: %(error)s")
            % {"field": rule.name, "error": " ".join(exc.messages)},
            column=rule.label,
            value=raw,
            code=exc.error_list[0].code or "invalid",
        ) from None
    except (TypeError, ValueError, ArithmeticError) as exc:
        # A field's to_python that was not written for this type of value.
        raise RowRejected(
            _("field %(field)r: %(value)r is not a valid value (%(error)s).")
            % {"field": rule.name, "value": raw, "error": exc},
            column=rule.label,
            value=raw,
            code="invalid",
        ) from None
    if timed and value is not None and timezone.is_naive(value) and _use_tz():
        value = timezone.make_aware(value)
    return value


def yes_or_no(model_field: models.Field, raw: Any) -> Any:
    """Return a yes/no word for a ``BooleanField`` as the ``bool`` it spells.

    Django's ``BooleanField`` reads ``"t"``, ``"True"``, ``"1"`` and their
    opposites, but not ``"true"`` as our own CSV writer spells it, nor
    ``"yes"`` or ``"off"``. The words of :func:`formats.values.parse_bool`
    are read in any case; any other value is left for the field to judge.
    """
    if raw.__class__ is str and isinstance(model_field, models.BooleanField):
        word = raw.strip().casefold()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
    return raw


def type_problem(model_field: models.Field, raw: Any) -> str | None:
    """Say why ``raw`` cannot be a value of ``model_field``, or return ``None``.

    Django's fields convert what they are given where they can: ``2.7``
    becomes ``2`` in an ``IntegerField``, ``True`` becomes ``1``, and a list
    becomes its ``repr`` in a ``CharField``. A CSV cell is text and cannot
    arrive as any of these, but spreadsheet and JSON values can, and such a
    conversion would lose data without a word, so these are refused:

    * a list or an object (dict), except for a ``JSONField``;
    * a boolean, for a number field;
    * a float or ``Decimal`` with a fraction, for an integer field;
    * a number or a boolean, for a date, time or duration field;
    * an infinite or NaN float (JSON's ``1e400``, ``NaN``), except for a
      ``FloatField``.
    """
    if isinstance(raw, (list, dict)) and not isinstance(model_field, models.JSONField):
        found = _("a list") if isinstance(raw, list) else _("an object")
        return _("expected a single value, found %(found)s.") % {"found": found}
    if isinstance(raw, bool) and isinstance(model_field, _NUMBER_FIELDS):
        return _("expected a number, found the boolean %(value)s.") % {"value": raw}
    if isinstance(raw, (int, float, Decimal)):
        # A spreadsheet date whose cell was not formatted as one arrives as
        # its serial number; Django's date fields fail on numbers.
        kind = _time_kind(model_field)
        if kind is not None:
            return _("expected %(kind)s, found %(value)s.") % {
                "kind": kind,
                "value": raw,
            }
    if (
        isinstance(raw, float)
        and not math.isfinite(raw)
        and not isinstance(model_field, models.FloatField)
    ):
        return _("expected a finite number, found %(value)s.") % {"value": raw}
    fraction_possible = isinstance(raw, (float, Decimal))
    if fraction_possible and isinstance(model_field, models.IntegerField):
        try:
            whole = raw == int(raw)
        except (ArithmeticError, ValueError):
            whole = False
        if not whole:
            return _("expected a whole number, found %(value)s.") % {"value": raw}
    return None


_NUMBER_FIELDS = (models.IntegerField, models.DecimalField, models.FloatField)

#: Text fields refuse a NUL character, as a form's ``CharField`` does:
#: PostgreSQL cannot store one, and the row would fail at the database
#: without naming its field.
_TEXT_FIELDS = (models.CharField, models.TextField)
_NO_NUL = ProhibitNullCharactersValidator()


def _time_kind(model_field: models.Field) -> str | None:
    if isinstance(model_field, models.DateTimeField):
        return _("a date and time")
    if isinstance(model_field, models.DateField):
        return _("a date")
    if isinstance(model_field, models.TimeField):
        return _("a time")
    if isinstance(model_field, models.DurationField):
        return _("a duration")
    return None


def _aware(raw: Any) -> Any:
    """Return a date or naive datetime (a converter's) as an aware datetime."""
    if isinstance(raw, datetime.date) and not isinstance(raw, datetime.datetime):
        raw = datetime.datetime.combine(raw, datetime.time())
    if isinstance(raw, datetime.datetime) and timezone.is_naive(raw) and _use_tz():
        raw = timezone.make_aware(raw)
    return raw


def make_cleaner(rule: "FieldRule"):
    """Return a function doing what :func:`convert` does, made for speed.

    The work of ``Field.clean`` is split: ``to_python`` and the field's
    validators run on every value, while the checks that can only fail for
    an empty value or a value outside ``choices`` run only then. The
    length and range validators Django gives a field are applied as plain
    comparisons; any other validator is called. Any value the quick path
    doubts (an error, an empty value, a field with choices or that is not
    editable) goes through :func:`convert`, so values and messages are the
    same either way.
    """
    model_field = rule.model_field
    if model_field.choices or not model_field.editable:
        return lambda raw: convert(rule, raw)
    to_python = model_field.to_python
    limits, others = _split_validators(model_field.validators)
    textual = isinstance(model_field, _TEXT_FIELDS)
    longest, lowest, highest = limits
    empty = model_field.empty_values
    # Every value in Django's empty_values is falsy, so a truthy value is
    # not empty without comparing it to each: a Decimal compared with a
    # list is slow.
    falsy_empty = not any(empty)
    timed = isinstance(model_field, models.DateTimeField)
    aware = timed and _use_tz()
    zone = timezone.get_current_timezone()

    decimal = isinstance(model_field, models.DecimalField)

    def clean(raw: Any) -> Any:
        if raw is None or (timed and not isinstance(raw, str)):
            return convert(rule, raw)
        if raw.__class__ is not str and (
            (decimal and isinstance(raw, float))
            or type_problem(model_field, raw) is not None
        ):
            return convert(rule, raw)
        try:
            value = to_python(raw)
            if (not value or not falsy_empty) and value in empty:
                return convert(rule, raw)
            if (
                (textual and "\x00" in value)
                or (longest is not None and len(value) > longest)
                or (lowest is not None and value < lowest)
                or (highest is not None and value > highest)
            ):
                return convert(rule, raw)
            for validator in others:
                validator(value)
        except (ValidationError, TypeError, ValueError, ArithmeticError):
            return convert(rule, raw)
        if aware and value.tzinfo is None:
            # What timezone.make_aware does once it has found no zone.
            value = value.replace(tzinfo=zone)
        return value

    if isinstance(model_field, models.BooleanField):
        return lambda raw: clean(yes_or_no(model_field, raw))
    return clean


def _split_validators(validators: list) -> tuple[tuple, list]:
    """Return ``((max length, min value, max value), other validators)``.

    Only Django's own length and range validators with a fixed limit are
    taken out, one of each kind; a subclass, a callable limit or a second
    one stays in the list, to be called.
    """
    limits: dict = dict.fromkeys(
        (MaxLengthValidator, MinValueValidator, MaxValueValidator)
    )
    others = []
    for validator in validators:
        kind = type(validator)
        limit = getattr(validator, "limit_value", None)
        plain = limit is not None and not callable(limit)
        if plain and kind in limits and limits[kind] is None:
            limits[kind] = limit
        else:
            others.append(validator)
    return tuple(limits.values()), others


def _use_tz() -> bool:
    from django.conf import settings

    return settings.USE_TZ
