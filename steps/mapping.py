"""Field mapping: which source column fills which model field, and how.

A mapping is a JSON object from model field name to a rule. A rule is a
column (a header name, or a 1-based position for a file without a header)
or an object with these keys:

``column``
    Header name (matched ignoring case and surrounding spaces) or 1-based
    position.
``value``
    A constant instead of a column.
``lookup``
    For a ForeignKey: the field of the target model the column holds
    (a natural key such as ``"code"``); resolved in batches.
``null_values``
    Strings that mean "no value" in this column, besides the empty string.
``template``
    A ``string.Template`` the value is put into as ``$value``; run
    parameters are available by name (``${photo_base_url}/$value.gif``).
``strip``
    Strip surrounding white space from text (default ``true``).
``default``
    The value used when the column is empty.
"""

import string
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext as _

from .errors import RowRejected

MISSING = object()
RULE_KEYS = {"column", "value", "lookup", "null_values", "template", "strip", "default"}


@dataclass
class FieldRule:
    """How one model field gets its value from a source row."""

    name: str
    model_field: models.Field
    column: int | str | None = None
    constant: Any = MISSING
    lookup: str | None = None
    null_values: frozenset = field(default_factory=frozenset)
    template: string.Template | None = None
    strip: bool = True
    default: Any = MISSING

    @property
    def attname(self) -> str:
        """The attribute the value is stored in (``category_id`` for a FK)."""
        return self.model_field.attname

    @property
    def is_relation(self) -> bool:
        """Whether the value must be looked up in another model."""
        return self.lookup is not None


def parse_mapping(model: type[models.Model], mapping: dict) -> list[FieldRule]:
    """Return the rules of ``mapping`` checked against ``model``.

    Raises:
        forms.ValidationError: If a rule names a field the model lacks, a
            lookup field the target lacks, or an unknown key; the message
            names the field.
    """
    return [_parse_rule(model, name, spec) for name, spec in mapping.items()]


def _parse_rule(model, name: str, spec: Any) -> FieldRule:
    def invalid(message: str, **values):
        values["field"] = name
        text = _("field %(field)r: ") % {"field": name} + message % values
        return forms.ValidationError(text, code="invalid_mapping")

    try:
        model_field = model._meta.get_field(name)
    except FieldDoesNotExist:
        raise invalid(_("%(model)s has no such field."), model=model.__name__) from None
    if not model_field.concrete or model_field.many_to_many:
        raise invalid(_("only concrete, single-valued fields can be mapped."))
    if isinstance(spec, (int, str)) and not isinstance(spec, bool):
        spec = {"column": spec}
    if not isinstance(spec, dict):
        raise invalid(_("expected a column name, a position or an object."))
    unknown = sorted(set(spec) - RULE_KEYS)
    if unknown:
        raise invalid(_("unknown rule key %(key)r."), key=unknown[0])
    if ("column" in spec) == ("value" in spec):
        raise invalid(_("give exactly one of 'column' and 'value'."))
    column = spec.get("column")
    if column is not None and (isinstance(column, bool) or not isinstance(column, (int, str))):
        raise invalid(_("'column' must be a header name or a 1-based position."))
    if isinstance(column, int) and column < 1:
        raise invalid(_("column positions start at 1."))

    rule = FieldRule(
        name=name,
        model_field=model_field,
        column=column,
        constant=spec.get("value", MISSING),
        lookup=spec.get("lookup"),
        null_values=frozenset(str(v) for v in spec.get("null_values", ())),
        template=string.Template(spec["template"]) if "template" in spec else None,
        strip=bool(spec.get("strip", True)),
        default=spec.get("default", MISSING),
    )
    if model_field.is_relation:
        target = model_field.related_model
        rule.lookup = rule.lookup or target._meta.pk.name
        try:
            target._meta.get_field(rule.lookup)
        except FieldDoesNotExist:
            raise invalid(
                _("%(target)s has no field %(lookup)r to look up."),
                target=target.__name__,
                lookup=rule.lookup,
            ) from None
    elif rule.lookup is not None:
        raise invalid(_("'lookup' applies to ForeignKey fields only."))
    return rule


class ColumnIndex:
    """Finds a rule's column in rows, by header name or by position."""

    def __init__(self, columns: list):
        self.columns = list(columns)
        self.by_name = {}
        for key in self.columns:
            if isinstance(key, str):
                self.by_name.setdefault(key.strip().casefold(), key)

    def key_for(self, column: int | str):
        """Return the row key holding ``column``, or ``MISSING``."""
        if isinstance(column, int):
            if column in self.columns:
                return column
            if 1 <= column <= len(self.columns):
                return self.columns[column - 1]
            return MISSING
        return self.by_name.get(column.strip().casefold(), MISSING)


def extract(rule: FieldRule, values: dict, index: ColumnIndex, params: dict) -> Any:
    """Return the raw value of ``rule`` from a row's ``values``.

    Raises:
        RowRejected: If the row lacks the rule's column.
    """
    if rule.constant is not MISSING:
        return rule.constant
    key = index.key_for(rule.column)
    if key is MISSING or key not in values:
        raise RowRejected(
            _("the row has no column %(column)r.") % {"column": rule.column},
            column=rule.column,
            code="missing_column",
        )
    raw = values[key]
    if isinstance(raw, str):
        if rule.strip:
            raw = raw.strip()
        if raw == "" or raw in rule.null_values:
            raw = None
    elif raw is not None and str(raw) in rule.null_values:
        raw = None
    if raw is None:
        return None if rule.default is MISSING else rule.default
    if rule.template is not None:
        raw = rule.template.safe_substitute(params, value=raw)
    return raw


def convert(rule: FieldRule, raw: Any) -> Any:
    """Return ``raw`` as the Python value of the rule's model field.

    The model field's own ``to_python`` and validators do the work, so a
    field's choices, length and validators apply as they do in a form.

    Raises:
        RowRejected: If the field refuses the value; the message is the
            field's own.
    """
    model_field = rule.model_field
    if raw is None and not model_field.null and model_field.empty_strings_allowed:
        raw = ""
    try:
        value = model_field.clean(raw, None)
    except ValidationError as exc:
        raise RowRejected(
            _("field %(field)r: %(error)s")
            % {"field": rule.name, "error": " ".join(exc.messages)},
            column=rule.column,
            value=raw,
            code=exc.error_list[0].code or "invalid",
        ) from None
    if isinstance(model_field, models.DateTimeField) and value is not None:
        if timezone.is_naive(value) and _use_tz():
            value = timezone.make_aware(value)
    return value


def _use_tz() -> bool:
    from django.conf import settings

    return settings.USE_TZ
