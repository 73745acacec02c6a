"""The ``recalculate`` step kind: store aggregates of related rows."""

from decimal import Decimal
from typing import Any

from django import forms
from django.core.exceptions import FieldDoesNotExist, FieldError
from django.db import models, transaction
from django.utils.translation import gettext as _

from .base import DictField, ModelChoiceField, StepKind
from .context import StepContext

AGGREGATES = {
    "count": lambda path: models.Count(path, distinct=True),
    "sum": models.Sum,
    "avg": models.Avg,
    "min": models.Min,
    "max": models.Max,
}


class RecalculateConfig(forms.Form):
    """The config of a ``recalculate`` step."""

    model = ModelChoiceField(help_text=_("The model whose fields are recalculated."))
    fields = DictField(
        help_text=_('Field → {"aggregate": "count|sum|avg|min|max", "of": path}.')
    )
    filter = DictField(
        required=False, help_text=_("Field lookups limiting the objects.")
    )

    def clean(self):
        data = super().clean()
        model = data.get("model")
        if model is None or data.get("fields") is None:
            return data
        if not data["fields"]:
            raise forms.ValidationError(_("'fields' names no field to recalculate."))
        data["targets"] = [
            _parse_target(model, n, s) for n, s in data["fields"].items()
        ]
        data["filter"] = data.get("filter") or {}
        try:
            model._default_manager.filter(**data["filter"]).query
        except (FieldError, ValueError, TypeError) as exc:
            raise forms.ValidationError(
                _("filter: %(error)s") % {"error": exc}
            ) from None
        return data


def _parse_target(model, name: str, spec: Any) -> tuple:
    try:
        field = model._meta.get_field(name)
    except FieldDoesNotExist:
        raise forms.ValidationError(
            _("field %(name)r: %(model)s has no such field.")
            % {"name": name, "model": model.__name__}
        ) from None
    if not isinstance(spec, dict) or set(spec) != {"aggregate", "of"}:
        raise forms.ValidationError(
            _('field %(name)r: expected {"aggregate": ..., "of": ...}.')
            % {"name": name}
        )
    if spec["aggregate"] not in AGGREGATES:
        raise forms.ValidationError(
            _("field %(name)r: unknown aggregate %(agg)r; use one of %(known)s.")
            % {"name": name, "agg": spec["aggregate"], "known": ", ".join(AGGREGATES)}
        )
    expression = AGGREGATES[spec["aggregate"]](spec["of"])
    try:
        model._default_manager.annotate(_value=expression).query
    except FieldError as exc:
        raise forms.ValidationError(
            _("field %(name)r: %(error)s") % {"name": name, "error": exc}
        ) from None
    return field, expression


class Recalculate(StepKind):
    """Recalculate stored fields from aggregates over related rows.

    Each configured field is computed in its own query (so that a count
    over one relation never multiplies a sum over another), compared with
    what is stored, and only objects whose values differ are written.

    Limitation: the new values of every object are held in memory while
    they are compared, one entry a field per object.
    """

    name = "recalculate"
    label = _("Recalculate fields from aggregates")
    config_form = RecalculateConfig

    def run(self, ctx: StepContext) -> dict[str, Any]:
        model = self.config["model"]
        # The filter only picks the objects: applied to the aggregating query
        # itself, a filter through a multi-valued relation would also limit
        # the rows aggregated, and list an object once per matching row.
        chosen = model._default_manager.filter(**self.config["filter"]).values("pk")
        objects = model._default_manager.filter(pk__in=chosen)
        new_values: dict[Any, dict[str, Any]] = {}
        for field, expression in self.config["targets"]:
            pairs = objects.annotate(_value=expression).values_list("pk", "_value")
            for pk, value in pairs.order_by():
                new_values.setdefault(pk, {})[field.attname] = _as_field_value(
                    field, value
                )

        names = [field.attname for field, _expression in self.config["targets"]]
        changed = []
        for obj in objects.only("pk", *names).order_by("pk").iterator(chunk_size=2000):
            values = new_values.get(obj.pk, {})
            if all(getattr(obj, n) == values.get(n) for n in names):
                ctx.counts["unchanged"] += 1
                continue
            for name in names:
                setattr(obj, name, values.get(name))
            changed.append(obj)
        with transaction.atomic():
            model._default_manager.bulk_update(changed, names, batch_size=1000)
        ctx.counts["updated"] += len(changed)
        ctx.progress(len(new_values), len(new_values))
        return {
            "model": model._meta.label,
            "objects": len(new_values),
            **ctx.count_dict(),
        }


def _as_field_value(field: models.Field, value: Any) -> Any:
    """Return an aggregate ``value`` as the field would store it."""
    if value is None:
        return None
    if isinstance(field, models.DecimalField):
        value = Decimal(str(value))
        return value.quantize(Decimal(1).scaleb(-field.decimal_places))
    return field.to_python(value)
