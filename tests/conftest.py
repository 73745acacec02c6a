"""Fixtures shared by the whole suite: a real Celery worker and helpers."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.storage import storages

ROOT = Path(__file__).resolve().parent.parent
WORKER_START_TIMEOUT = 90


class WorkerProcess:
    """A real Celery worker in its own process group, on the test database.

    The worker uses the same settings module, told to use the database
    pytest-django created, and consumes from a queue named for this
    session, so leftovers of an earlier session never reach it.
    """

    def __init__(self):
        self.log_path = Path(settings.VAR_DIR) / "worker.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        env = dict(
            os.environ,
            SYNCFLOW_TEST_WORKER="1",
            DJANGO_SETTINGS_MODULE="tests.settings",
            PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "demo")]),
        )
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "bikeshop",
            "worker",
            "--concurrency=4",
            "--loglevel=INFO",
            f"--queues={settings.CELERY_TASK_DEFAULT_QUEUE}",
            "--without-gossip",
            "--without-mingle",
            "--hostname=syncflow-test@%h",
        ]
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_until_ready(offset)

    def ensure_running(self) -> None:
        if self.process is None or self.process.poll() is not None:
            self.start()

    def kill(self) -> None:
        """Kill the worker and its pool processes at once, as a crash would."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        """Stop the worker and its pool, so no process keeps the test
        database open when pytest-django drops it."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()
            return
        # Pool processes outlive their parent for a moment.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.killpg(self.process.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)
        os.killpg(self.process.pid, signal.SIGKILL)

    def _wait_until_ready(self, offset: int) -> None:
        deadline = time.monotonic() + WORKER_START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"The worker exited:\n{self._log(offset)}")
            if " ready." in self._log(offset):
                return
            time.sleep(0.2)
        self.kill()
        raise RuntimeError(f"The worker did not start:\n{self._log(offset)}")

    def _log(self, offset: int) -> str:
        with open(self.log_path, "rb") as log:
            log.seek(offset)
            return log.read().decode(errors="replace")


@pytest.fixture(scope="session")
def worker_process(django_db_setup, django_db_blocker):
    """Start one real Celery worker for the session (see WorkerProcess)."""
    worker = WorkerProcess()
    worker.start()
    yield worker
    worker.stop()
    with django_db_blocker.unblock():
        _close_other_sessions()


def _close_other_sessions() -> None:
    """End every other session on the PostgreSQL test database.

    Threads of this process (the admin tests' live server, say) may leave a
    connection open; PostgreSQL refuses to drop a database that anyone
    still uses, and pytest-django would leave it behind with a warning.
    """
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


@pytest.fixture
def worker(worker_process, transactional_db):
    """A running worker and a database it can see what the test commits to.

    After the test, runs it left going are let finish (or cancelled), so
    the worker is idle when pytest-django empties the tables: emptying
    them under a working worker can deadlock on PostgreSQL.
    """
    worker_process.ensure_running()
    yield worker_process
    settle_runs()


def settle_runs(timeout: float = 30) -> None:
    """Wait for active runs to end; cancel those still going after ``timeout``."""
    from flows.control import cancel_run
    from flows.models import FlowRun, RunStatus

    active = FlowRun.objects.filter(
        status__in=[RunStatus.QUEUED, RunStatus.RUNNING], generation__gt=0
    )
    deadline = time.monotonic() + timeout
    while active.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    if not active.exists():
        if FlowRun.objects.filter(status=RunStatus.CANCELLED).exists():
            _wait_until_tasks_stop()
        return
    for run in active:
        cancel_run(run, "Still going when its test ended.")
    # Give stopped steps a moment to notice and finish their last writes.
    time.sleep(2)


def _wait_until_tasks_stop(quiet: float = 0.5, timeout: float = 10) -> None:
    """Wait until the worker has stored no task result for ``quiet`` seconds.

    A cancelled run's queued tasks (the chunks of a step, say) still reach
    the worker after the run ended and find nothing to do; each takes the
    run's lock on its way, which can deadlock with the tables being emptied.
    """
    from django_celery_results.models import TaskResult

    deadline = time.monotonic() + timeout
    seen, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        count = TaskResult.objects.count()
        if count != seen:
            seen, since = count, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return
        time.sleep(0.05)


@pytest.fixture
def scratch():
    """The storage a test writes files to for the worker to read."""
    storage = storages["scratch"]
    Path(storage.location).mkdir(parents=True, exist_ok=True)
    return storage


@pytest.fixture
def nightly_definition():
    """The demo's nightly flow definition, as loaded by the demo command."""
    with open(
        ROOT / "demo" / "definitions" / "nightly.json", encoding="utf-8"
    ) as handle:
        return json.load(handle)


def wait_for_run(run, timeout: float = 120):
    """Return ``run`` reloaded once it has finished; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if run.is_finished:
            return run
        time.sleep(0.1)
    statuses = dict(run.step_runs.values_list("key", "status"))
    raise AssertionError(
        f"Run {run.pk} still {run.status} after {timeout} s: {statuses}"
    )


@pytest.fixture(scope="session")
def chromium():
    """The path of Debian's Chromium, which the browser tests drive.

    Playwright cannot download its own browser on every machine, so the
    tests use the system's; `.ci/run` installs it where it is missing.
    """
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip("Chromium is not installed (apt-get install chromium).")
    return path
