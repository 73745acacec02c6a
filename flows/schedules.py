"""Start flows on a schedule, with django-celery-beat.

A schedule is a django-celery-beat ``PeriodicTask`` that runs the task
``syncflow.start_flow`` with the flow's slug (and, optionally, run
parameters). :func:`schedule_flow` creates or updates one from a cron
expression; schedules can equally be made in django-celery-beat's admin.
"""

import json

from django.utils.translation import gettext as _

from .errors import FlowError
from .models import Flow

TASK = "syncflow.start_flow"


def schedule_flow(flow: Flow, cron: str, *, params: dict | None = None, timezone="UTC"):
    """Run ``flow`` on the schedule ``cron`` ("minute hour day month weekday").

    Args:
        flow: The flow to start.
        cron: Five crontab fields, e.g. ``"30 2 * * *"`` for 02:30 every day.
        params: Run parameters for every scheduled run.
        timezone: The time zone the crontab is read in.

    Returns:
        The ``PeriodicTask``, named ``syncflow: <slug>``.

    Raises:
        FlowError: If django-celery-beat is not installed or ``cron`` does
            not have five fields.
    """
    try:
        from django_celery_beat.models import CrontabSchedule, PeriodicTask
    except ImportError as exc:
        raise FlowError(_("Scheduling needs django-celery-beat installed.")) from exc
    fields = cron.split()
    if len(fields) != 5:
        raise FlowError(
            _(
                "%(cron)r is not a crontab of five fields "
                "(minute hour day month weekday)."
            )
            % {"cron": cron}
        )
    minute, hour, day, month, weekday = fields
    crontab, _created = CrontabSchedule.objects.get_or_create(
        minute=minute,
        hour=hour,
        day_of_month=day,
        month_of_year=month,
        day_of_week=weekday,
        timezone=timezone,
    )
    task, _created = PeriodicTask.objects.update_or_create(
        name=f"syncflow: {flow.slug}",
        defaults={
            "task": TASK,
            "crontab": crontab,
            "interval": None,
            "args": json.dumps([flow.slug]),
            "kwargs": json.dumps({"params": params or {}}),
            "enabled": True,
        },
    )
    return task
