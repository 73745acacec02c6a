"""The ``SYNCFLOW`` settings dict, read against a table of defaults.

Example, in a project's settings::

    SYNCFLOW = {
        "STEP_KINDS": ["myproject.steps.SendReport"],
        "MAX_ROW_ERRORS": 5000,
    }
"""

from django.conf import settings as django_settings

DEFAULTS = {
    # Dotted paths of project step kinds, registered besides the built-in.
    "STEP_KINDS": [],
    # Rejected rows stored per step run; past this only the count grows.
    "MAX_ROW_ERRORS": 10_000,
    # Seconds between two progress writes of one step.
    "PROGRESS_INTERVAL": 0.5,
    # Seconds between two checks of a step waiting for an upstream that the
    # Celery canvas cannot express (see docs/scheduler.md).
    "WAIT_POLL_INTERVAL": 0.5,
    # Seconds the syncflow command sleeps between two looks at a run.
    "WAIT_POLL_SECONDS": 0.5,
    # Seconds between two signs of life of a running step.
    "HEARTBEAT_INTERVAL": 5.0,
    # A running step silent for this long has lost its worker.
    "LEASE_SECONDS": 60.0,
    # Seconds between two looks, by each worker, for lost or stalled runs.
    "SWEEP_INTERVAL": 30.0,
    # Largest output, state or shared dict of a step, as JSON, in bytes.
    "CONTEXT_MAX_BYTES": 1_000_000,
}


class Settings:
    """Attribute access to ``SYNCFLOW`` with defaults filled in."""

    def __getattr__(self, name: str):
        if name not in DEFAULTS:
            raise AttributeError(f"SYNCFLOW has no setting {name!r}.")
        return getattr(django_settings, "SYNCFLOW", {}).get(name, DEFAULTS[name])


settings = Settings()
