"""Import and Export buttons for any ModelAdmin's changelist.

.. code-block:: python

    from flows.admin_mixins import ImportExportMixin

    @admin.register(Product)
    class ProductAdmin(ImportExportMixin, admin.ModelAdmin):
        import_key = ["number"]

Export writes the changelist's rows, as currently filtered, searched and
ordered, with the ``export_rows`` machinery. Import uploads a file, keeps
it in a storage, runs the ``import_rows`` step as a dry run to show what
would happen, row by row, and applies it once when the person confirms.
"""

import json
import logging
import posixpath
import tempfile
import uuid
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.text import get_valid_filename
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from formats import formats_for_name
from formats.errors import FormatError
from steps.context import StepContext
from steps.errors import StepError
from steps.export_rows import write_queryset
from steps.import_rows import ImportRows

logger = logging.getLogger(__name__)

FORMATS = {"csv": "CSV", "xlsx": "Excel (XLSX)", "json": "JSON"}
CONTENT_TYPES = {
    "csv": "text/csv",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "json": "application/json",
}


class ImportForm(forms.Form):
    """The upload form: a file, its format, and what to do with its rows."""

    file = forms.FileField(label=gettext_lazy("File"))
    format = forms.ChoiceField(
        label=gettext_lazy("Format"),
        required=False,
        help_text=gettext_lazy("Leave empty to tell the format by the file's name."),
    )
    action = forms.ChoiceField(
        label=gettext_lazy("Rows"),
        choices=[
            (
                "create_or_update",
                gettext_lazy("Create new rows and update existing ones"),
            ),
            ("create_only", gettext_lazy("Only create new rows")),
            ("update_only", gettext_lazy("Only update existing rows")),
        ],
    )

    def __init__(self, *args, formats=(), **kwargs):
        super().__init__(*args, **kwargs)
        choices = [("", _("From the file name"))]
        self.fields["format"].choices = choices + [
            (f, FORMATS.get(f, f)) for f in formats
        ]

    def clean(self):
        data = super().clean()
        upload = data.get("file")
        if upload and not data.get("format") and not formats_for_name(upload.name):
            raise forms.ValidationError(
                _("The name %(name)r does not tell the format; choose one.")
                % {"name": upload.name}
            )
        return data


class ExportForm(forms.Form):
    """The export form: the file format."""

    # The prefix keeps the name apart from the changelist's filters, which
    # travel in the same query string.
    prefix = "export"
    format = forms.ChoiceField(label=gettext_lazy("Format"), widget=forms.RadioSelect)


class ImportExportMixin:
    """Add Import and Export buttons to a ModelAdmin's changelist.

    Attributes:
        import_key: The fields that match a row to an existing object;
            ``None`` takes the model's first unique field that is not the
            primary key.
        import_storage: The ``STORAGES`` alias uploaded files wait in
            between the preview and the confirmation.
        import_folder: The folder of that storage they wait in.
        import_formats: The formats offered for upload.
        export_fields: Field paths to export, relations allowed; ``None``
            takes every concrete field (a ForeignKey as its primary key),
            so that an exported file imports back.
        export_formats: The formats offered for download.
        preview_page_size: Rows per page of the preview.

    Limitation: the preview is kept as a JSON file next to the upload, one
    entry per row; a file of a million rows makes a preview of some tens
    of megabytes. Uploads that are neither confirmed nor cancelled stay in
    the storage until someone deletes them.
    """

    change_list_template = "syncflow/import_export/change_list.html"
    import_key: list[str] | None = None
    import_storage = "default"
    import_folder = "syncflow/admin-imports"
    import_formats = ("csv", "xlsx", "json")
    export_fields: list[str] | None = None
    export_formats = ("csv", "xlsx", "json")
    preview_page_size = 50

    def get_urls(self):
        opts = self.model._meta
        name = f"{opts.app_label}_{opts.model_name}"
        wrap = self.admin_site.admin_view
        return [
            path("import/", wrap(self.import_view), name=f"{name}_import"),
            path(
                "import/<uuid:token>/",
                wrap(self.import_preview_view),
                name=f"{name}_import_preview",
            ),
            path("export/", wrap(self.export_view), name=f"{name}_export"),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        opts = self.model._meta
        name = f"admin:{opts.app_label}_{opts.model_name}"
        query = request.GET.urlencode()
        extra = {
            "has_import_permission": self.has_import_permission(request),
            "import_url": reverse(f"{name}_import"),
            "export_url": reverse(f"{name}_export") + (f"?{query}" if query else ""),
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra_context=extra)

    def has_import_permission(self, request) -> bool:
        """Return whether the user may import: add and change permissions."""
        return self.has_add_permission(request) and self.has_change_permission(request)

    def get_import_key(self) -> list[str]:
        """Return the fields that identify an existing object."""
        if self.import_key:
            return list(self.import_key)
        for field in self.model._meta.concrete_fields:
            if field.unique and not field.primary_key and field.editable:
                return [field.name]
        return [self.model._meta.pk.name]

    def get_export_fields(self) -> list[str]:
        """Return the field paths an export writes."""
        if self.export_fields:
            return list(self.export_fields)
        return [f.name for f in self.model._meta.concrete_fields if not f.auto_created]

    def get_export_headers(self, fields: list[str]) -> list[str]:
        """Return column titles: a field's verbose name, a path as it is."""
        opts, headers = self.model._meta, []
        for name in fields:
            field = opts.get_field(name) if "__" not in name else None
            plain = field is not None and not field.is_relation
            headers.append(str(field.verbose_name).capitalize() if plain else name)
        return headers

    # Export.

    def export_view(self, request):
        """Show the format choice; with ``export-format``, send the file."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        request.GET = request.GET.copy()
        chosen = request.GET.pop("export-format", [None])[0]
        changelist = self.get_changelist_instance(request)
        queryset = changelist.get_queryset(request)
        form = ExportForm(
            {"export-format": chosen} if chosen else None,
            initial={"format": self.export_formats[0]},
        )
        form.fields["format"].choices = [
            (f, FORMATS.get(f, f)) for f in self.export_formats
        ]
        if chosen and form.is_valid():
            return self._export_file(queryset, form.cleaned_data["format"])
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Export %(name)s")
            % {"name": self.model._meta.verbose_name_plural},
            "form": form,
            "count": queryset.count(),
            "params": [(k, v) for k, values in request.GET.lists() for v in values],
            "filtered": bool(request.GET),
            "changelist_url": self._changelist_url(request.GET.urlencode()),
        }
        return TemplateResponse(request, "syncflow/import_export/export.html", context)

    def _export_file(self, queryset, format: str) -> FileResponse:
        fields = self.get_export_fields()
        stamp = timezone.localtime()
        name = f"{self.model._meta.model_name}-{stamp:%Y%m%d-%H%M%S}.{format}"
        # FileResponse closes the file once it has been sent.
        spool = tempfile.TemporaryFile()  # noqa: SIM115
        write_queryset(
            queryset,
            spool,
            fields=fields,
            headers=self.get_export_headers(fields),
            name=name,
            format=format,
        )
        spool.seek(0)
        return FileResponse(
            spool, as_attachment=True, filename=name, content_type=CONTENT_TYPES[format]
        )

    # Import.

    def import_view(self, request):
        """Show the upload form; on upload, run the dry run and show it."""
        if not self.has_import_permission(request):
            raise PermissionDenied
        form = ImportForm(
            request.POST or None, request.FILES or None, formats=self.import_formats
        )
        if request.method == "POST" and form.is_valid():
            token = uuid.uuid4()
            try:
                self._start_import(request, token, form.cleaned_data)
            except (StepError, FormatError) as exc:
                form.add_error(None, str(exc))
            else:
                return HttpResponseRedirect(self._preview_url(token))
        context = self._context(request, _("Import %(name)s"), form=form)
        return TemplateResponse(request, "syncflow/import_export/import.html", context)

    def _start_import(self, request, token: uuid.UUID, data: dict) -> None:
        storage = storages[self.import_storage]
        folder = posixpath.join(self.import_folder, token.hex)
        upload = data["file"]
        name = storage.save(
            posixpath.join(folder, get_valid_filename(upload.name)), upload
        )
        plan = {
            "user": request.user.pk,
            "file": name,
            "original_name": upload.name,
            "format": data["format"] or None,
            "action": data["action"],
        }
        try:
            preview = self._run_import(plan, dry_run=True)
        except Exception:
            storage.delete(name)
            raise
        plan.update(preview)
        self._save_plan(token, plan)

    def _import_config(self, plan: dict, *, dry_run: bool) -> dict:
        return {
            "source": {"storage": self.import_storage, "path": plan["file"]},
            "format": plan["format"] or "",
            "model": self.model,
            "fields": "auto",
            "key": self.get_import_key(),
            "action": plan["action"],
            "dry_run": dry_run,
        }

    def _run_import(self, plan: dict, *, dry_run: bool) -> dict:
        """Run the import; return its counts and, for a dry run, each row."""
        rows: list[list] = []

        def after_row(ctx, number, values, outcome):
            shown = {k: _show(v) for k, v in values.items()}
            rows.append([number, outcome, shown, ""])

        def on_row_error(ctx, rejected):
            where = _("column %(column)s: ") % {"column": rejected.column}
            text = (where if rejected.column is not None else "") + rejected.message
            rows.append([rejected.row, "rejected", {}, text])

        handlers = {"after_row": [after_row], "on_row_error": [on_row_error]}
        ctx = StepContext(
            step_key="admin-import", row_handlers=handlers if dry_run else {}
        )
        output = ImportRows(self._import_config(plan, dry_run=dry_run)).run(ctx)
        rows.sort(key=lambda row: row[0] or 0)
        return {"counts": ctx.count_dict(), "rows": rows, "total": output["rows"]}

    def import_preview_view(self, request, token: uuid.UUID):
        """Show the dry run's rows; on POST, apply the import or cancel it."""
        if not self.has_import_permission(request):
            raise PermissionDenied
        plan = self._load_plan(token)
        if plan is None or plan["user"] != request.user.pk:
            self.message_user(
                request,
                _("This import was applied or cancelled already, or has expired."),
                messages.WARNING,
            )
            return HttpResponseRedirect(self._changelist_url())
        if request.method == "POST":
            return self._finish_import(request, token, plan)
        page = Paginator(plan["rows"], self.preview_page_size).get_page(
            request.GET.get("page")
        )
        names = _preview_columns(plan["rows"])
        rows = [
            (number, outcome, [values.get(name, "") for name in names], error)
            for number, outcome, values, error in page.object_list
        ]
        context = self._context(
            request,
            _("Preview of the import of %(name)s"),
            plan=plan,
            page=page,
            rows=rows,
            headers=[self._column_title(name) for name in names],
            page_range=page.paginator.get_elided_page_range(page.number),
        )
        return TemplateResponse(
            request, "syncflow/import_export/import_preview.html", context
        )

    def _finish_import(self, request, token: uuid.UUID, plan: dict):
        # The plan is deleted before the import runs, so a second POST (a
        # double click, a reload) finds nothing to apply.
        self._delete_plan(token)
        storage = storages[self.import_storage]
        try:
            if "confirm" not in request.POST:
                self.message_user(
                    request, _("The import was cancelled."), messages.INFO
                )
                return HttpResponseRedirect(self._changelist_url())
            result = self._run_import(plan, dry_run=False)
        except (StepError, FormatError) as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return HttpResponseRedirect(self._changelist_url())
        finally:
            storage.delete(plan["file"])
        counts = result["counts"]
        logger.info(
            "Admin import of %s by user %s: %s", plan["file"], request.user.pk, counts
        )
        message = _(
            "Imported %(name)s: %(created)d created, %(updated)d updated, "
            "%(unchanged)d unchanged, %(failed)d rejected."
        ) % {"name": plan["original_name"], **counts}
        level = messages.WARNING if counts["failed"] else messages.SUCCESS
        self.message_user(request, message, level)
        return HttpResponseRedirect(self._changelist_url())

    def _column_title(self, attname: str) -> str:
        """Return the verbose name of the field stored in ``attname``."""
        for field in self.model._meta.get_fields():
            if getattr(field, "attname", field.name) == attname:
                return str(getattr(field, "verbose_name", attname)).capitalize()
        return attname

    # Plans kept in the storage between the preview and the confirmation.

    def _plan_name(self, token: uuid.UUID) -> str:
        return posixpath.join(self.import_folder, token.hex, "preview.json")

    def _save_plan(self, token: uuid.UUID, plan: dict) -> None:
        content = ContentFile(json.dumps(plan).encode("utf-8"))
        storages[self.import_storage].save(self._plan_name(token), content)

    def _load_plan(self, token: uuid.UUID) -> dict | None:
        storage = storages[self.import_storage]
        name = self._plan_name(token)
        if not storage.exists(name):
            return None
        with storage.open(name, "rb") as handle:
            return json.loads(handle.read())

    def _delete_plan(self, token: uuid.UUID) -> None:
        storage = storages[self.import_storage]
        name = self._plan_name(token)
        if not storage.exists(name):
            raise Http404(_("This import was applied or cancelled already."))
        storage.delete(name)

    def _preview_url(self, token: uuid.UUID) -> str:
        opts = self.model._meta
        return reverse(
            f"admin:{opts.app_label}_{opts.model_name}_import_preview", args=[token]
        )

    def _changelist_url(self, query: str = "") -> str:
        opts = self.model._meta
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        return f"{url}?{query}" if query else url

    def _context(self, request, title: str, **values) -> dict[str, Any]:
        opts = self.model._meta
        return {
            **self.admin_site.each_context(request),
            "opts": opts,
            "title": title % {"name": opts.verbose_name_plural},
            "changelist_url": self._changelist_url(),
            "key": ", ".join(self.get_import_key()),
            **values,
        }


def _show(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def _preview_columns(rows: list) -> list[str]:
    """Return the value names of the preview's rows, in the order first seen."""
    names: dict = {}
    for _number, _outcome, values, _error in rows:
        for name in values:
            names.setdefault(name, None)
    return list(names)
