"""Test settings: the demo project's, with its files in a throwaway folder.

The pytest process and the Celery worker it starts share this module. The
worker is told ``SYNCFLOW_TEST_WORKER=1`` and then uses the test database
that pytest-django created, instead of the regular one.
"""

import os
import tempfile

os.environ.setdefault("SYNCFLOW_DEMO_VAR", tempfile.mkdtemp(prefix="syncflow-test-"))
os.environ.setdefault("SYNCFLOW_QUEUE", f"syncflow-test-{os.getpid()}")

from bikeshop.settings import *  # noqa: E402,F403
from bikeshop.settings import DATABASES, VAR_DIR  # noqa: E402

INSTALLED_APPS = [*INSTALLED_APPS, "tests.testapp"]  # noqa: F405

_database = DATABASES["default"]
if _database["ENGINE"] == "django.db.backends.sqlite3":
    _database["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}
else:
    _database["TEST"] = {"NAME": f"test_{_database['NAME']}"}
if os.environ.get("SYNCFLOW_TEST_WORKER") == "1":
    _database["NAME"] = _database["TEST"]["NAME"]

SYNCFLOW = {
    # What step configs may name: the demo's and the tests' own models
    # (and auth's, which some lookups import into) and code.
    "MODELS": ["shop", "testapp", "auth"],
    "CALLABLES": ["shop", "tests"],
    "STEP_KINDS": [
        "tests.testapp.kinds.Pause",
        "tests.testapp.kinds.Fail",
        "tests.testapp.kinds.Flaky",
        "tests.testapp.kinds.Chunked",
    ],
    "PROGRESS_INTERVAL": 0,
    "WAIT_POLL_INTERVAL": 0.1,
    "WAIT_POLL_SECONDS": 0.05,
    "HEARTBEAT_INTERVAL": 0.5,
    "LEASE_SECONDS": 5,
    "SWEEP_INTERVAL": 1,
}

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

_TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
STORAGES = {
    **STORAGES,  # noqa: F405
    # Small committed files, broken ones too.
    "testdata": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": os.path.join(_TESTS_DIR, "data")},
    },
    # Files a test writes for the worker to read.
    "scratch": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": VAR_DIR / "scratch"},
    },
}
