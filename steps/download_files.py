"""The ``download_files`` step kind: fetch what rows point to over HTTP."""

import io
import logging
import posixpath
from typing import Any
from urllib.parse import unquote, urlsplit

import requests
from django import forms
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.core.files.base import ContentFile
from django.db import models
from django.utils.translation import gettext as _

from .base import DictField, ModelChoiceField, StepKind
from .context import StepContext
from .errors import RowRejected

logger = logging.getLogger(__name__)


class DownloadFilesConfig(forms.Form):
    """The config of a ``download_files`` step."""

    model = ModelChoiceField(help_text=_("The model whose objects hold the URLs."))
    url_field = forms.CharField(help_text=_("The field holding each object's URL."))
    file_field = forms.CharField(help_text=_("The FileField or ImageField to fill."))
    filter = DictField(
        required=False, help_text=_("Field lookups limiting the objects.")
    )
    only_missing = forms.BooleanField(
        required=False, help_text=_("Skip objects whose file is stored already.")
    )
    timeout = forms.FloatField(required=False, min_value=0.1, max_value=600)
    max_bytes = forms.IntegerField(required=False, min_value=1)

    def clean(self):
        data = super().clean()
        model = data.get("model")
        if model is None:
            return data
        for key, wanted in (("url_field", None), ("file_field", models.FileField)):
            name = data.get(key)
            if not name:
                continue
            try:
                field = model._meta.get_field(name)
            except FieldDoesNotExist:
                raise forms.ValidationError(
                    _("%(key)s: %(model)s has no field %(name)r.")
                    % {"key": key, "model": model.__name__, "name": name}
                ) from None
            if wanted and not isinstance(field, wanted):
                raise forms.ValidationError(
                    _("%(key)s: %(name)r is not a FileField or ImageField.")
                    % {"key": key, "name": name}
                )
        try:
            model._default_manager.filter(**(data.get("filter") or {})).query
        except Exception as exc:  # FieldError, ValueError, TypeError
            raise forms.ValidationError(
                _("filter: %(error)s") % {"error": exc}
            ) from None
        # A form's BooleanField reads a missing key as False; here the safe
        # and expected default is to skip what is there already.
        data["only_missing"] = self.data.get("only_missing", True) is not False
        data["timeout"] = data.get("timeout") or 30.0
        data["max_bytes"] = data.get("max_bytes") or 50 * 1024 * 1024
        data["filter"] = data.get("filter") or {}
        return data


class DownloadFiles(StepKind):
    """Download the file each object's URL points to into its file field.

    Objects with an empty URL are left alone. With ``only_missing`` (the
    default) an object whose file is stored already counts as unchanged;
    otherwise the file is fetched again and counts as updated. A failed
    download (an HTTP error, a refused connection, a file over
    ``max_bytes``, or for an ImageField something that is not an image) is
    reported against the object's primary key and the step goes on. An
    image whose URL names no file extension is stored with the extension
    of the format Pillow finds in it (``.gif``, ``.png``, ``.jpg``).

    Limitation: downloads run one after another within the step.
    """

    name = "download_files"
    label = _("Download files over HTTP")
    config_form = DownloadFilesConfig

    def run(self, ctx: StepContext) -> dict[str, Any]:
        config = self.config
        model = config["model"]
        url_field, file_field = config["url_field"], config["file_field"]
        # The filter only picks the objects: applied to the query that walks
        # them, a filter through a multi-valued relation would list an
        # object once per related row that matches.
        chosen = model._default_manager.filter(**config["filter"]).values("pk")
        objects = (
            model._default_manager.filter(pk__in=chosen)
            .exclude(**{f"{url_field}__isnull": True})
            .exclude(**{url_field: ""})
            .order_by("pk")
        )
        total = objects.count()
        done = 0
        with requests.Session() as session:
            for obj in objects.iterator(chunk_size=200):
                had_file = bool(getattr(obj, file_field))
                if had_file and config["only_missing"]:
                    ctx.counts["unchanged"] += 1
                else:
                    try:
                        self._fetch(session, obj, getattr(obj, url_field), had_file)
                    except RowRejected as exc:
                        ctx.reject(
                            None,
                            str(exc),
                            column=url_field,
                            value=exc.value,
                            code=exc.code,
                            object_pk=obj.pk,
                        )
                    else:
                        ctx.counts["updated" if had_file else "created"] += 1
                done += 1
                ctx.progress(done, total)
        return {"model": model._meta.label, "objects": total, **ctx.count_dict()}

    def _fetch(self, session: requests.Session, obj, url: str, replace: bool) -> None:
        content = self._get(session, url)
        field = obj._meta.get_field(self.config["file_field"])
        name = posixpath.basename(unquote(urlsplit(url).path)) or f"{obj.pk}"
        if isinstance(field, models.ImageField):
            name = _with_image_extension(content, name)
            _check_image(content, name, url)
        stored = getattr(obj, field.name)
        if replace:
            stored.delete(save=False)
        stored.save(name, ContentFile(content), save=False)
        obj.save(update_fields=[field.name])
        logger.debug("Stored %s for %s %s", stored.name, obj._meta.label, obj.pk)

    def _get(self, session: requests.Session, url: str) -> bytes:
        limit = self.config["max_bytes"]
        try:
            with session.get(
                url, timeout=self.config["timeout"], stream=True
            ) as response:
                response.raise_for_status()
                chunks, size = [], 0
                for chunk in response.iter_content(64 * 1024):
                    size += len(chunk)
                    if size > limit:
                        raise RowRejected(
                            _("%(url)s is larger than %(limit)d bytes.")
                            % {"url": url, "limit": limit},
                            value=url,
                            code="too_large",
                        )
                    chunks.append(chunk)
                return b"".join(chunks)
        except requests.RequestException as exc:
            raise RowRejected(
                _("cannot download %(url)s: %(error)s") % {"url": url, "error": exc},
                value=url,
                code="download_failed",
            ) from None


def _with_image_extension(content: bytes, name: str) -> str:
    """Return ``name`` with the extension of the image format in ``content``.

    A URL such as ``/photos/70`` names no type; the bytes tell Pillow which
    format it is, and the name gets that format's usual extension. A name
    that has an extension, or bytes Pillow does not know, are left as they
    are, so that :func:`_check_image` refuses what is not an image.
    """
    if posixpath.splitext(name)[1]:
        return name
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(content)) as image:
            kind = image.format
    except (UnidentifiedImageError, OSError):
        return name
    # Pillow lists several extensions for some formats (.apng before .png);
    # the format's own name is the usual one where Pillow knows it.
    extensions = {e for e, f in Image.registered_extensions().items() if f == kind}
    usual = {"JPEG": ".jpg"}.get(kind, f".{kind.lower()}")
    if usual not in extensions and kind != "JPEG":
        usual = min(extensions, default="")
    return name + usual


def _check_image(content: bytes, name: str, url: str) -> None:
    """Refuse ``content`` unless it is an image Pillow can read, named as one.

    Django's form ``ImageField`` does the check: Pillow must recognise the
    bytes, and ``name`` must end in an image file extension.
    """
    try:
        forms.ImageField().clean(ContentFile(content, name=name))
    except ValidationError as exc:
        raise RowRejected(
            _("%(url)s is not an image: %(error)s")
            % {"url": url, "error": " ".join(exc.messages)},
            value=url,
            code="not_an_image",
        ) from None
