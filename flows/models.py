"""Flows, their steps, and the record of every run."""

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _


class Flow(models.Model):
    """A named DAG of steps that runs as one unit."""

    slug = models.SlugField(
        _("slug"),
        max_length=100,
        unique=True,
        help_text=_("Short name used to start the flow: syncflow run SLUG."),
    )
    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    is_active = models.BooleanField(
        _("active"), default=True, help_text=_("Inactive flows cannot be started.")
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["slug"]
        verbose_name = _("flow")
        verbose_name_plural = _("flows")

    def __str__(self):
        return self.name or self.slug


class Step(models.Model):
    """One node of a flow's DAG: a kind of work with its config."""

    flow = models.ForeignKey(
        Flow, on_delete=models.CASCADE, related_name="steps", verbose_name=_("flow")
    )
    key = models.SlugField(
        _("key"),
        max_length=100,
        help_text=_("Unique within the flow; names the step in reports and context."),
    )
    kind = models.CharField(
        _("kind"), max_length=100, help_text=_("What the step does, e.g. import_rows.")
    )
    config = models.JSONField(
        _("config"),
        default=dict,
        blank=True,
        help_text=_("Settings of the step, checked by its kind. See the docs."),
    )
    depends_on = models.ManyToManyField(
        "self",
        symmetrical=False,
        related_name="dependents",
        blank=True,
        verbose_name=_("depends on"),
        help_text=_("Steps of the same flow that must succeed before this one."),
    )
    description = models.TextField(_("description"), blank=True)
    position = models.PositiveIntegerField(
        _("position"), default=0, help_text=_("Order in lists; does not affect runs.")
    )

    class Meta:
        ordering = ["flow", "position", "key"]
        verbose_name = _("step")
        verbose_name_plural = _("steps")
        constraints = [
            models.UniqueConstraint(fields=["flow", "key"], name="syncflow_step_key")
        ]

    def __str__(self):
        return self.key

    def clean(self):
        from steps.errors import ConfigError
        from steps.registry import get_kind

        try:
            get_kind(self.kind).clean_config(self.config)
        except ConfigError as exc:
            field = "kind" if exc.field == "kind" else "config"
            raise ValidationError({field: str(exc)}) from None


class RunStatus(models.TextChoices):
    """Where a run stands."""

    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")


class StepStatus(models.TextChoices):
    """Where one step of a run stands."""

    PENDING = "pending", _("Pending")
    RUNNING = "running", _("Running")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")
    SKIPPED = "skipped", _("Skipped")


FINISHED_STEP_STATUSES = {StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.SKIPPED}


class Trigger(models.TextChoices):
    """What started a run."""

    MANUAL = "manual", _("By hand")
    SCHEDULE = "schedule", _("Schedule")
    FLOW = "flow", _("Another flow")


class FlowRun(models.Model):
    """One execution of a flow, with the DAG as it was when it started."""

    flow = models.ForeignKey(
        Flow, on_delete=models.CASCADE, related_name="runs", verbose_name=_("flow")
    )
    status = models.CharField(
        _("status"), max_length=20, choices=RunStatus, default=RunStatus.QUEUED
    )
    trigger = models.CharField(
        _("trigger"), max_length=20, choices=Trigger, default=Trigger.MANUAL
    )
    params = models.JSONField(
        _("parameters"),
        default=dict,
        blank=True,
        help_text=_("Run parameters every step can read from its context."),
    )
    graph = models.JSONField(
        _("graph"),
        default=dict,
        editable=False,
        help_text=_("The steps, configs and dependencies this run executes."),
    )
    error = models.TextField(_("error"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("flow run")
        verbose_name_plural = _("flow runs")
        indexes = [models.Index(fields=["flow", "status"])]

    def __str__(self):
        return f"{self.flow.slug} #{self.pk}"

    @property
    def is_finished(self) -> bool:
        """Whether the run has reached a final status."""
        return self.status in (RunStatus.SUCCEEDED, RunStatus.FAILED)

    @property
    def duration(self):
        """The time from start to finish, or ``None`` while unknown."""
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None

    def context(self) -> dict:
        """Return the run's action context: parameters and step outputs."""
        outputs = {
            key: output
            for key, output in self.step_runs.filter(
                status=StepStatus.SUCCEEDED
            ).values_list("key", "output")
        }
        return {"params": self.params, "outputs": outputs}


class StepRun(models.Model):
    """One step's part in a run: status, timing, counts and output."""

    run = models.ForeignKey(
        FlowRun,
        on_delete=models.CASCADE,
        related_name="step_runs",
        verbose_name=_("run"),
    )
    key = models.SlugField(_("step key"), max_length=100)
    kind = models.CharField(_("kind"), max_length=100)
    status = models.CharField(
        _("status"), max_length=20, choices=StepStatus, default=StepStatus.PENDING
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    created = models.PositiveIntegerField(_("created"), default=0)
    updated = models.PositiveIntegerField(_("updated"), default=0)
    unchanged = models.PositiveIntegerField(_("unchanged"), default=0)
    failed = models.PositiveIntegerField(
        _("failed"), default=0, help_text=_("Rows or objects the step refused.")
    )
    rows_done = models.PositiveBigIntegerField(_("rows done"), default=0)
    rows_total = models.PositiveBigIntegerField(_("rows in all"), null=True, blank=True)
    output = models.JSONField(
        _("output"), default=dict, blank=True, help_text=_("What later steps see.")
    )
    state = models.JSONField(
        _("state"), default=dict, blank=True, help_text=_("State kept across rows.")
    )
    error = models.TextField(_("error"), blank=True)
    traceback = models.TextField(_("traceback"), blank=True)

    class Meta:
        ordering = ["run", "pk"]
        verbose_name = _("step run")
        verbose_name_plural = _("step runs")
        constraints = [
            models.UniqueConstraint(fields=["run", "key"], name="syncflow_steprun_key")
        ]

    def __str__(self):
        return f"{self.key} ({self.status})"

    @property
    def duration(self):
        """The time from start to finish, or ``None`` while unknown."""
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None


class RowError(models.Model):
    """A row or object a step refused, with where and why."""

    step_run = models.ForeignKey(
        StepRun,
        on_delete=models.CASCADE,
        related_name="row_errors",
        verbose_name=_("step run"),
    )
    row_number = models.PositiveBigIntegerField(
        _("row"), null=True, blank=True, help_text=_("Row number in the source file.")
    )
    object_pk = models.CharField(
        _("object"),
        max_length=100,
        blank=True,
        help_text=_("Primary key, for objects."),
    )
    column = models.CharField(_("column"), max_length=200, blank=True)
    value = models.TextField(_("value"), blank=True)
    message = models.TextField(_("message"))
    code = models.CharField(_("code"), max_length=50, default="invalid")

    class Meta:
        ordering = ["step_run", "row_number", "pk"]
        verbose_name = _("row error")
        verbose_name_plural = _("row errors")

    def __str__(self):
        where = self.row_number if self.row_number is not None else self.object_pk
        return f"{where}: {self.message}"
