"""Chunked steps: chunks in parallel, checkpoints, retries and resume."""

import time

import pytest
from django.db import connection

from flows.control import cancel_run
from flows.models import RunStatus, StepStatus
from flows.recovery import apply_plan, plan_resume
from flows.scheduler import start_run
from tests.conftest import wait_for_run
from tests.flows.helpers import flow, step, step_runs, wait_for_event
from tests.testapp.kinds import chunk_log
from tests.testapp.models import Event

pytestmark = pytest.mark.worker
QUICK = {"retry_delay": 0.2, "retry_jitter": False}


def written_rows():
    names = Event.objects.filter(name__startswith="row-").values_list("name", flat=True)
    return sorted(int(name.split("-")[1]) for name in names)


def chunk_calls(counter):
    """Return how often each chunk was called, by chunk index."""
    calls = chunk_log(counter).read_text().split()
    return {int(index): calls.count(index) for index in set(calls)}


def test_a_chunked_step_runs_its_chunks_and_merges_their_outputs(worker):
    chunked = flow(
        "chunked",
        step("load", "chunked", rows=100, chunk_size=30),
        step("after", depends_on=["load"]),
    )

    run = wait_for_run(start_run(chunked))

    load = step_runs(run)["load"]
    assert run.status == RunStatus.SUCCEEDED
    assert written_rows() == list(range(1, 101))
    assert load.output == {"rows": 100}
    assert (load.created, load.rows_done) == (100, 100)
    assert [c.status for c in load.chunks.all()] == [StepStatus.SUCCEEDED] * 4
    assert step_runs(run)["after"].output["saw_upstream"] == ["load"]


@pytest.mark.skipif(
    connection.vendor == "sqlite",
    reason="SQLite has one writer at a time, so chunks that write take turns.",
)
def test_chunks_of_one_step_run_in_parallel(worker):
    parallel = flow(
        "parallel-chunks", step("load", "chunked", rows=4, chunk_size=1, seconds=1)
    )

    run = wait_for_run(start_run(parallel))

    chunks = list(step_runs(run)["load"].chunks.all())
    assert chunks[0].started_at < chunks[1].finished_at
    assert chunks[1].started_at < chunks[0].finished_at


def test_a_retried_step_redoes_only_the_chunk_that_failed(worker):
    # Given chunk 2 of 4 fails once with a transient error
    flaky = flow(
        "flaky-chunks",
        step(
            "load",
            "chunked",
            rows=40,
            chunk_size=10,
            fail_chunk=2,
            counter="retried",
            policy=QUICK,
        ),
    )

    run = wait_for_run(start_run(flaky))

    # Then the step succeeded on its second attempt, every row once, and
    # only the failed chunk ran twice
    load = step_runs(run)["load"]
    assert run.status == RunStatus.SUCCEEDED
    assert load.attempts == 2
    assert written_rows() == list(range(1, 41))
    assert chunk_calls("retried") == {0: 1, 1: 1, 2: 2, 3: 1}


def test_resume_redoes_only_the_unfinished_chunks(worker):
    # Given a chunk that fails once and a step with no retries
    once = flow(
        "resume-chunks",
        step(
            "load",
            "chunked",
            rows=30,
            chunk_size=10,
            fail_chunk=0,
            counter="resumed",
            policy={"max_attempts": 1},
        ),
    )
    run = wait_for_run(start_run(once))
    assert run.status == RunStatus.FAILED
    assert "Chunk 0" in step_runs(run)["load"].error

    # When the run is resumed
    run = wait_for_run(apply_plan(plan_resume(run)))

    # Then the chunks that had succeeded were not applied again
    assert run.status == RunStatus.SUCCEEDED
    assert written_rows() == list(range(1, 31))
    assert chunk_calls("resumed") == {0: 2, 1: 1, 2: 1}


HANDLERS = {
    "handlers": {
        "before_step": ["tests.testapp.handlers.before_step"],
        "after_step": ["tests.testapp.handlers.after_step"],
        "on_step_error": ["tests.testapp.handlers.on_step_error"],
    }
}


def handler_events():
    """Return the events the handlers and signals recorded, rows left out."""
    rows = Event.objects.exclude(name__startswith="row-")
    return [(e.name, e.step, e.detail) for e in rows]


def test_a_chunked_step_calls_its_step_handlers_once_each_in_order(worker):
    handled = flow(
        "handled-chunks",
        step("load", "chunked", rows=40, chunk_size=10, policy=HANDLERS),
    )

    run = wait_for_run(start_run(handled))

    assert run.status == RunStatus.SUCCEEDED
    wait_for_event("run_succeeded")
    assert [(name, key) for name, key, _detail in handler_events()] == [
        ("run_started", ""),
        ("step_started", "load"),
        ("before_step", "load"),
        ("after_step", "load"),
        ("step_succeeded", "load"),
        ("run_succeeded", ""),
    ]


def test_a_chunked_step_whose_chunk_fails_calls_its_error_handler_once(worker):
    failing = flow(
        "failing-chunks",
        step(
            "load",
            "chunked",
            rows=40,
            chunk_size=10,
            fail_chunk=1,
            counter="handled-failure",
            policy={"max_attempts": 1, **HANDLERS},
        ),
    )

    run = wait_for_run(start_run(failing))

    assert run.status == RunStatus.FAILED
    wait_for_event("run_failed")
    message = "Chunk 1: Chunk 1 met a busy server."
    assert handler_events() == [
        ("run_started", "", "running"),
        ("step_started", "load", "running"),
        ("before_step", "load", "[]"),
        ("on_step_error", "load", message),
        ("step_failed", "load", message),
        ("run_failed", "", "failed"),
    ]


@pytest.mark.skipif(
    connection.vendor == "sqlite",
    reason="SQLite's one writer cannot commit a chunk while its owner looks.",
)
def test_a_chunk_that_commits_while_its_owner_looks_is_not_sent_again(worker):
    # Given a chunk that the owner last saw running long ago, but that has
    # committed since (here: the chunk is done, the owner's copy is old)
    from datetime import timedelta

    from django.db import transaction
    from django.utils import timezone

    from flows.chunks import _lost_chunks

    run = wait_for_run(
        start_run(flow("seen-late", step("load", "chunked", rows=5, chunk_size=5)))
    )
    [seen] = step_runs(run)["load"].chunks.all()
    seen.status = StepStatus.RUNNING
    seen.started_at = timezone.now() - timedelta(minutes=5)

    # When the owner looks for lost chunks
    with transaction.atomic():
        lost = _lost_chunks([seen])

    # Then the chunk is not taken for lost, so it is not applied twice
    assert lost == []


def test_many_chunks_shorter_than_a_heartbeat_keep_their_step_alive(worker):
    # Given a step of more short chunks than the worker has slots, so that
    # its owner task waits in the queue behind them for longer than the
    # lease, and each chunk ends before a heartbeat interval has passed
    short = flow(
        "short-chunks",
        step(
            "load",
            "chunked",
            rows=80,
            chunk_size=1,
            seconds=0.3,
            policy={"max_attempts": 1},
        ),
    )

    # When it runs (on SQLite the chunks take turns writing, so allow time)
    run = wait_for_run(start_run(short), timeout=180)

    # Then it is never taken for lost: one attempt, every chunk once
    load = step_runs(run)["load"]
    assert run.status == RunStatus.SUCCEEDED, load.error
    assert load.attempts == 1
    assert written_rows() == list(range(1, 81))


def test_a_cancelled_chunked_step_counts_the_rows_its_finished_chunks_kept(worker):
    # Given a step of 20 slow chunks, some of which have committed
    slow = flow(
        "slow-chunks", step("load", "chunked", rows=20, chunk_size=1, seconds=0.5)
    )
    run = start_run(slow)
    deadline = time.monotonic() + 60
    while run.step_runs.get(key="load").chunks.filter(status="succeeded").count() < 2:
        assert time.monotonic() < deadline, "No chunk finished in time."
        time.sleep(0.05)

    # When the run is cancelled, and its running chunks have stopped
    cancel_run(run)
    deadline = time.monotonic() + 30
    while run.step_runs.get(key="load").chunks.filter(status="running").exists():
        assert time.monotonic() < deadline, "A chunk kept running."
        time.sleep(0.05)

    # Then the step is cancelled, yet its counts and rows done are those of
    # the chunks that committed, which are the rows in the table (each
    # chunk counts itself just after it commits: give the last a moment)
    kept = len(written_rows())
    deadline = time.monotonic() + 5
    load = run.step_runs.get(key="load")
    while load.created != kept and time.monotonic() < deadline:
        time.sleep(0.05)
        load.refresh_from_db()
    assert load.status == StepStatus.CANCELLED
    assert 2 <= kept < 20
    assert (load.created, load.rows_done) == (kept, kept)


def test_chunked_steps_waiting_in_the_queue_behind_others_are_not_taken_for_lost(
    worker,
):
    # Given three chunked steps side by side, of more chunks in all than
    # the worker has slots, so that one step's chunks and its owner's poll
    # wait in the queue behind the others' for longer than the lease (on
    # SQLite, whose chunks take turns to write, fewer chunks wait as long)
    rows = 4 if connection.vendor == "sqlite" else 8
    side_by_side = flow(
        "queued-chunks",
        *(
            step(
                key,
                "chunked",
                rows=rows,
                chunk_size=1,
                seconds=1.5,
                policy={"max_attempts": 1},
            )
            for key in ("a", "b", "c")
        ),
    )

    # When they run
    run = wait_for_run(start_run(side_by_side), timeout=180)

    # Then none was taken for lost: each ran once, every chunk once
    steps = step_runs(run)
    assert run.status == RunStatus.SUCCEEDED, {k: s.error for k, s in steps.items()}
    assert [s.attempts for s in steps.values()] == [1, 1, 1]
    assert Event.objects.filter(name__startswith="row-").count() == 3 * rows
