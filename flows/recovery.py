"""Recovery actions on a finished run: resume, rerun from a step, skip.

Each action is taken in two moves. ``plan_*`` returns a
:class:`RecoveryPlan` listing exactly the steps it will reset, changing
nothing; :func:`apply_plan` then acts, after checking that the run has not
changed since the plan was made. The run keeps its id, its history of
attempts and the outputs of the steps that are not reset, and goes back to
the workers as a new generation.
"""

from dataclasses import dataclass, field

import networkx as nx
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from .control import redispatch_locked
from .errors import RunError
from .execution import run_graph
from .models import FlowRun, RunStatus, StepRun, StepStatus

RESET_FIELDS = {
    "status": StepStatus.PENDING,
    "started_at": None,
    "finished_at": None,
    "heartbeat_at": None,
    "retry_at": None,
    "created": 0,
    "updated": 0,
    "unchanged": 0,
    "failed": 0,
    "rows_done": 0,
    "rows_total": None,
    "output": {},
    "state": {},
    "error": "",
    "traceback": "",
}


@dataclass
class RecoveryPlan:
    """What a recovery action will do to a run.

    Attributes:
        action: ``resume``, ``rerun`` or ``skip``.
        run_id: The run.
        reset: Keys of the steps that will run again, in DAG order.
        skip: For ``skip``, the failed step that will be marked skipped.
        params: For ``rerun``, the new run parameters, or ``None`` to keep
            them.
        settle: For ``resume``, whether the run is to be sent out again
            although no step needs to run: it was cancelled or failed
            after all its steps had succeeded, and is to be finished from
            their statuses.
    """

    action: str
    run_id: int
    reset: list[str] = field(default_factory=list)
    skip: str | None = None
    params: dict | None = None
    settle: bool = False

    @property
    def empty(self) -> bool:
        """Whether the plan would change nothing (see ``settle``)."""
        return not self.reset and not self.skip and not self.settle

    def describe(self) -> str:
        """Return the plan in a sentence or two, for a confirmation prompt."""
        lines = []
        if self.skip:
            lines.append(_("Mark %(step)r as skipped.") % {"step": self.skip})
        if self.reset:
            lines.append(_("Run again: %(steps)s.") % {"steps": ", ".join(self.reset)})
        else:
            lines.append(_("No step needs to run again."))
            if self.settle:
                lines.append(
                    _("The run will be finished again from its steps' statuses.")
                )
        if self.params is not None:
            lines.append(_("New parameters: %(params)s.") % {"params": self.params})
        if self.reset:
            lines.append(
                _("Steps run with the settings the run started with, not later edits.")
            )
        return " ".join(lines)


def plan_resume(run: FlowRun) -> RecoveryPlan:
    """Plan to run every step that did not succeed; succeeded steps stay."""
    _require_finished(run)
    statuses = _statuses(run)
    order = _order(run)
    reset = [k for k in order if statuses[k] != StepStatus.SUCCEEDED]
    settle = not reset and run.status != RunStatus.SUCCEEDED
    return RecoveryPlan("resume", run.pk, reset, settle=settle)


def plan_rerun(run: FlowRun, step: str, params: dict | None = None) -> RecoveryPlan:
    """Plan to run ``step`` and everything downstream of it again.

    Args:
        run: A finished run.
        step: The key of the step to start from.
        params: New run parameters for the rerun; ``None`` keeps them.
    """
    _require_finished(run)
    if params is not None:
        from .scheduler import check_params

        check_params(params)
    graph = run_graph(run)
    _require_step(graph, step)
    chosen = {step} | nx.descendants(graph, step)
    reset = [k for k in _order(run) if k in chosen]
    return RecoveryPlan("rerun", run.pk, reset, params=params)


def plan_skip(run: FlowRun, step: str) -> RecoveryPlan:
    """Plan to mark the failed ``step`` skipped and go on downstream.

    The steps downstream of it that did not succeed run again, each as its
    trigger rule decides: with the default rule (all upstream steps
    succeeded) a step right after a skipped one is skipped too, while a
    step whose rule is ``none_failed`` or ``all_done`` runs.
    """
    _require_finished(run)
    graph = run_graph(run)
    _require_step(graph, step)
    statuses = _statuses(run)
    if statuses[step] != StepStatus.FAILED:
        raise RunError(
            _("Step %(step)r is %(status)s; only a failed step can be skipped.")
            % {"step": step, "status": statuses[step]}
        )
    downstream = nx.descendants(graph, step)
    reset = [
        k
        for k in _order(run)
        if k in downstream and statuses[k] != StepStatus.SUCCEEDED
    ]
    return RecoveryPlan("skip", run.pk, reset, skip=step)


def apply_plan(plan: RecoveryPlan, *, by: str = "") -> FlowRun:
    """Carry out ``plan`` and send the run to the workers again.

    Args:
        plan: A plan from one of the ``plan_*`` functions.
        by: Who asked, for the run's history.

    Returns:
        The run, queued again.

    Raises:
        RunError: If the plan is :attr:`~RecoveryPlan.empty`, the run is
            not finished, or it changed since the plan was made (make a new
            plan then).
    """
    if plan.empty:
        raise RunError(
            _("Nothing to do: no step of run %(run)s needs to run again.")
            % {"run": plan.run_id}
        )
    with transaction.atomic():
        run = (
            FlowRun.objects.select_for_update()
            .select_related("flow")
            .get(pk=plan.run_id)
        )
        fresh = _replan(run, plan)
        if (fresh.reset, fresh.skip) != (plan.reset, plan.skip):
            raise RunError(
                _("Run %(run)s changed since the plan was made.") % {"run": run.pk}
            )
        now = timezone.now()
        entry = {
            "action": plan.action,
            "at": now.isoformat(),
            "by": by,
            "reset": plan.reset,
            "skip": plan.skip,
            "status_before": run.status,
        }
        if plan.skip:
            run.step_runs.filter(key=plan.skip).update(
                status=StepStatus.SKIPPED, finished_at=now, error=_("Skipped by hand.")
            )
        steps = run.step_runs.filter(key__in=plan.reset)
        for step_run in steps:
            if plan.action == "resume":
                # Resume keeps what finished: the succeeded chunks of a
                # chunked step, and the rows they rejected.
                step_run.row_errors.exclude(chunk__status=StepStatus.SUCCEEDED).delete()
            else:
                step_run.row_errors.all().delete()
                step_run.chunks.all().delete()
        steps.update(**RESET_FIELDS)
        for step_run in steps:
            StepRun.objects.filter(pk=step_run.pk).update(
                attempts_before=step_run.attempts
            )
        if plan.params is not None:
            entry["params"] = {"before": run.params, "after": plan.params}
            run.params = plan.params
        run.history = [*run.history, entry]
        run.status = RunStatus.QUEUED
        run.finished_at, run.error, run.deadline_at = None, "", None
        run.save(
            update_fields=[
                "history",
                "params",
                "status",
                "finished_at",
                "error",
                "deadline_at",
            ]
        )
        redispatch_locked(run)
    run.refresh_from_db()
    return run


def _replan(run: FlowRun, plan: RecoveryPlan) -> RecoveryPlan:
    if plan.action == "resume":
        return plan_resume(run)
    if plan.action == "rerun":
        return plan_rerun(run, plan.reset[0] if plan.reset else "", plan.params)
    return plan_skip(run, plan.skip)


def _require_finished(run: FlowRun) -> None:
    if not run.is_finished:
        raise RunError(
            _("Run %(run)s is %(status)s; cancel it or wait for it to finish first.")
            % {"run": run.pk, "status": run.status}
        )


def _require_step(graph, step: str) -> None:
    if step not in graph:
        raise RunError(_("The run has no step %(step)r.") % {"step": step})


def _statuses(run: FlowRun) -> dict[str, str]:
    return dict(run.step_runs.values_list("key", "status"))


def _order(run: FlowRun) -> list[str]:
    return list(nx.lexicographical_topological_sort(run_graph(run)))
