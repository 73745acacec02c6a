"""Field mapping: which source column fills which model field, and how.

A mapping is a JSON object from model field name to a rule. A rule is a
column (a header name, or a 1-based position for a file without a header)
or an object with these keys:

``column``
    Header name (matched ignoring case and surrounding spaces), 1-based
    position, or a dotted path into nested objects (``"supplier.name"``).
    For a ForeignKey looked up by several fields, a list with one column
    per lookup field.
``value``
    A constant instead of a column.
``lookup``
    For a ForeignKey or ManyToManyField: the field of the target model the
    column holds (a natural key such as ``"code"``), or a list of fields
    that together identify a target; resolved in batches.
``missing``
    For a relation, what a value that names no target does: ``"reject"``
    the row (default), set ``"null"``, or ``"create"`` the target.
``separator``
    For a ManyToManyField, what separates the values in the cell
    (default ``"|"``).
``convert``
    Names of converters (:mod:`steps.converters`) applied in order.
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

import re
import string
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.utils.translation import gettext as _

# The step imports the cleaner from here, with the rest of the mapping.
from .allow import model_allowed
from .cleaning import make_cleaner  # noqa: F401
from .converters import apply_converters, get_converter
from .errors import RowRejected

MISSING = object()
RULE_KEYS = {
    "column",
    "value",
    "lookup",
    "missing",
    "separator",
    "convert",
    "null_values",
    "template",
    "strip",
    "default",
}
MISSING_POLICIES = ("reject", "null", "create")


@dataclass
class FieldRule:
    """How one model field gets its value from a source row."""

    name: str
    model_field: models.Field
    column: int | str | tuple | None = None
    constant: Any = MISSING
    lookup: tuple[str, ...] | None = None
    missing: str = "reject"
    separator: str = "|"
    converters: list = field(default_factory=list)
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

    @property
    def many(self) -> bool:
        """Whether the field is a ManyToManyField, set after the row is saved."""
        return self.model_field.many_to_many

    @property
    def label(self) -> str:
        """The column as messages name it; several columns joined by ``+``."""
        if isinstance(self.column, tuple):
            return "+".join(str(c) for c in self.column)
        return self.column


def parse_mapping(model: type[models.Model], mapping: dict) -> list[FieldRule]:
    """Return the rules of ``mapping`` checked against ``model``.

    Raises:
        forms.ValidationError: If a rule names a field the model lacks, a
            lookup field the target lacks, or an unknown key; the message
            names the field.
    """
    return [_parse_rule(model, name, spec) for name, spec in mapping.items()]


def _normalise(text: str) -> str:
    return re.sub(r"[\W_]+", "", str(text)).casefold()


def auto_mapping(model: type[models.Model], columns: list, explicit: dict) -> dict:
    """Return ``explicit`` plus a rule for each header that names a field.

    A header matches a field when it equals the field's name, attribute
    name or verbose name, ignoring case, spaces and punctuation
    (``"List price"`` fills ``list_price``). A header such as
    ``"category__code"`` or ``"category.code"`` fills the ForeignKey
    ``category`` by the target's unique field ``code``. Explicit rules
    win: a field they map, or a column they use, is not matched again.

    Limitation: the automatic primary key, fields that are not editable,
    and ManyToManyFields are left to explicit rules.
    """
    used = {_normalise(s) for s in explicit.values() if isinstance(s, str)}
    used |= {
        _normalise(s["column"])
        for s in explicit.values()
        if isinstance(s, dict) and isinstance(s.get("column"), str)
    }
    names = {}
    for model_field in model._meta.concrete_fields:
        if model_field.auto_created or not model_field.editable:
            continue
        for alias in (model_field.name, model_field.attname, model_field.verbose_name):
            names.setdefault(_normalise(alias), model_field)
    mapping = dict(explicit)
    for column in columns:
        if not isinstance(column, str) or _normalise(column) in used:
            continue
        rule = _auto_rule(model, names, column)
        if rule is not None and rule[0] not in mapping:
            mapping[rule[0]] = rule[1]
    return mapping


def _auto_rule(model, names: dict, column: str) -> tuple[str, Any] | None:
    found = names.get(_normalise(column))
    if found is not None:
        return found.name, column
    parts = re.split(r"__|\.", column.strip(), maxsplit=1)
    if len(parts) != 2:
        return None
    relation = names.get(_normalise(parts[0]))
    if relation is None or not relation.many_to_one:
        return None
    target = relation.related_model._meta
    for candidate in target.concrete_fields:
        if _normalise(candidate.name) == _normalise(parts[1]) and candidate.unique:
            return relation.name, {"column": column, "lookup": candidate.name}
    return None


def _parse_rule(model, name: str, spec: Any) -> FieldRule:
    def invalid(message: str, **values):
        values["field"] = name
        text = _("field %(field)r: ") % {"field": name} + message % values
        return forms.ValidationError(text, code="invalid_mapping")

    try:
        model_field = model._meta.get_field(name)
    except FieldDoesNotExist:
        raise invalid(_("%(model)s has no such field."), model=model.__name__) from None
    if not model_field.concrete or model_field.one_to_many:
        raise invalid(_("only concrete fields and many-to-many fields can be mapped."))
    if isinstance(spec, (int, str)) and not isinstance(spec, bool):
        spec = {"column": spec}
    if not isinstance(spec, dict):
        raise invalid(_("expected a column name, a position or an object."))
    unknown = sorted(set(spec) - RULE_KEYS)
    if unknown:
        raise invalid(_("unknown rule key %(key)r."), key=unknown[0])
    if ("column" in spec) == ("value" in spec):
        raise invalid(_("give exactly one of 'column' and 'value'."))

    lookup = spec.get("lookup")
    if isinstance(lookup, str):
        lookup = (lookup,)
    elif (
        isinstance(lookup, list) and lookup and all(isinstance(p, str) for p in lookup)
    ):
        lookup = tuple(lookup)
    elif lookup is not None:
        raise invalid(_("'lookup' must be a field name or a list of field names."))
    column = _parse_column(spec.get("column"), lookup, invalid)

    rule = FieldRule(
        name=name,
        model_field=model_field,
        column=column,
        constant=spec.get("value", MISSING),
        lookup=lookup,
        missing=spec.get("missing", "reject"),
        separator=spec.get("separator", "|"),
        converters=_parse_converters(spec.get("convert", []), invalid),
        null_values=frozenset(str(v) for v in spec.get("null_values", ())),
        template=_parse_template(spec.get("template"), invalid),
        strip=bool(spec.get("strip", True)),
        default=spec.get("default", MISSING),
    )
    _check_relation(rule, invalid)
    return rule


def _parse_column(column, lookup, invalid):
    if isinstance(column, list):
        if lookup is None or len(column) != len(lookup) or len(lookup) < 2:
            raise invalid(
                _("a list of columns needs a 'lookup' list of the same length.")
            )
        parts = [_parse_column(part, None, invalid) for part in column]
        return tuple(parts)
    if column is not None and (
        isinstance(column, bool) or not isinstance(column, (int, str))
    ):
        raise invalid(_("'column' must be a header name or a 1-based position."))
    if isinstance(column, int) and column < 1:
        raise invalid(_("column positions start at 1."))
    if lookup is not None and len(lookup) > 1 and column is not None:
        raise invalid(_("a 'lookup' of several fields needs a list of columns."))
    return column


def _parse_converters(names, invalid) -> list:
    if isinstance(names, str):
        names = [names]
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise invalid(_("'convert' must be a list of converter names."))
    try:
        return [(name, get_converter(name)) for name in names]
    except KeyError as exc:
        raise invalid("%(error)s", error=exc.args[0]) from None


def _check_relation(rule: FieldRule, invalid) -> None:
    model_field = rule.model_field
    if rule.missing not in MISSING_POLICIES:
        raise invalid(
            _("'missing' must be one of %(known)s."), known=", ".join(MISSING_POLICIES)
        )
    if not model_field.is_relation:
        if rule.lookup is not None:
            raise invalid(_("'lookup' applies to ForeignKey fields only."))
        if rule.missing != "reject":
            raise invalid(_("'missing' applies to relation fields only."))
        return
    if rule.missing == "null" and not model_field.null and not rule.many:
        raise invalid(_("'missing': 'null' needs a field that can be null."))
    if rule.missing == "create" and not model_allowed(model_field.related_model):
        raise invalid(
            _(
                "'missing': 'create' would create %(target)s rows, and "
                "SYNCFLOW['MODELS'] does not allow that model."
            ),
            target=model_field.related_model._meta.label,
        )
    if not isinstance(rule.separator, str) or not rule.separator:
        raise invalid(_("'separator' must be a non-empty string."))
    target = model_field.related_model
    rule.lookup = rule.lookup or (target._meta.pk.name,)
    for name in rule.lookup:
        try:
            target._meta.get_field(name)
        except FieldDoesNotExist:
            raise invalid(
                _("%(target)s has no field %(lookup)r to look up."),
                target=target.__name__,
                lookup=name,
            ) from None


class ColumnIndex:
    """Finds a rule's column in rows, by header name or by position."""

    def __init__(self, columns: list):
        self.columns = list(columns)
        self.memo: dict = {}
        self.by_name = {}
        for key in self.columns:
            if isinstance(key, str):
                self.by_name.setdefault(key.strip().casefold(), key)

    def key_for(self, column: int | str):
        """Return the row key holding ``column``, or ``MISSING``."""
        try:
            return self.memo[column]
        except KeyError:
            key = self.memo[column] = self._find(column)
            return key

    def _find(self, column: int | str):
        if isinstance(column, int):
            if column in self.columns:
                return column
            if 1 <= column <= len(self.columns):
                return self.columns[column - 1]
            return MISSING
        return self.by_name.get(column.strip().casefold(), MISSING)


def missing_columns(rules, index: ColumnIndex) -> list[tuple[int | str, str]]:
    """Return ``(column, field)`` for each column of ``rules`` not in ``index``.

    A dotted name counts as found when its first part is a column, since
    it may be a path into nested values.
    """
    missing = []
    for rule in rules:
        columns = rule.column if isinstance(rule.column, tuple) else (rule.column,)
        for column in columns:
            if column is None or index.key_for(column) is not MISSING:
                continue
            if isinstance(column, str) and "." in column:
                if index.key_for(column.split(".")[0]) is not MISSING:
                    continue
            missing.append((column, rule.name))
    return missing


def _lookup(values: dict, index: ColumnIndex, column: int | str) -> Any:
    """Return the value of ``column`` in ``values``, or ``MISSING``.

    A name not found as a column, holding dots, is followed as a path into
    nested objects, as a JSON file gives them.
    """
    key = index.key_for(column)
    if key is not MISSING and key in values:
        return values[key]
    if not isinstance(column, str) or "." not in column:
        return MISSING
    head, *rest = column.split(".")
    key = index.key_for(head)
    value = values.get(key, MISSING) if key is not MISSING else MISSING
    for part in rest:
        if value is None:
            return None
        if not isinstance(value, dict):
            return MISSING
        if part not in value:
            matches = [k for k in value if str(k).strip().casefold() == part.casefold()]
            part = matches[0] if matches else part
        value = value.get(part, MISSING)
    return value


def extract(rule: FieldRule, values: dict, index: ColumnIndex, params: dict) -> Any:
    """Return the raw value of ``rule`` from a row's ``values``.

    For a rule of several columns the value is a tuple, or ``None`` when
    every part is empty; for a ManyToManyField it is a list of values.

    Raises:
        RowRejected: If the row lacks the rule's column, or a converter
            refuses the value.
    """
    if rule.constant is not MISSING:
        return rule.constant
    if isinstance(rule.column, tuple):
        parts = tuple(_one(rule, values, index, params, c) for c in rule.column)
        return None if all(part is None for part in parts) else parts
    raw = _one(rule, values, index, params, rule.column, convert=not rule.many)
    if rule.many and raw is not None:
        items = raw if isinstance(raw, list) else str(raw).split(rule.separator)
        items = [item.strip() if isinstance(item, str) else item for item in items]
        items = [_converted(rule, item) for item in items if item not in ("", None)]
        return [item for item in items if item is not None]
    return raw


def make_extractor(rule: FieldRule, index: ColumnIndex, params: dict):
    """Return a function doing what :func:`extract` does for one ``index``.

    A rule that only reads a column (no template, converters, null values
    or default) gets a function that finds the column's key once and then
    only strips text; anything else calls :func:`extract`.
    """

    def general(values: dict) -> Any:
        return extract(rule, values, index, params)

    plain = (
        rule.constant is MISSING
        and not isinstance(rule.column, tuple)
        and not rule.many
        and rule.template is None
        and not rule.converters
        and not rule.null_values
        and rule.default is MISSING
        and rule.strip
    )
    key = index.key_for(rule.column) if plain else MISSING
    if key is MISSING:
        return general

    def read(values: dict) -> Any:
        try:
            raw = values[key]
        except KeyError:
            return general(values)
        if raw.__class__ is str:
            return raw.strip() or None
        return raw

    return read


def _parse_template(text: Any, invalid) -> string.Template | None:
    if text is None:
        return None
    if not isinstance(text, str):
        raise invalid(_("'template' must be a string."))
    template = string.Template(text)
    if not template.is_valid():
        raise invalid(
            _(
                "'template' %(template)r has a '$' that starts no name; "
                "write '$$' for a dollar sign."
            )
            % {"template": text}
        )
    return template


def missing_parameters(rules, params: dict) -> list[tuple[str, str]]:
    """Return ``(field, parameter)`` for each template name ``params`` lacks."""
    missing = []
    for rule in rules:
        if rule.template is not None:
            for name in rule.template.get_identifiers():
                if name != "value" and name not in params:
                    missing.append((rule.name, name))
    return missing


def _one(rule, values, index, params, column, *, convert: bool = True) -> Any:
    raw = _lookup(values, index, column)
    if raw is MISSING:
        raise RowRejected(
            _("the row has no column %(column)r.") % {"column": column},
            column=column,
            code="missing_column",
        )
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
        raw = rule.template.substitute(params, value=raw)
    return _converted(rule, raw) if convert else raw


def _converted(rule: FieldRule, raw: Any) -> Any:
    try:
        return apply_converters(rule.converters, raw)
    except RowRejected as exc:
        message = _("field %(field)r: %(error)s") % {"field": rule.name, "error": exc}
        raise RowRejected(
            message, column=rule.label, value=raw, code=exc.code
        ) from None
