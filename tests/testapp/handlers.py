"""Step handlers and signal receivers that record what they see as Events."""

from flows import signals

from .models import Event


def before_step(ctx):
    Event.objects.create(
        name="before_step", step=ctx.step_key, detail=sorted(ctx.upstream)
    )


def after_step(ctx, output):
    Event.objects.create(
        name="after_step", step=ctx.step_key, detail=output.get("output", "")
    )


def on_step_error(ctx, error):
    Event.objects.create(name="on_step_error", step=ctx.step_key, detail=str(error))


def _record(name):
    def receiver(sender, run, step_run=None, **kwargs):
        detail = kwargs.get("error", "") or run.status
        key = step_run.key if step_run is not None else ""
        Event.objects.create(name=name, step=key, detail=detail)
        if run.params.get("receivers_raise"):
            raise RuntimeError(f"A receiver of {name} broke.")

    return receiver


RECEIVERS = {
    name: _record(name)
    for name in (
        "run_started",
        "run_succeeded",
        "run_failed",
        "run_cancelled",
        "step_started",
        "step_succeeded",
        "step_skipped",
        "step_failed",
        "step_retrying",
    )
}


def connect():
    """Connect a recording receiver to each signal (done once, at start)."""
    for name, receiver in RECEIVERS.items():
        getattr(signals, name).connect(receiver, dispatch_uid=f"tests-{name}")
