"""Resolve relation values given by a natural key, a batch at a time."""

import logging
from functools import reduce
from operator import or_

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import DatabaseError, transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from .errors import RowRejected
from .mapping import FieldRule

logger = logging.getLogger(__name__)

#: Most natural keys of several fields looked up in one query.
MULTI_KEY_CHUNK = 300


class ForeignKeyResolver:
    """Turns natural-key values into primary keys of a rule's target model.

    Keys are looked up once per batch with a single query (``IN`` for one
    lookup field, an ``OR`` of conditions for several), and the answers are
    kept for the rest of the step, so a file that names the same category
    on every row costs one query, not one per row. A value found once is
    also remembered as it was read, so the same cell text later costs one
    dictionary look-up instead of its conversion by the lookup fields. A
    ManyToManyField's values are looked up the same way, each item on its
    own.

    Args:
        rule: A mapping rule for a ForeignKey or ManyToManyField.
    """

    def __init__(self, rule: FieldRule):
        self.rule = rule
        self.target = rule.model_field.related_model
        self.lookup_fields = [self.target._meta.get_field(n) for n in rule.lookup]
        self.known: dict = {}
        # Raw values that named a target, by (type, value): 1 and True are
        # equal keys of a dict but may not name the same target.
        self.found: dict = {}
        self.failed_creates: dict = {}

    def _key(self, raw) -> tuple:
        parts = raw if len(self.lookup_fields) > 1 else (raw,)
        return tuple(f.to_python(p) for f, p in zip(self.lookup_fields, parts))

    def _found(self, raw):
        """Return the pk that ``raw`` named before, or ``None``."""
        try:
            return self.found.get((raw.__class__, raw))
        except TypeError:
            # An unhashable value, such as a list read from JSON.
            return None

    def _items(self, raw) -> list:
        if raw is None:
            return []
        return list(raw) if self.rule.many else [raw]

    def prime(self, raw_values) -> None:
        """Look up every value of ``raw_values`` not looked up before."""
        wanted = set()
        for raw in raw_values:
            for item in self._items(raw):
                if self._found(item) is not None:
                    continue
                try:
                    key = self._key(item)
                except ValidationError:
                    continue
                if key not in self.known:
                    wanted.add(key)
        if not wanted:
            return
        found = self._query(list(wanted))
        for key in wanted:
            self.known[key] = found.get(key)

    def _query(self, keys: list[tuple]) -> dict:
        manager = self.target._default_manager
        names = list(self.rule.lookup)
        if len(names) == 1:
            rows = manager.filter(**{f"{names[0]}__in": [k[0] for k in keys]})
            return {(value,): pk for value, pk in rows.values_list(names[0], "pk")}
        found = {}
        for start in range(0, len(keys), MULTI_KEY_CHUNK):
            chunk = keys[start : start + MULTI_KEY_CHUNK]
            condition = reduce(or_, (Q(**dict(zip(names, key))) for key in chunk))
            for *values, pk in manager.filter(condition).values_list(*names, "pk"):
                found[tuple(values)] = pk
        return found

    def resolve(self, raw):
        """Return the primary key for ``raw`` (a list of them for a M2M).

        Returns ``None`` for no value, or for a value that names nothing
        when the rule's ``missing`` is ``"null"``.

        Raises:
            RowRejected: If the value is malformed, names no row of the
                target (with ``missing`` ``"reject"``, or a target that
                ``"create"`` could not create), or is empty for a link
                that cannot be empty.
        """
        if raw is None:
            if self.rule.many:
                return []
            if not self.rule.model_field.null:
                raise RowRejected(
                    _("field %(field)r: a value is required.")
                    % {"field": self.rule.name},
                    column=self.rule.label,
                    code="required",
                )
            return None
        if self.rule.many:
            pks = [self._resolve_one(item) for item in raw]
            return sorted({pk for pk in pks if pk is not None})
        return self._resolve_one(raw)

    def _resolve_one(self, raw):
        pk = self._found(raw)
        if pk is not None:
            return pk
        try:
            key = self._key(raw)
        except ValidationError as exc:
            raise RowRejected(
                _("field %(field)r: %(error)s")
                % {"field": self.rule.name, "error": " ".join(exc.messages)},
                column=self.rule.label,
                value=_value(raw),
                code="invalid",
            ) from None
        if key not in self.known:
            self.prime([raw if not self.rule.many else [raw]])
        pk = self.known.get(key)
        if pk is not None:
            try:
                self.found[raw.__class__, raw] = pk
            except TypeError:
                pass
            return pk
        if self.rule.missing == "null":
            return None
        if self.rule.missing == "create":
            return self._create(key, raw)
        raise RowRejected(
            _("field %(field)r: no %(model)s with %(lookup)s = %(value)s.")
            % {
                "field": self.rule.name,
                "model": self.target._meta.verbose_name,
                "lookup": ", ".join(self.rule.lookup),
                "value": _show(raw),
            },
            column=self.rule.label,
            value=_value(raw),
            code="does_not_exist",
        )

    def _create(self, key: tuple, raw):
        """Create the target that ``key`` names, once, and return its pk."""
        if key not in self.failed_creates:
            obj = self.target(**dict(zip(self.rule.lookup, key)))
            try:
                obj.full_clean(validate_unique=False, validate_constraints=False)
                with transaction.atomic():
                    obj.save(force_insert=True)
            except ValidationError as exc:
                self.failed_creates[key] = _by_field(exc)
            except DatabaseError as exc:
                self.failed_creates[key] = str(exc)
            else:
                logger.debug(
                    "Created %s %s for %r", self.target._meta.label, obj.pk, key
                )
                self.known[key] = obj.pk
                return obj.pk
        raise RowRejected(
            _("field %(field)r: cannot create the %(model)s %(value)s: %(error)s")
            % {
                "field": self.rule.name,
                "model": self.target._meta.verbose_name,
                "value": _show(raw),
                "error": self.failed_creates[key],
            },
            column=self.rule.label,
            value=_value(raw),
            code="create_failed",
        )


def _by_field(exc: ValidationError) -> str:
    """Return ``exc``'s messages, each after the field it concerns."""
    if not hasattr(exc, "error_dict"):
        return " ".join(exc.messages)
    return " ".join(
        " ".join(messages)
        if name == NON_FIELD_ERRORS
        else f"{name}: {' '.join(messages)}"
        for name, messages in exc.message_dict.items()
    )


def _show(raw) -> str:
    if isinstance(raw, tuple):
        return ", ".join(repr(part) for part in raw)
    return repr(raw)


def _value(raw):
    if isinstance(raw, tuple):
        return " | ".join(str(part) for part in raw)
    return raw
