"""The ``syncflow`` command's own behaviour, beyond the functions it calls."""

import io

import pytest
from django.core.management import CommandError, call_command

from tests.flows.helpers import flow, step


def test_waiting_for_a_run_no_worker_takes_says_which_queue_to_read(db, monkeypatch):
    # Given a flow, no worker running, and the hint due after a tenth of a
    # second rather than ten
    monkeypatch.setattr("flows.management.commands.syncflow.QUEUED_HINT_AFTER", 0.1)
    flow("unread", step("only"))
    err = io.StringIO()

    # When a run is started and waited for, for half a second
    with pytest.raises(CommandError) as caught:
        call_command(
            "syncflow", "run", "unread", "--wait", "--timeout", "0.5", stderr=err
        )

    # Then the command says, once, that no worker has taken it and which
    # queue a worker must read, and gives up with exit status 2
    hint = err.getvalue()
    assert hint.count("no worker has taken it") == 1
    assert "reads the queue 'syncflow-test-" in hint
    assert "The run stays queued and starts when one does." in hint
    assert str(caught.value).endswith("still queued after 0.5 s.")
    assert caught.value.returncode == 2
