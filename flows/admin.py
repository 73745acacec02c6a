"""Admin pages to design flows, start runs and read their reports."""

import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _, ngettext

from steps.registry import kind_choices

from .dag import StepSpec, build_graph, describe_plan, flow_specs, plan_canvas
from .control import cancel_run
from .errors import FlowError, RunError
from .models import Flow, FlowRun, RowError, Step, StepAttempt, StepChunk, StepRun
from .recovery import apply_plan, plan_rerun, plan_resume, plan_skip
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

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and "depends_on" in self.fields:
            field = self.fields["depends_on"]
            field.queryset = field.queryset.exclude(pk=self.instance.pk)


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
    filter_horizontal = ["start_after"]
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

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "start_after":
            flow_id = request.resolver_match.kwargs.get("object_id")
            kwargs["queryset"] = Flow.objects.exclude(pk=flow_id)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

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


class StepRunColumns:
    """Columns a step run shows in its inline row and on its own page."""

    @admin.display(description=_("rejected"))
    def rejected_rows(self, step_run):
        if not step_run.failed:
            return "-"
        url = reverse("admin:flows_rowerror_changelist")
        return format_html(
            '<a href="{}?step_run__id__exact={}">{}</a>',
            url,
            step_run.pk,
            step_run.failed,
        )

    @admin.display(description=_("rows"))
    def progress(self, step_run):
        if step_run.rows_total:
            return f"{step_run.rows_done} / {step_run.rows_total}"
        return f"{step_run.rows_done}" if step_run.rows_done else "-"

    @admin.display(description=_("time"))
    def took(self, step_run):
        return format_duration(step_run.duration)


class StepRunInline(StepRunColumns, admin.TabularInline):
    model = StepRun
    extra = 0
    can_delete = False
    show_change_link = True
    fields = [
        "key",
        "kind",
        "status",
        "attempts",
        "created",
        "updated",
        "unchanged",
        "rejected_rows",
        "progress",
        "took",
        "error",
    ]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


class StepAttemptInline(admin.TabularInline):
    model = StepAttempt
    extra = 0
    can_delete = False
    fields = readonly_fields = [
        "number",
        "status",
        "started_at",
        "finished_at",
        "waited",
        "worker",
        "error",
    ]

    def has_add_permission(self, request, obj=None):
        return False


class StepChunkInline(admin.TabularInline):
    model = StepChunk
    extra = 0
    can_delete = False
    fields = readonly_fields = [
        "index",
        "part",
        "status",
        "attempts",
        "created",
        "updated",
        "unchanged",
        "failed",
        "started_at",
        "finished_at",
        "error",
    ]

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description=_("part"))
    def part(self, chunk: StepChunk) -> str:
        """The chunk's share of the work: its rows, or its spec as given."""
        spec = chunk.spec
        if isinstance(spec, dict) and {"first", "last"} <= set(spec):
            return _("rows %(first)s to %(last)s") % spec
        return json.dumps(spec)[:80]


@admin.register(StepRun)
class StepRunAdmin(StepRunColumns, admin.ModelAdmin):
    """A step run in full: output, state, attempts, chunks and traceback."""

    list_display = ["__str__", "kind", "status", "attempts", "took"]
    list_filter = ["status", "kind"]
    list_select_related = ["run__flow"]
    inlines = [StepAttemptInline, StepChunkInline]
    fields = readonly_fields = [
        "run",
        "key",
        "kind",
        "status",
        "attempts",
        "started_at",
        "finished_at",
        "took",
        "created",
        "updated",
        "unchanged",
        "rejected_rows",
        "progress",
        "output_json",
        "state_json",
        "error",
        "traceback",
    ]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description=_("output"))
    def output_json(self, step_run):
        return format_html("<pre>{}</pre>", json.dumps(step_run.output, indent=2))

    @admin.display(description=_("state"))
    def state_json(self, step_run):
        return format_html("<pre>{}</pre>", json.dumps(step_run.state, indent=2))


@admin.register(FlowRun)
class FlowRunAdmin(admin.ModelAdmin):
    list_display = ["__str__", "flow", "status", "trigger", "created_at", "took"]
    list_filter = ["status", "trigger", "flow"]
    date_hierarchy = "created_at"
    inlines = [StepRunInline]
    fields = readonly_fields = [
        "flow",
        "status",
        "trigger",
        "params",
        "error",
        "created_at",
        "started_at",
        "finished_at",
        "took",
        "deadline_at",
        "shared",
        "recovery_history",
    ]
    actions = ["cancel_runs"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        # A run is a record: it is changed only by the recovery actions.
        return False

    def may_recover(self, request) -> bool:
        """Whether the user may cancel, resume, rerun or skip runs."""
        return request.user.has_perm("flows.change_flowrun")

    @admin.display(description=_("time"))
    def took(self, run):
        return format_duration(run.duration)

    @admin.display(description=_("recovery actions"))
    def recovery_history(self, run):
        if not run.history:
            return "-"
        lines = [
            f"{entry['at'][:19]} {entry['action']} by {entry.get('by') or '?'}: "
            + ", ".join(entry.get("reset", []))
            for entry in run.history
        ]
        return format_html("<pre>{}</pre>", "\n".join(lines))

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path(
                "<int:run_id>/recover/<str:action>/",
                view(self.recover_view),
                name="flows_flowrun_recover",
            ),
            *super().get_urls(),
        ]

    def render_change_form(self, request, context, *args, obj=None, **kwargs):
        if obj is not None:
            context.update(self._recovery_choices(request, obj))
        return super().render_change_form(request, context, *args, obj=obj, **kwargs)

    def _recovery_choices(self, request, run) -> dict:
        if not self.may_recover(request):
            return {}
        statuses = dict(run.step_runs.values_list("key", "status"))
        return {
            "may_cancel": not run.is_finished,
            "may_resume": run.is_finished and set(statuses.values()) != {"succeeded"},
            "rerun_steps": list(statuses) if run.is_finished else [],
            "failed_steps": [k for k, v in statuses.items() if v == "failed"]
            if run.is_finished
            else [],
        }

    def recover_view(self, request, run_id: int, action: str):
        """Show what a recovery action will do; do it on confirmation."""
        if not self.may_recover(request):
            raise PermissionDenied
        run = get_object_or_404(FlowRun, pk=run_id)
        back = reverse("admin:flows_flowrun_change", args=[run.pk])
        step = request.GET.get("step") or request.POST.get("step") or ""
        try:
            plan = self._plan(run, action, step, request)
        except (FlowError, ValueError) as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return HttpResponseRedirect(back)
        if request.method == "POST" and "confirm" in request.POST:
            try:
                if action == "cancel":
                    cancel_run(
                        run, _("Cancelled by %(user)s.") % {"user": request.user}
                    )
                else:
                    apply_plan(plan, by=str(request.user))
            except FlowError as exc:
                self.message_user(request, str(exc), messages.ERROR)
            else:
                self.message_user(
                    request,
                    _("Done: %(what)s") % {"what": self._describe(action, plan)},
                )
            return HttpResponseRedirect(back)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "run": run,
            "action": action,
            "step": step,
            "plan": plan,
            "description": self._describe(action, plan),
            "params_text": json.dumps(run.params, indent=2),
            "title": _("Confirm: %(action)s run %(run)s")
            % {"action": action, "run": run},
        }
        return TemplateResponse(
            request, "syncflow/admin/recovery_confirm.html", context
        )

    def _plan(self, run, action: str, step: str, request):
        if action == "cancel":
            if run.is_finished:
                raise RunError(_("Run %(run)s has finished already.") % {"run": run.pk})
            return None
        if action == "resume":
            return plan_resume(run)
        if action == "skip":
            return plan_skip(run, step)
        if action == "rerun":
            params = None
            if request.method == "POST" and request.POST.get("params", "").strip():
                params = json.loads(request.POST["params"])
                if not isinstance(params, dict):
                    raise ValueError(_("Parameters must be a JSON object."))
                if params == run.params:
                    params = None
            return plan_rerun(run, step, params)
        raise Http404(action)

    def _describe(self, action: str, plan) -> str:
        if plan is None:
            return _(
                "Cancel the run: steps waiting to start are cancelled and running "
                "steps are stopped."
            )
        return plan.describe()

    @admin.action(description=_("Cancel the selected runs"))
    def cancel_runs(self, request, queryset):
        if not self.may_recover(request):
            raise PermissionDenied
        cancelled = 0
        for run in queryset:
            if not run.is_finished:
                cancel_run(run, _("Cancelled by %(user)s.") % {"user": request.user})
                cancelled += 1
        self.message_user(
            request,
            ngettext("%d run cancelled.", "%d runs cancelled.", cancelled) % cancelled,
        )


@admin.register(RowError)
class RowErrorAdmin(admin.ModelAdmin):
    list_display = [
        "run",
        "step",
        "row_number",
        "object_pk",
        "column",
        "value",
        "message",
        "code",
    ]
    list_filter = ["code", "step_run__run__flow"]
    search_fields = ["message", "value"]
    list_select_related = ["step_run__run__flow"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description=_("run"), ordering="step_run__run")
    def run(self, error):
        return str(error.step_run.run)

    @admin.display(description=_("step"), ordering="step_run__key")
    def step(self, error):
        return error.step_run.key
