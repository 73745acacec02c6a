"""Small builders for flows in tests."""

import time

from flows.loader import load_flow


def step(key, kind="pause", depends_on=(), policy=None, **config):
    """Return a step definition as ``syncflow load`` takes it."""
    return {
        "key": key,
        "kind": kind,
        "depends_on": list(depends_on),
        "config": config,
        **(policy or {}),
    }


def flow(slug, *steps, **options):
    """Create or replace a flow of ``steps``."""
    return load_flow({"slug": slug, "name": slug, "steps": list(steps), **options})


def step_runs(run):
    """Return the run's step runs keyed by step key."""
    return {s.key: s for s in run.step_runs.all()}


def wait_for_event(name: str, seconds: float = 10.0) -> None:
    """Wait until the test handlers have recorded an event called ``name``.

    A run's own signals are sent after its status is saved, so a test that
    sees the run finished may look before the worker has recorded the
    last signal.
    """
    from tests.testapp.models import Event

    deadline = time.monotonic() + seconds
    while not Event.objects.filter(name=name).exists():
        if time.monotonic() > deadline:
            return
        time.sleep(0.05)
