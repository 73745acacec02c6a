"""Start runs and hand them to Celery as chains, groups and chords."""

import logging

from celery import chain, chord, group
from django.db import transaction
from django.utils.translation import gettext as _

from .dag import ChainNode, GroupNode, StepNode, build_graph, flow_specs, plan_canvas
from .dag import specs_from_snapshot
from .errors import RunError
from .models import Flow, FlowRun, StepRun, Trigger

logger = logging.getLogger(__name__)


def start_run(
    flow: Flow, *, params: dict | None = None, trigger=Trigger.MANUAL
) -> FlowRun:
    """Create a run of ``flow`` and send it to the workers once committed.

    The flow's steps are validated and copied into the run, so editing the
    flow while it runs changes nothing for that run.

    Args:
        flow: The flow to run.
        params: Run parameters every step sees in its context.
        trigger: What started the run.

    Returns:
        The new run, queued.

    Raises:
        RunError: If the flow is inactive.
        GraphError: If the flow's steps do not form a valid DAG.
    """
    if not flow.is_active:
        raise RunError(_("Flow %(flow)r is not active.") % {"flow": flow.slug})
    specs = flow_specs(flow)
    build_graph(specs)
    with transaction.atomic():
        run = FlowRun.objects.create(
            flow=flow,
            params=params or {},
            trigger=trigger,
            graph={"steps": [spec.as_json() for spec in specs]},
        )
        StepRun.objects.bulk_create(
            StepRun(run=run, key=spec.key, kind=spec.kind) for spec in specs
        )
        transaction.on_commit(lambda: dispatch(run))
    logger.info("Run %s of flow %r queued with %d steps", run.pk, flow.slug, len(specs))
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
    parts = [] if plan.root is None else [_signature(run.pk, plan.root, plan.waits)]
    canvas = _sequence(parts + [finish_run.si(run.pk)])
    return canvas.on_error(run_failed.s(run.pk))


def _signature(run_id: int, node, waits: dict):
    from .tasks import run_step

    if isinstance(node, StepNode):
        return run_step.si(run_id, node.key, waits.get(node.key, []))
    parts = [_signature(run_id, part, waits) for part in node.parts]
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
