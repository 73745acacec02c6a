"""Resolve ForeignKey values given by a natural key, a batch at a time."""

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from .errors import RowRejected
from .mapping import FieldRule


class ForeignKeyResolver:
    """Turns natural-key values into primary keys of a rule's target model.

    Keys are looked up once per batch with a single ``IN`` query, and the
    answers are kept for the rest of the step, so a file that names the
    same category on every row costs one query, not one per row.

    Args:
        rule: A mapping rule for a ForeignKey field.
    """

    def __init__(self, rule: FieldRule):
        self.rule = rule
        self.target = rule.model_field.related_model
        self.lookup_field = self.target._meta.get_field(rule.lookup)
        self.known: dict = {}

    def prime(self, raw_values) -> None:
        """Look up every value of ``raw_values`` not looked up before."""
        wanted = {}
        for raw in raw_values:
            if raw is None:
                continue
            try:
                key = self.lookup_field.to_python(raw)
            except ValidationError:
                continue
            if key not in self.known:
                wanted[key] = raw
        if not wanted:
            return
        manager = self.target._default_manager
        found = dict(
            manager.filter(**{f"{self.rule.lookup}__in": list(wanted)}).values_list(
                self.rule.lookup, "pk"
            )
        )
        for key in wanted:
            self.known[key] = found.get(key)

    def resolve(self, raw):
        """Return the primary key for ``raw``, or ``None`` for no value.

        Raises:
            RowRejected: If the value is malformed, names no row of the
                target, or is empty for a link that cannot be empty. A
                value that names nothing is always refused: only an empty
                cell leaves a link empty.
        """
        if raw is None:
            if not self.rule.model_field.null:
                raise RowRejected(
                    _("field %(field)r: a value is required.") % {"field": self.rule.name},
                    column=self.rule.column,
                    code="required",
                )
            return None
        try:
            key = self.lookup_field.to_python(raw)
        except ValidationError as exc:
            raise RowRejected(
                _("field %(field)r: %(error)s")
                % {"field": self.rule.name, "error": " ".join(exc.messages)},
                column=self.rule.column,
                value=raw,
                code="invalid",
            ) from None
        if key not in self.known:
            self.prime([raw])
        pk = self.known.get(key)
        if pk is None:
            raise RowRejected(
                _("field %(field)r: no %(model)s with %(lookup)s = %(value)r.")
                % {
                    "field": self.rule.name,
                    "model": self.target._meta.verbose_name,
                    "lookup": self.rule.lookup,
                    "value": raw,
                },
                column=self.rule.column,
                value=raw,
                code="does_not_exist",
            )
        return pk
