"""The import step in chunks: every row once, whatever happens to workers."""

import hashlib
import json
import time

import pytest
from django.core.files.base import ContentFile
from django.db import connection

from flows.control import cancel_run
from flows.models import RowError, RunStatus, StepStatus
from flows.report import run_report
from flows.scheduler import start_run
from formats import open_reader
from tests.conftest import wait_for_run
from tests.flows.helpers import flow, step_runs
from tests.testapp.models import Event, Tag

pytestmark = pytest.mark.worker


def import_step(key, /, **config):
    """Return an ``import_rows`` step; its config has a ``key`` of its own."""
    return {"key": key, "kind": "import_rows", "depends_on": [], "config": config}


def tag_step(source, **config):
    """Return the step importing tags by code from ``source``."""
    return import_step(
        "tags",
        source=source,
        model="testapp.Tag",
        key=["code"],
        fields={"code": "code", "label": "label", "weight": "weight"},
        **config,
    )


def put(scratch, name, text):
    if scratch.exists(name):
        scratch.delete(name)
    scratch.save(name, ContentFile(text.encode()))
    return {"storage": "scratch", "path": name}


def event_lines(count):
    """Return CSV lines of ``count`` events with varied details."""
    return [
        f"row-{n:05d},chunked,{hashlib.sha1(str(n).encode()).hexdigest()[:12]}"
        for n in range(1, count + 1)
    ]


def checksum(lines):
    return hashlib.sha256("\n".join(sorted(lines)).encode()).hexdigest()


def imported_events():
    rows = Event.objects.filter(step="chunked").values_list("name", "step", "detail")
    return [",".join(row) for row in rows]


def test_a_chunked_import_reads_each_row_once_and_keeps_its_errors(worker, scratch):
    # Given 250 tags, two with a weight that is not a number
    lines = ["code,label,weight"]
    lines += [
        f"T{n:03d},Tag {n},{'heavy' if n in (42, 201) else n}" for n in range(1, 251)
    ]
    source = put(scratch, "chunked/tags.csv", "\n".join(lines) + "\n")
    tags = flow(
        "chunked-tags",
        tag_step(
            source,
            chunk_size=100,
            failed_rows={"storage": "scratch", "path": "chunked/failed-tags.csv"},
        ),
    )

    run = wait_for_run(start_run(tags))

    # Then three chunks of rows 2-101, 102-201 and 202-251 were imported
    tags_run = step_runs(run)["tags"]
    assert run.status == RunStatus.SUCCEEDED
    spans = [(c.spec["first"], c.spec["last"]) for c in tags_run.chunks.all()]
    assert spans == [(2, 101), (102, 201), (202, 251)]
    assert Tag.objects.count() == 248
    assert (tags_run.created, tags_run.failed, tags_run.rows_done) == (248, 2, 250)
    assert (tags_run.rows_total, tags_run.output["rows"]) == (250, 250)
    # And the two refused rows are reported at their lines, and only they
    # are in the one failed-rows file
    errors = RowError.objects.filter(step_run=tags_run).order_by("row_number")
    assert [(e.row_number, e.column, e.value) for e in errors] == [
        (43, "weight", "heavy"),
        (202, "weight", "heavy"),
    ]
    failed = tags_run.output["failed_rows"]
    assert failed["rows"] == 2
    with scratch.open(failed["path"], "rb") as handle:
        rows = [row.values for row in open_reader(handle, name=failed["path"])]
    assert [(r["code"], r["weight"]) for r in rows] == [
        ("T042", "heavy"),
        ("T201", "heavy"),
    ]
    assert all("weight" in r["error"] for r in rows)
    # and the run's report says where they were filed
    assert (
        f"  tags: 2 failed rows filed in {failed['path']} (storage 'scratch')"
        in run_report(run).splitlines()
    )

    # When the same file is imported again
    again = wait_for_run(start_run(tags))

    # Then nothing is written: every accepted row is unchanged
    tags_again = step_runs(again)["tags"]
    assert (tags_again.created, tags_again.updated) == (0, 0)
    assert tags_again.unchanged == 248


def test_chunks_that_repeat_keys_update_each_other_instead_of_refusing(worker, scratch):
    # Given 400 rows naming 100 codes, each code once in each of 4 chunks,
    # slowed down and written in small batches so that chunks overlap and
    # insert the same codes while the others' transactions are open (not
    # on SQLite, which takes one writer at a time)
    lines = ["code,label,weight"]
    lines += [f"T{n % 100:03d},v{n},{n}" for n in range(1, 401)]
    source = put(scratch, "chunked/repeats.csv", "\n".join(lines) + "\n")
    repeats = flow(
        "repeated-keys",
        tag_step(
            source,
            chunk_size=100,
            batch_size=10,
            row_hook="tests.steps.hooks.slow",
        ),
    )

    # When they are imported
    run = wait_for_run(start_run(repeats))

    # Then no row was refused as a duplicate, each code is stored once, and
    # with the values of one of its own rows
    tags_run = step_runs(run)["tags"]
    assert run.status == RunStatus.SUCCEEDED
    assert not RowError.objects.filter(step_run=tags_run).exists()
    assert tags_run.failed == 0
    stored = dict(Tag.objects.values_list("code", "weight"))
    assert len(stored) == 100
    assert all(weight % 100 == int(code[1:]) for code, weight in stored.items())
    assert stored == {
        code: weight
        for code, weight in stored.items()
        if f"{code},v{weight},{weight}" in lines
    }


@pytest.mark.skipif(
    connection.vendor == "sqlite",
    reason="SQLite has one writer at a time: chunks cannot deadlock.",
)
def test_chunks_that_deadlock_over_the_same_keys_are_retried_not_refused(
    worker, scratch
):
    # Given two chunks of the same 60 codes, the second in reverse order,
    # each written in batches of 10 inside its chunk's transaction, so
    # that each chunk holds codes the other needs
    codes = [f"D{n:03d}" for n in range(60)]
    lines = ["code,label,weight"]
    lines += [f"{code},first,{n}" for n, code in enumerate(codes)]
    lines += [f"{code},second,{n}" for n, code in enumerate(reversed(codes))]
    source = put(scratch, "chunked/deadlock.csv", "\n".join(lines) + "\n")
    tags = tag_step(
        source, chunk_size=60, batch_size=10, row_hook="tests.steps.hooks.slow"
    )
    crossing = flow("crossing-keys", {**tags, "retry_delay": 0.2})

    # When they are imported
    run = wait_for_run(start_run(crossing), timeout=120)

    # Then no row was refused: a chunk the database stopped to end a
    # deadlock was tried again and updated what the other had stored
    tags_run = step_runs(run)["tags"]
    assert run.status == RunStatus.SUCCEEDED
    assert not RowError.objects.filter(step_run=tags_run).exists()
    assert Tag.objects.filter(code__startswith="D").count() == 60


def test_a_worker_killed_mid_chunked_import_leaves_every_row_exactly_once(
    worker, scratch
):
    # Given a file of 2,400 events imported in chunks of 200, slowly
    lines = event_lines(2400)
    source = put(scratch, "chunked/events.csv", "\n".join(lines) + "\n")
    events = flow(
        "chunked-events",
        import_step(
            "events",
            source=source,
            read={"header": False},
            model="testapp.Event",
            key=["name"],
            action="create_only",
            fields={"name": 1, "step": 2, "detail": 3},
            chunk_size=200,
            row_hook="tests.steps.hooks.slow",
        ),
    )
    run = start_run(events)

    # When the worker and its pool are killed once some chunks are done and
    # others are being applied
    deadline = time.monotonic() + 60
    while True:
        assert time.monotonic() < deadline, "no chunk finished in time"
        step_run = run.step_runs.get(key="events")
        assert step_run.status != StepStatus.FAILED, step_run.error
        statuses = list(step_run.chunks.values_list("status", flat=True))
        if StepStatus.SUCCEEDED in statuses and StepStatus.RUNNING in statuses:
            break
        time.sleep(0.05)
    worker.kill()
    done_before = set(
        step_run.chunks.filter(status=StepStatus.SUCCEEDED).values_list(
            "index", flat=True
        )
    )
    assert len(done_before) < 12
    worker.start()

    # Then the new worker completes the run, and the table holds exactly the
    # file's rows, none twice
    run = wait_for_run(run, timeout=120)
    step_run = step_runs(run)["events"]
    assert run.status == RunStatus.SUCCEEDED, step_run.error
    assert Event.objects.filter(step="chunked").count() == 2400
    assert checksum(imported_events()) == checksum(lines)
    assert (step_run.created, step_run.unchanged, step_run.failed) == (2400, 0, 0)
    # And the chunks that had finished before the kill were not applied again
    chunks = list(step_run.chunks.all())
    assert all(c.status == StepStatus.SUCCEEDED for c in chunks)
    assert all(c.attempts == 1 for c in chunks if c.index in done_before)
    assert any(c.attempts > 1 for c in chunks) or step_run.attempts > 1


@pytest.mark.parametrize("chunk_size", [None, 2], ids=["whole", "chunked"])
def test_rows_refused_for_a_nul_or_a_nan_are_kept_where_the_database_can(
    chunk_size, worker, scratch
):
    # Given JSON tags, one with a NUL in its label and one with a NaN
    # weight, which the step refuses and which PostgreSQL could store in no
    # text or JSON column as they are, between good ones
    source = put(
        scratch,
        "chunked/odd-tags.json",
        '[{"code": "N1", "label": "One", "weight": 1},'
        ' {"code": "N2", "label": "T\\u0000wo", "weight": 2},'
        ' {"code": "N3", "label": "Three", "weight": NaN},'
        ' {"code": "N4", "label": "Four", "weight": 4}]',
    )
    config = {"failed_rows": {"storage": "scratch", "path": "chunked/odd-failed"}}
    if chunk_size:
        config["chunk_size"] = chunk_size
    odd = flow("odd-tags", tag_step(source, **config))

    # When it runs on the worker
    run = wait_for_run(start_run(odd))

    # Then it succeeds with the good rows kept and both refusals recorded,
    # the NUL written as \x00, and the failed rows filed with their values
    tags = step_runs(run)["tags"]
    assert run.status == RunStatus.SUCCEEDED, tags.error
    assert sorted(Tag.objects.values_list("code", flat=True)) == ["N1", "N4"]
    assert (tags.created, tags.failed) == (2, 2)
    errors = {e.row_number: e for e in RowError.objects.filter(step_run=tags)}
    assert (errors[2].column, errors[2].value) == ("label", "T\\x00wo")
    assert errors[2].code == "null_characters_not_allowed"
    assert (errors[3].column, errors[3].value) == ("weight", "nan")
    failed = tags.output["failed_rows"]
    with scratch.open(failed["path"], "rb") as handle:
        filed = json.load(handle)
    assert [(r["code"], r["weight"]) for r in filed] == [("N2", 2), ("N3", "NaN")]


@pytest.mark.skipif(
    connection.vendor == "sqlite",
    reason="SQLite's one write lock: the import's batches keep taking it first, "
    "and the cancel lands only once the import has ended.",
)
def test_a_cancelled_import_counts_the_batches_it_committed(worker, scratch):
    # Given a slow import of 2,000 tags in batches of 100, each committed
    lines = ["code,label,weight", *(f"X{n:04d},Tag {n},{n}" for n in range(2000))]
    source = put(scratch, "cancel/tags.csv", "\n".join(lines) + "\n")
    slow = flow(
        "slow-tags",
        tag_step(source, batch_size=100, row_hook="tests.steps.hooks.slow"),
    )
    run = start_run(slow)
    deadline = time.monotonic() + 60
    while Tag.objects.count() < 200:
        assert time.monotonic() < deadline, "No batch was committed in time."
        time.sleep(0.05)

    # When the run is cancelled midway
    cancel_run(run)

    # Then, once the step has stopped, it is cancelled and counts the rows
    # its committed batches created, which are the rows in the table
    deadline = time.monotonic() + 30
    tags = run.step_runs.get(key="tags")
    while tags.created == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
        tags.refresh_from_db()
    kept = Tag.objects.count()
    assert tags.status == StepStatus.CANCELLED
    assert 200 <= kept < 2000
    assert (tags.created, tags.rows_done) == (kept, kept)


def test_a_chunked_imports_failed_rows_keep_the_sources_column_order(worker, scratch):
    # Given tags whose columns are not in the order a JSON column of the
    # database would keep them in, two with a weight that is no number
    lines = ["weight,label,code", "1,One,A", "x,Two,B", "3,Three,C", "y,Four,D"]
    source = put(scratch, "chunked/ordered.csv", "\n".join(lines) + "\n")
    failed_rows = {"storage": "scratch", "path": "chunked/ordered-failed.csv"}
    ordered = flow("ordered", tag_step(source, chunk_size=2, failed_rows=failed_rows))

    # When it is imported in chunks, whose refused rows pass through the
    # database on their way to the file
    run = wait_for_run(start_run(ordered))

    # Then the failed-rows file has the source's columns in its order
    tags = step_runs(run)["tags"]
    with scratch.open(tags.output["failed_rows"]["path"], "rb") as handle:
        filed = handle.read().decode().splitlines()
    assert filed[0] == "weight,label,code,error"
    assert [line.split(",")[:3] for line in filed[1:]] == [
        ["x", "Two", "B"],
        ["y", "Four", "D"],
    ]
