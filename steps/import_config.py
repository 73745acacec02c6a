"""The config of the ``import_rows`` step kind, checked as a form."""

from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .allow import import_callable
from .base import DictField, ListField, ModelChoiceField
from .failed_rows import FailedRowsField
from .mapping import parse_mapping
from .sources import SourceField

ACTIONS = [
    ("create_or_update", gettext_lazy("Create new rows and update existing ones")),
    ("create_only", gettext_lazy("Create new rows; refuse rows that exist")),
    ("update_only", gettext_lazy("Update existing rows; refuse rows that don't exist")),
    ("skip_existing", gettext_lazy("Create new rows; leave existing ones alone")),
]
TRANSACTIONS = [
    ("batch", gettext_lazy("Commit each batch")),
    ("step", gettext_lazy("All or nothing for the whole step")),
    ("none", gettext_lazy("Commit each row on its own")),
]
WRITES = [
    ("bulk", gettext_lazy("Write each batch in bulk")),
    ("save", gettext_lazy("Call save() on each row, so signals run")),
]


class MappingField(forms.JSONField):
    """The ``fields`` value: a JSON object of rules, or ``"auto"``."""

    def to_python(self, value):
        if value == "auto":
            return value
        return super().to_python(value)

    def validate(self, value):
        super().validate(value)
        if value != "auto" and not isinstance(value, dict):
            raise forms.ValidationError(
                _('expected a JSON object of rules, or "auto".'), code="invalid"
            )


class ImportRowsConfig(forms.Form):
    """The config of an ``import_rows`` step.

    ``cleaned_data`` gains ``rules`` (the explicit rules, parsed) and
    ``auto`` (whether headers that name fields are mapped too).
    """

    source = SourceField(help_text=_("A path, {storage, path}, {url} or {dataset}."))
    format = forms.CharField(
        required=False, help_text=_("Format name; empty guesses from the extension.")
    )
    read = DictField(required=False, help_text=_("Options for the format's reader."))
    model = ModelChoiceField(help_text=_("The model rows go into: app_label.Model."))
    fields = MappingField(help_text=_('Model field name → column or rule, or "auto".'))
    auto = forms.BooleanField(
        required=False, help_text=_("Also map headers that name a field.")
    )
    key = ListField(help_text=_("Fields that identify an existing row."))
    action = forms.ChoiceField(choices=ACTIONS, required=False)
    update_fields = ListField(
        required=False, help_text=_("Fields an update may change; empty means all.")
    )
    batch_size = forms.IntegerField(required=False, min_value=1, max_value=100_000)
    chunk_size = forms.IntegerField(
        required=False,
        min_value=1,
        help_text=_(
            "Split the rows into chunks of this many, run as parallel tasks "
            "and checkpointed one by one; empty runs the step whole."
        ),
    )
    transaction = forms.ChoiceField(choices=TRANSACTIONS, required=False)
    write = forms.ChoiceField(choices=WRITES, required=False)
    dry_run = forms.BooleanField(
        required=False, help_text=_("Roll everything back and only report.")
    )
    failed_rows = FailedRowsField(
        required=False,
        help_text=_("Where to write the rejected rows: {storage, path}."),
    )
    max_rejected = forms.IntegerField(
        required=False,
        min_value=0,
        help_text=_("Fail the step when more rows than this are rejected."),
    )
    row_hook = forms.CharField(
        required=False,
        help_text=_("Dotted path of a callable run on every row before it is saved."),
    )

    def clean(self):
        data = super().clean()
        model = data.get("model")
        if model is None or data.get("fields") is None:
            return data
        data["auto"] = data["auto"] or data["fields"] == "auto"
        explicit = {} if data["fields"] == "auto" else data["fields"]
        data["fields"] = explicit
        data["rules"] = parse_mapping(model, explicit)
        if not data.get("key"):
            raise forms.ValidationError(_("'key' needs at least one field."))
        if not data["auto"]:
            check_mapped(data)
        if data.get("row_hook"):
            try:
                data["row_hook"] = import_callable(data["row_hook"])
            except ImportError as exc:
                raise forms.ValidationError(
                    _("row_hook: %(error)s") % {"error": exc}
                ) from None
        data["action"] = data.get("action") or "create_or_update"
        data["transaction"] = data.get("transaction") or "batch"
        if data.get("chunk_size") and data["transaction"] == "step":
            raise forms.ValidationError(
                _(
                    "'chunk_size' cannot be used with transaction \"step\": "
                    "chunks commit one by one, so the step cannot be all or "
                    "nothing."
                )
            )
        data["write"] = data.get("write") or "bulk"
        data["batch_size"] = data.get("batch_size") or 1000
        data["read"] = data.get("read") or {}
        return data


def check_mapped(data: dict) -> None:
    """Raise ``ValidationError`` unless the key and update fields are mapped.

    With automatic mapping this runs when the headers are known, at the
    start of the step.
    """
    mapped = {rule.name for rule in data["rules"]}
    for name in data.get("key") or ():
        if name not in mapped:
            raise forms.ValidationError(
                _("key field %(name)r is not in the field mapping.") % {"name": name}
            )
    for name in data.get("update_fields") or ():
        if name not in mapped:
            raise forms.ValidationError(
                _("update field %(name)r is not in the field mapping.") % {"name": name}
            )
