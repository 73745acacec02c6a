"""System checks that warn of settings under which runs fail."""

import pytest
from celery import current_app
from django.core.management import call_command
from django.db import connection

from flows.checks import check_celery, check_sqlite_for_workers


def ids(messages) -> list[str]:
    return [message.id for message in messages]


def test_the_test_settings_pass_every_check(capsys):
    # The demo's settings, which the tests use, are what the docs advise
    call_command("check", "--fail-level", "WARNING")

    assert "no issues" in capsys.readouterr().out


@pytest.mark.skipif(connection.vendor != "sqlite", reason="A check of SQLite's.")
@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({}, ["transaction_mode", "journal_mode=WAL"]),
        ({"transaction_mode": "IMMEDIATE"}, ["journal_mode=WAL"]),
        ({"init_command": "PRAGMA Journal_Mode = wal ;"}, ["transaction_mode"]),
    ],
)
def test_sqlite_without_wal_and_immediate_transactions_is_warned_of(
    options, named, monkeypatch
):
    # Given the database's options without what several workers need
    monkeypatch.setitem(connection.settings_dict, "OPTIONS", options)

    # When the project is checked
    [warning] = check_sqlite_for_workers()

    # Then the warning names what to add, and only that
    assert warning.id == "flows.W001"
    assert "database is locked" in warning.msg
    for name in named:
        assert name in warning.hint
    assert len(warning.hint.split('", "')) == len(named)


@pytest.mark.parametrize("backend", [None, "disabled"])
def test_celery_without_a_result_backend_is_warned_of(backend, monkeypatch):
    monkeypatch.setitem(current_app.conf, "result_backend", backend)

    assert ids(check_celery()) == ["flows.W002"]


def test_celery_without_error_callbacks_in_chord_headers_is_warned_of(monkeypatch):
    monkeypatch.setitem(current_app.conf, "task_allow_error_cb_on_chord_header", False)

    assert ids(check_celery()) == ["flows.W003"]
