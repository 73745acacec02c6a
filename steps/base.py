"""The base class of step kinds, and the form fields their configs use."""

from typing import Any, ClassVar

from django import forms
from django.apps import apps
from django.core.files.storage import InvalidStorageError, storages
from django.db import models
from django.utils.translation import gettext as _

from .allow import model_allowed
from .context import StepContext
from .errors import ConfigError


class StepKind:
    """A kind of step: validates its config and does its work.

    Subclasses set ``name`` and ``config_form`` and implement :meth:`run`.
    The config is validated by ``config_form``, a plain Django form, so the
    same rules serve the admin, the management commands and the scheduler.

    Attributes:
        name: The name a step's ``kind`` field refers to.
        label: A short human name shown in the admin.
        config_form: The form that validates and cleans the config.
    """

    name: ClassVar[str] = ""
    label: ClassVar[str] = ""
    config_form: ClassVar[type[forms.Form]] = forms.Form

    def __init__(self, config: dict[str, Any]):
        self.config = self.clean_config(config)

    @classmethod
    def clean_config(cls, config: Any) -> dict[str, Any]:
        """Return the cleaned config, or raise :class:`ConfigError`.

        Raises:
            ConfigError: If the config is not a JSON object, names a key the
                kind does not know, or a value its form refuses; the message
                names the key.
        """
        if not isinstance(config, dict):
            raise ConfigError(_("the config must be a JSON object."))
        form = cls.config_form(data=config)
        unknown = sorted(set(config) - set(form.fields))
        if unknown:
            message = _("unknown config key %(key)r; known keys are %(known)s.") % {
                "key": unknown[0],
                "known": ", ".join(sorted(form.fields)),
            }
            raise ConfigError(message, field=unknown[0])
        if not form.is_valid():
            key, errors = next(iter(form.errors.as_data().items()))
            text = " ".join(str(m) for error in errors for m in error.messages)
            if key == "__all__":
                raise ConfigError(text)
            message = _("config key %(key)r: %(error)s") % {"key": key, "error": text}
            raise ConfigError(message, field=key)
        return form.cleaned_data

    def run(self, ctx: StepContext) -> dict[str, Any]:
        """Do the step's work and return its output.

        Args:
            ctx: The action context: run parameters, upstream outputs, and
                the counters, state and reports of this step.

        Returns:
            A JSON-serialisable dict that later steps see as this step's
            output.

        Raises:
            StepError: When the step cannot finish; the step fails with the
                error's message.
        """
        raise NotImplementedError

    def chunks(self, ctx: StepContext) -> list[dict[str, Any]] | None:
        """Split the step's work into chunks, or return ``None`` to run whole.

        A kind that returns chunks is run chunk by chunk: each chunk is its
        own Celery task, chunks may run in parallel, and each is applied in
        one transaction together with its checkpoint, so a retried or
        resumed step redoes only the chunks that did not finish.

        Returns:
            JSON-serialisable dicts, one per chunk, handed back to
            :meth:`run_chunk`; ``None`` (the default) to run the step whole.
        """
        return None

    def run_chunk(self, ctx: StepContext, chunk: dict[str, Any]) -> dict[str, Any]:
        """Do one chunk's work and return its part of the output."""
        raise NotImplementedError

    def merge(self, ctx: StepContext, outputs: list[dict[str, Any]]) -> dict[str, Any]:
        """Combine the chunks' outputs, in chunk order, into the step's output.

        The default adds up numbers found under the same key and keeps the
        last value of anything else.
        """
        merged: dict[str, Any] = {}
        for output in outputs:
            for key, value in output.items():
                both_numbers = isinstance(value, int | float) and isinstance(
                    merged.get(key), int | float
                )
                merged[key] = merged[key] + value if both_numbers else value
        return merged


class ModelChoiceField(forms.CharField):
    """A config value naming a model as ``"app_label.ModelName"``."""

    def to_python(self, value):
        if isinstance(value, type) and issubclass(value, models.Model):
            return value  # given by code, such as the admin's import mixin
        label = super().to_python(value)
        if not label:
            return None
        try:
            model = apps.get_model(label)
        except (LookupError, ValueError):
            raise forms.ValidationError(
                _("%(value)r is not an installed model (expected app_label.Model).")
                % {"value": label},
                code="invalid_model",
            ) from None
        if not model_allowed(model):
            raise forms.ValidationError(
                _("%(value)r is not among the models SYNCFLOW['MODELS'] allows.")
                % {"value": label},
                code="model_not_allowed",
            )
        return model


class StorageChoiceField(forms.CharField):
    """A config value naming one of the project's ``STORAGES`` aliases."""

    def validate(self, value):
        super().validate(value)
        try:
            storages[value]
        except InvalidStorageError:
            raise forms.ValidationError(
                _("%(value)r is not a storage alias in the STORAGES setting.")
                % {"value": value},
                code="invalid_storage",
            ) from None


class DictField(forms.JSONField):
    """A config value that must be a JSON object."""

    def validate(self, value):
        super().validate(value)
        if value is not None and not isinstance(value, dict):
            raise forms.ValidationError(_("expected a JSON object."), code="invalid")


class ListField(forms.JSONField):
    """A config value that must be a JSON array of strings."""

    def validate(self, value):
        super().validate(value)
        if value is None:
            return
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise forms.ValidationError(
                _("expected a JSON array of strings."), code="invalid"
            )


def model_field_names(model, paths: list[str], *, what: str) -> None:
    """Raise ``ValidationError`` unless every path resolves on ``model``.

    ``paths`` may follow relations (``subcategory__category__name``).
    """
    from django.core.exceptions import FieldError

    try:
        model._default_manager.values(*paths).query
    except FieldError as exc:
        raise forms.ValidationError(
            _("%(what)s: %(error)s") % {"what": what, "error": exc},
            code="invalid_field",
        ) from None
