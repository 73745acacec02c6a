"""System checks for settings without which runs fail in ways hard to trace.

They run with ``manage.py check`` and before ``migrate``, ``runserver`` and
the other commands that check the project. Each can be silenced by its id
in ``SILENCED_SYSTEM_CHECKS``.
"""

from django.core import checks
from django.db import connections, router


@checks.register()
def check_sqlite_for_workers(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Warn when the runs' SQLite database is not set up for several writers.

    Worker processes that finish chord members at the same moment write
    at once; SQLite's default rollback journal and deferred transactions
    make them fail with "database is locked" instead of waiting in turn.
    """
    from .models import FlowRun

    alias = router.db_for_write(FlowRun)
    settings_dict = connections[alias].settings_dict
    if settings_dict["ENGINE"] != "django.db.backends.sqlite3":
        return []
    options = settings_dict.get("OPTIONS") or {}
    missing = []
    if str(options.get("transaction_mode", "")).upper() != "IMMEDIATE":
        missing.append('"transaction_mode": "IMMEDIATE"')
    init_command = "".join(str(options.get("init_command", "")).lower().split())
    if "journal_mode=wal" not in init_command:
        missing.append('"init_command": "PRAGMA journal_mode=WAL;"')
    if not missing:
        return []
    return [
        checks.Warning(
            f"The SQLite database {alias!r} is not set up for several worker "
            "processes: runs will fail with 'database is locked'.",
            hint=f"Add to DATABASES[{alias!r}]['OPTIONS']: {', '.join(missing)}.",
            id="flows.W001",
        )
    ]


@checks.register()
def check_celery(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Warn when the Celery app lacks what the run canvas needs.

    Chords need a result backend, and the error callback that fails a run
    reaches the tasks inside a chord's header only when Celery is told so.
    """
    from celery import current_app

    conf = current_app.conf
    found = []
    backend = conf.result_backend
    if not backend or str(backend).lower() == "disabled":
        found.append(
            checks.Warning(
                "Celery has no result backend: runs whose steps run in "
                "parallel (chords) never finish.",
                hint='Set CELERY_RESULT_BACKEND = "django-db" (with '
                '"django_celery_results" in INSTALLED_APPS) or a Redis URL, '
                "and load your Celery app in your project's __init__.py.",
                id="flows.W002",
            )
        )
    if not conf.task_allow_error_cb_on_chord_header:
        found.append(
            checks.Warning(
                "Celery does not call error callbacks for the tasks of a "
                "chord's header: a run whose parallel step's task breaks is "
                "marked failed only later, by the sweep, not at once.",
                hint="Set CELERY_TASK_ALLOW_ERROR_CB_ON_CHORD_HEADER = True.",
                id="flows.W003",
            )
        )
    return found
