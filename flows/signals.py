"""Django signals sent as runs and steps start and end.

Receivers run in the worker process that made the change, right after it
is committed. Each signal is sent with ``sender`` set to the model class and
these keyword arguments:

``run_started``, ``run_succeeded``, ``run_failed``, ``run_cancelled``
    ``run``: the :class:`~flows.models.FlowRun`.
``step_started``, ``step_succeeded``, ``step_skipped``
    ``run``, ``step_run``.
``step_failed``, ``step_retrying``
    ``run``, ``step_run``, ``error`` (the message); ``step_retrying`` also
    ``delay`` (seconds until the next attempt).
``row_rejected``
    ``run``, ``step_run``, ``rejected`` (a :class:`steps.context.RejectedRow`).

A receiver that raises is logged and does not disturb the run or the
other receivers.

Example, mailing someone when a nightly run fails::

    from django.core.mail import mail_admins
    from django.dispatch import receiver

    from flows.signals import run_failed

    @receiver(run_failed)
    def tell_someone(sender, run, **kwargs):
        mail_admins(f"Run {run.pk} of {run.flow.slug} failed", run.error)
"""

import logging

from django.dispatch import Signal

logger = logging.getLogger(__name__)

run_started = Signal()
run_succeeded = Signal()
run_failed = Signal()
run_cancelled = Signal()
step_started = Signal()
step_succeeded = Signal()
step_skipped = Signal()
step_failed = Signal()
step_retrying = Signal()
row_rejected = Signal()


def send(signal: Signal, sender, **kwargs) -> None:
    """Send ``signal`` to every receiver; log, but never raise, their errors."""
    for receiver, result in signal.send_robust(sender, **kwargs):
        if isinstance(result, Exception):
            logger.error(
                "Signal receiver %r failed: %s",
                receiver,
                result,
                exc_info=(type(result), result, result.__traceback__),
            )
