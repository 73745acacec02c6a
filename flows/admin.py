"""Admin pages to design flows, start runs and read their reports."""

import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _, ngettext

from steps.registry import kind_choices

from .dag import StepSpec, build_graph, describe_plan, flow_specs, plan_canvas
from .errors import FlowError
from .models import Flow, FlowRun, RowError, Step, StepRun
from .report import format_duration
from .scheduler import start_run


class PrettyJSONField(forms.JSONField):
    """A JSON form field that shows its value indented, for people."""

    def prepare_value(self, value):
        if isinstance(value, forms.fields.InvalidJSONInput):
            return value
        return json.dumps(value, indent=2, ensure_ascii=False)


class StepForm(forms.ModelForm):
    kind = forms.ChoiceField(choices=kind_choices)
    config = PrettyJSONField(
        required=False,
        initial=dict,
        help_text=Step._meta.get_field("config").help_text,
        widget=forms.Textarea(attrs={"rows": 8, "cols": 90}),
    )

    class Meta:
        model = Step
        fields = ["key", "kind", "config", "depends_on", "description", "position"]
        widgets = {
            "description": forms.Textarea(attrs={"rows": 2, "cols": 90}),
            "depends_on": forms.CheckboxSelectMultiple,
        }


class StepFormSet(forms.BaseInlineFormSet):
    """Checks the flow's whole DAG before any step is saved."""

    def clean(self):
        super().clean()
        if any(self.errors):
            return
        specs = []
        for form in self.forms:
            data = getattr(form, "cleaned_data", None)
            if not data or data.get("DELETE"):
                continue
            depends_on = tuple(step.key for step in data.get("depends_on") or ())
            specs.append(
                StepSpec(data["key"], data["kind"], data["config"], depends_on)
            )
        try:
            build_graph(specs)
        except FlowError as exc:
            raise ValidationError(str(exc)) from None


class StepInline(admin.StackedInline):
    model = Step
    form = StepForm
    formset = StepFormSet
    extra = 0

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "depends_on":
            flow_id = request.resolver_match.kwargs.get("object_id")
            kwargs["queryset"] = Step.objects.filter(flow_id=flow_id)
        return super().formfield_for_manytomany(db_field, request, **kwargs)


@admin.register(Flow)
class FlowAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "is_active", "step_count", "last_run"]
    list_filter = ["is_active"]
    search_fields = ["slug", "name"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [StepInline]
    readonly_fields = ["canvas"]

    @admin.display(description=_("how it runs"))
    def canvas(self, flow):
        if flow.pk is None:
            return "-"
        try:
            graph = build_graph(flow_specs(flow))
        except FlowError as exc:
            return str(exc)
        return format_html("<pre>{}</pre>", describe_plan(plan_canvas(graph)))

    actions = ["run_flows"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(step_total=Count("steps"))

    @admin.display(description=_("steps"), ordering="step_total")
    def step_count(self, flow):
        return flow.step_total

    @admin.display(description=_("last run"))
    def last_run(self, flow):
        run = flow.runs.first()
        if run is None:
            return "-"
        return format_html(
            '<a href="../flowrun/{}/change/">#{} {}</a>',
            run.pk,
            run.pk,
            run.get_status_display(),
        )

    @admin.action(description=_("Run the selected flows now"))
    def run_flows(self, request, queryset):
        started = 0
        for flow in queryset:
            try:
                start_run(flow)
            except FlowError as exc:
                self.message_user(request, f"{flow.slug}: {exc}", messages.ERROR)
            else:
                started += 1
        if started:
            self.message_user(
                request,
                ngettext("%d run started.", "%d runs started.", started) % started,
                messages.SUCCESS,
            )


class StepRunInline(admin.TabularInline):
    model = StepRun
    extra = 0
    can_delete = False
    fields = [
        "key",
        "kind",
        "status",
        "created",
        "updated",
        "unchanged",
        "failed",
        "progress",
        "took",
        "error",
    ]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description=_("progress"))
    def progress(self, step_run):
        if step_run.rows_total:
            return f"{step_run.rows_done} / {step_run.rows_total}"
        return step_run.rows_done or "-"

    @admin.display(description=_("time"))
    def took(self, step_run):
        return format_duration(step_run.duration)


@admin.register(FlowRun)
class FlowRunAdmin(admin.ModelAdmin):
    list_display = ["__str__", "flow", "status", "trigger", "created_at", "took"]
    list_filter = ["status", "trigger", "flow"]
    date_hierarchy = "created_at"
    inlines = [StepRunInline]
    readonly_fields = [
        "flow",
        "status",
        "trigger",
        "params",
        "error",
        "created_at",
        "started_at",
        "finished_at",
        "took",
    ]
    exclude = ["graph"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description=_("time"))
    def took(self, run):
        return format_duration(run.duration)


@admin.register(RowError)
class RowErrorAdmin(admin.ModelAdmin):
    list_display = [
        "step_run",
        "row_number",
        "object_pk",
        "column",
        "value",
        "message",
        "code",
    ]
    list_filter = ["code", "step_run__run__flow"]
    search_fields = ["message", "value"]
    list_select_related = ["step_run"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
