"""Start runs and hand them to Celery as chains, groups and chords."""

import logging
from datetime import timedelta

from celery import chain, chord, group
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from .dag import ChainNode, GroupNode, StepNode, build_graph, flow_specs, plan_canvas
from .dag import specs_from_snapshot
from .errors import RunError
from .models import Flow, FlowRun, RunStatus, StepRun, Trigger

logger = logging.getLogger(__name__)


class RunSkipped(RunError):
    """No run was started: the flow's overlap policy is "skip" and a run of
    it is active."""


def start_run(
    flow: Flow, *, params: dict | None = None, trigger=Trigger.MANUAL
) -> FlowRun:
    """Create a run of ``flow`` and send it to the workers once committed.

    The flow's steps are validated and copied into the run, so editing the
    flow while it runs changes nothing for that run. When a run of the flow
    is active already, the flow's overlap policy decides: ``allow`` starts
    this one beside it, ``queue`` keeps this one queued until the active
    one ends, ``skip`` starts nothing.

    Args:
        flow: The flow to run.
        params: Run parameters every step sees in its context.
        trigger: What started the run.

    Returns:
        The new run, queued.

    Raises:
        RunError: If the flow is inactive.
        RunSkipped: If the overlap policy is ``skip`` and a run is active.
        GraphError: If the flow's steps do not form a valid DAG.
    """
    if not flow.is_active:
        raise RunError(_("Flow %(flow)r is not active.") % {"flow": flow.slug})
    check_params(params or {})
    specs = flow_specs(flow)
    build_graph(specs)
    with transaction.atomic():
        # Locking the flow serialises the overlap checks of runs started
        # at the same moment.
        flow = Flow.objects.select_for_update().get(pk=flow.pk)
        active = flow.runs.filter(status__in=[RunStatus.QUEUED, RunStatus.RUNNING])
        busy = active.exists()
        if busy and flow.overlap == "skip":
            raise RunSkipped(
                _("Flow %(flow)r has a run going already; its overlap policy is skip.")
                % {"flow": flow.slug}
            )
        held = busy and flow.overlap == "queue"
        now = timezone.now()
        run = FlowRun.objects.create(
            flow=flow,
            params=params or {},
            trigger=trigger,
            graph={"steps": [spec.as_json() for spec in specs]},
            generation=0 if held else 1,
            deadline_at=(
                now + timedelta(seconds=flow.deadline)
                if flow.deadline and not held
                else None
            ),
        )
        StepRun.objects.bulk_create(
            StepRun(run=run, key=spec.key, kind=spec.kind) for spec in specs
        )
        if not held:
            transaction.on_commit(lambda: dispatch(run))
    logger.info(
        "Run %s of flow %r %s with %d steps",
        run.pk,
        flow.slug,
        "held in the queue" if held else "queued",
        len(specs),
    )
    return run


def dispatch(run: FlowRun) -> None:
    """Send the canvas of ``run`` to the broker."""
    build_canvas(run).apply_async()


def build_canvas(run: FlowRun):
    """Return the Celery canvas that executes ``run``, ending with its finish.

    Every step is an immutable ``run_step`` signature; the steps' results
    travel through the database, never through Celery's result backend.
    """
    from .tasks import finish_run, run_failed

    graph = build_graph(specs_from_snapshot(run.graph), check_configs=False)
    plan = plan_canvas(graph)
    parts = [] if plan.root is None else [_signature(run, graph, plan.root)]
    canvas = _sequence(parts + [finish_run.si(run.pk, run.generation)])
    return canvas.on_error(run_failed.s(run.pk))


def _signature(run: FlowRun, graph, node):
    from .tasks import run_step

    if isinstance(node, StepNode):
        signature = run_step.si(run.pk, node.key, run.generation)
        timeout = graph.nodes[node.key]["spec"].get("timeout")
        if timeout:
            # Celery's soft limit stops a step blocked in a call that never
            # reports progress; the hard limit is a last resort after it.
            signature.set(soft_time_limit=timeout, time_limit=timeout + 30)
        return signature
    parts = [_signature(run, graph, part) for part in node.parts]
    if isinstance(node, GroupNode):
        return group(parts)
    assert isinstance(node, ChainNode)
    return _sequence(parts)


def _sequence(parts: list):
    """Chain ``parts``, making every group that has a successor a chord."""
    canvas = parts[-1]
    for part in reversed(parts[:-1]):
        if isinstance(part, group):
            canvas = chord(part, canvas)
        else:
            canvas = chain(part, canvas)
    return canvas


def check_params(params) -> None:
    """Raise :class:`RunError` unless ``params`` is a plain JSON object.

    Parameters are stored in a JSON column and read by every step; NaN,
    infinities and NUL characters are refused here, where they are given.
    """
    import json

    if not isinstance(params, dict):
        raise RunError(_("Run parameters must be a JSON object."))
    try:
        text = json.dumps(params, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise RunError(
            _("Run parameters are not plain JSON: %(error)s") % {"error": exc}
        ) from None
    if "\\u0000" in text:
        raise RunError(_("Run parameters cannot hold NUL characters."))
