"""Open the files that steps read from, wherever the config says they are."""

from contextlib import contextmanager
from typing import IO, Iterator

from django import forms
from django.core.files.storage import storages
from django.utils.translation import gettext as _

from .errors import SourceError


class SourceField(forms.JSONField):
    """A config value naming a file in one of the project's storages.

    Accepts ``{"storage": "erp", "path": "Product.csv"}``, or a plain path
    string, which means the ``default`` storage.
    """

    def to_python(self, value):
        # A plain string is a path, not JSON text to decode.
        if isinstance(value, str):
            return {"path": value}
        return super().to_python(value)

    def clean(self, value):
        value = super().clean(value)
        if value is None:
            return None
        if not isinstance(value, dict) or not isinstance(value.get("path"), str):
            raise forms.ValidationError(
                _('expected a path or {"storage": ..., "path": ...}.'), code="invalid"
            )
        unknown = sorted(set(value) - {"storage", "path"})
        if unknown:
            raise forms.ValidationError(
                _("unknown source key %(key)r.") % {"key": unknown[0]}, code="invalid"
            )
        alias = value.get("storage", "default")
        if alias not in storages.backends:
            raise forms.ValidationError(
                _("%(alias)r is not a storage alias in the STORAGES setting.")
                % {"alias": alias},
                code="invalid_storage",
            )
        return {"storage": alias, "path": value["path"]}


@contextmanager
def open_source(source: dict) -> Iterator[IO[bytes]]:
    """Open a cleaned ``source`` for binary reading.

    Args:
        source: ``{"storage": alias, "path": name}`` as cleaned by
            :class:`SourceField`.

    Raises:
        SourceError: If the storage has no such file or cannot open it.
    """
    storage = storages[source["storage"]]
    name = source["path"]
    try:
        handle = storage.open(name, "rb")
    except OSError as exc:
        message = _("Cannot open %(name)r in storage %(alias)r: %(error)s") % {
            "name": name,
            "alias": source["storage"],
            "error": exc.strerror or exc,
        }
        raise SourceError(message) from exc
    try:
        yield handle
    finally:
        handle.close()
