"""Flows, their steps, and the record of every run."""

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
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
    is_paused = models.BooleanField(
        _("paused"),
        default=False,
        help_text=_(
            "While paused, the flow's runs (new ones too) start no new step, "
            "and scheduled runs are skipped, until the flow is resumed."
        ),
    )
    overlap = models.CharField(
        _("when a run is already active"),
        max_length=10,
        choices=[
            ("allow", _("Start another run beside it")),
            ("skip", _("Do not start a new run")),
            ("queue", _("Start the new run when the active one ends")),
        ],
        default="allow",
    )
    start_after = models.ManyToManyField(
        "self",
        symmetrical=False,
        related_name="followers",
        blank=True,
        verbose_name=_("start after"),
        help_text=_(
            "Start this flow whenever a run of one of these flows succeeds, with "
            "that run's parameters."
        ),
    )
    deadline = models.PositiveIntegerField(
        _("deadline (seconds)"),
        null=True,
        blank=True,
        help_text=_("A run still going after this long is cancelled."),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["slug"]
        verbose_name = _("flow")
        verbose_name_plural = _("flows")

    def __str__(self):
        # Names need not be unique; the slug tells two flows apart in the
        # admin's filters and selects.
        if self.name and self.name != self.slug:
            return f"{self.name} ({self.slug})"
        return self.slug


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
    trigger_rule = models.CharField(
        _("trigger rule"),
        max_length=20,
        choices=[
            ("all_succeeded", _("All upstream steps succeeded")),
            ("all_done", _("All upstream steps finished, whatever their status")),
            ("one_succeeded", _("At least one upstream step succeeded")),
            ("one_failed", _("At least one upstream step failed")),
            ("none_failed", _("No upstream step failed (skipped is fine)")),
        ],
        default="all_succeeded",
        help_text=_("When the step runs once its upstream steps have finished."),
    )
    condition = models.JSONField(
        _("condition"),
        default=dict,
        blank=True,
        help_text=_(
            'Run only if the context matches, e.g. {"path": "params.full", '
            '"op": "eq", "value": true}. Empty: always.'
        ),
    )
    max_attempts = models.PositiveSmallIntegerField(
        _("attempts"),
        default=3,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text=_("Tries in all, the first included."),
    )
    retry_delay = models.FloatField(
        _("first retry delay (s)"),
        default=5.0,
        validators=[MinValueValidator(0), MaxValueValidator(86_400)],
        help_text=_("Seconds before the first retry; doubled for each further one."),
    )
    retry_delay_max = models.FloatField(
        _("longest retry delay (s)"),
        default=600.0,
        validators=[MinValueValidator(0), MaxValueValidator(86_400)],
    )
    retry_jitter = models.BooleanField(
        _("jitter"),
        default=True,
        help_text=_("Spread retries randomly up to the delay."),
    )
    retry_on = models.JSONField(
        _("retry on"),
        default=list,
        blank=True,
        help_text=_(
            "Dotted paths of the exceptions worth retrying. Empty: transient "
            "errors (connections, timeouts, database availability)."
        ),
    )
    timeout = models.PositiveIntegerField(
        _("timeout (s)"),
        null=True,
        blank=True,
        help_text=_("An attempt running longer than this fails."),
    )
    handlers = models.JSONField(
        _("handlers"),
        default=dict,
        blank=True,
        help_text=_(
            "Dotted paths of callables per event: before_step, after_step, "
            "on_step_error, before_row, after_row, on_row_error."
        ),
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
    CANCELLED = "cancelled", _("Cancelled")


FINISHED_RUN_STATUSES = {RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED}


class StepStatus(models.TextChoices):
    """Where one step of a run stands."""

    PENDING = "pending", _("Pending")
    RUNNING = "running", _("Running")
    RETRYING = "retrying", _("Waiting to retry")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")
    SKIPPED = "skipped", _("Skipped")
    CANCELLED = "cancelled", _("Cancelled")


FINISHED_STEP_STATUSES = {
    StepStatus.SUCCEEDED,
    StepStatus.FAILED,
    StepStatus.SKIPPED,
    StepStatus.CANCELLED,
}


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
    shared = models.JSONField(
        _("shared"),
        default=dict,
        blank=True,
        help_text=_("A dict every step of the run can read and add to."),
    )
    generation = models.PositiveIntegerField(
        _("generation"),
        default=0,
        editable=False,
        help_text=_("How many times the run was sent to the workers."),
    )
    history = models.JSONField(
        _("history"),
        default=list,
        blank=True,
        editable=False,
        help_text=_("Recovery actions taken on the run, oldest first."),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    deadline_at = models.DateTimeField(_("deadline"), null=True, blank=True)

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
        return self.status in FINISHED_RUN_STATUSES

    @property
    def duration(self):
        """The time from start to finish, or ``None`` while unknown."""
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None

    def context(self) -> dict:
        """Return the run's action context: parameters, step outputs and the
        shared dict."""
        succeeded = self.step_runs.filter(status=StepStatus.SUCCEEDED)
        outputs = dict(succeeded.values_list("key", "output"))
        return {"params": self.params, "outputs": outputs, "shared": self.shared}


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
    attempts_before = models.PositiveIntegerField(
        _("attempts before the last recovery"),
        default=0,
        editable=False,
        help_text=_("A resume or rerun gives the step its full attempts again."),
    )
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    heartbeat_at = models.DateTimeField(
        _("last sign of life"),
        null=True,
        blank=True,
        help_text=_(
            "Refreshed while an attempt runs; a stale one means a lost worker."
        ),
    )
    retry_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    task_id = models.CharField(_("Celery task"), max_length=255, blank=True)
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
        return f"{self.run} {self.key}"

    @property
    def duration(self):
        """The time from start to finish, or ``None`` while unknown."""
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None

    @property
    def attempts_used(self) -> int:
        """Attempts made since the run was last resumed or rerun."""
        return self.attempts - self.attempts_before


class StepChunk(models.Model):
    """One chunk of a chunked step run, and its checkpoint.

    A chunk's writes and its change to ``succeeded`` commit in one
    transaction, so a chunk is applied exactly once however often its task
    is delivered or its step retried.
    """

    step_run = models.ForeignKey(
        StepRun,
        on_delete=models.CASCADE,
        related_name="chunks",
        verbose_name=_("step run"),
    )
    index = models.PositiveIntegerField(_("chunk"))
    spec = models.JSONField(_("what the chunk covers"), default=dict)
    status = models.CharField(
        _("status"), max_length=20, choices=StepStatus, default=StepStatus.PENDING
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    queued_at = models.DateTimeField(_("sent to the workers"), null=True, blank=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    output = models.JSONField(_("output"), default=dict, blank=True)
    state = models.JSONField(_("state"), default=dict, blank=True)
    created = models.PositiveIntegerField(_("created"), default=0)
    updated = models.PositiveIntegerField(_("updated"), default=0)
    unchanged = models.PositiveIntegerField(_("unchanged"), default=0)
    failed = models.PositiveIntegerField(_("failed"), default=0)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        ordering = ["step_run", "index"]
        verbose_name = _("step chunk")
        verbose_name_plural = _("step chunks")
        constraints = [
            models.UniqueConstraint(fields=["step_run", "index"], name="syncflow_chunk")
        ]

    def __str__(self):
        return f"{self.step_run.key} chunk {self.index} ({self.status})"


class RowError(models.Model):
    """A row or object a step refused, with where and why."""

    step_run = models.ForeignKey(
        StepRun,
        on_delete=models.CASCADE,
        related_name="row_errors",
        verbose_name=_("step run"),
    )
    chunk = models.ForeignKey(
        StepChunk,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="row_errors",
        verbose_name=_("chunk"),
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


class StepAttempt(models.Model):
    """One try of a step run: when, how it ended, and why."""

    step_run = models.ForeignKey(
        StepRun,
        on_delete=models.CASCADE,
        related_name="attempt_log",
        verbose_name=_("step run"),
    )
    number = models.PositiveIntegerField(_("attempt"))
    status = models.CharField(_("status"), max_length=20, choices=StepStatus)
    started_at = models.DateTimeField(_("started"))
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    waited = models.FloatField(
        _("waited (s)"),
        default=0,
        help_text=_("Seconds of back-off before this attempt started."),
    )
    error = models.TextField(_("error"), blank=True)
    traceback = models.TextField(_("traceback"), blank=True)
    worker = models.CharField(_("worker"), max_length=255, blank=True)

    class Meta:
        ordering = ["step_run", "number"]
        verbose_name = _("step attempt")
        verbose_name_plural = _("step attempts")
        constraints = [
            models.UniqueConstraint(
                fields=["step_run", "number"], name="syncflow_attempt_number"
            )
        ]

    def __str__(self):
        return f"{self.step_run.key} #{self.number} ({self.status})"
