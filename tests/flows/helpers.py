"""Small builders for flows in tests."""

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
