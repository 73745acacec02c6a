"""Fixtures shared by the whole suite: a real Celery worker and helpers."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.storage import storages

ROOT = Path(__file__).resolve().parent.parent
WORKER_START_TIMEOUT = 90


@pytest.fixture(scope="session")
def worker_process(django_db_setup, django_db_blocker):
    """Start one real Celery worker for the session, on the test database.

    The worker runs in its own process with the same settings module, told
    to use the database pytest-django created; it consumes from a queue
    named for this session, so leftovers of an earlier session never reach
    it.
    """
    log_path = Path(settings.VAR_DIR) / "worker.log"
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
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    _wait_until_ready(process, log_path)
    yield process
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _wait_until_ready(process: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + WORKER_START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"The worker exited:\n{log_path.read_text()}")
        if " ready." in log_path.read_text(errors="replace"):
            return
        time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"The worker did not start:\n{log_path.read_text()}")


@pytest.fixture
def worker(worker_process, transactional_db):
    """A running worker and a database it can see what the test commits to."""
    return worker_process


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
