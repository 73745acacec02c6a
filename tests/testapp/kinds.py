"""Step kinds used only by the tests, registered through SYNCFLOW settings."""

import time

from django import forms
from django.db.models import F

from steps.base import StepKind
from steps.errors import StepError, TransientError

from .models import Counter


class PauseConfig(forms.Form):
    seconds = forms.FloatField(min_value=0, required=False)
    output = forms.JSONField(required=False)
    shared = forms.JSONField(required=False)


class Pause(StepKind):
    """Sleep for ``seconds``, reporting progress, then return what it saw.

    It reports progress ten times a second, as a step working through rows
    does, so that a cancel or a timeout can stop it.
    """

    name = "pause"
    label = "Pause (tests)"
    config_form = PauseConfig

    def run(self, ctx):
        end = time.monotonic() + (self.config["seconds"] or 0)
        ticks = 0
        while time.monotonic() < end:
            time.sleep(min(0.1, max(end - time.monotonic(), 0)))
            ticks += 1
            ctx.progress(ticks)
        for key, value in (self.config["shared"] or {}).items():
            # Nested dicts are changed in place, as a step naturally would.
            if isinstance(value, dict) and isinstance(ctx.shared.get(key), dict):
                ctx.shared[key].update(value)
            else:
                ctx.shared[key] = value
        return {
            "output": self.config["output"],
            "saw_upstream": sorted(ctx.upstream),
            "saw_params": ctx.params,
            "saw_shared": dict(ctx.shared),
        }


class FailConfig(forms.Form):
    message = forms.CharField()


class Fail(StepKind):
    """Fail with ``message``."""

    name = "fail"
    label = "Fail (tests)"
    config_form = FailConfig

    def run(self, ctx):
        raise StepError(self.config["message"])


class FlakyConfig(forms.Form):
    failures = forms.IntegerField(min_value=0)
    counter = forms.CharField()
    transient = forms.BooleanField(required=False)


class Flaky(StepKind):
    """Fail the first ``failures`` times it runs, then succeed.

    The count lives in the database (a :class:`Counter` row), so it holds
    whichever worker runs the attempt.
    """

    name = "flaky"
    label = "Flaky (tests)"
    config_form = FlakyConfig

    def run(self, ctx):
        counter, _ = Counter.objects.get_or_create(name=self.config["counter"])
        Counter.objects.filter(pk=counter.pk).update(value=F("value") + 1)
        counter.refresh_from_db()
        if counter.value <= self.config["failures"]:
            error = TransientError if self.config["transient"] else StepError
            raise error(f"Failure {counter.value} of {self.config['failures']}.")
        return {"calls": counter.value}


class ChunkedConfig(forms.Form):
    rows = forms.IntegerField(min_value=0)
    chunk_size = forms.IntegerField(min_value=1)
    seconds = forms.FloatField(min_value=0, required=False)
    fail_chunk = forms.IntegerField(required=False)
    counter = forms.CharField(required=False)


class Chunked(StepKind):
    """Write ``rows`` Event rows named ``row-N``, ``chunk_size`` per chunk.

    Event has no unique constraint, so a chunk applied twice would show as
    duplicate rows. Each call of a chunk is logged to a file named for
    ``counter`` in the scratch storage: files, unlike the database, keep
    what a failed chunk did. ``fail_chunk`` fails that chunk the first
    time it runs, with a transient error.
    """

    name = "chunked"
    label = "Chunked (tests)"
    config_form = ChunkedConfig

    def chunks(self, ctx):
        size, rows = self.config["chunk_size"], self.config["rows"]
        return [
            {"index": i, "first": first, "last": min(first + size - 1, rows)}
            for i, first in enumerate(range(1, rows + 1, size))
        ]

    def run_chunk(self, ctx, chunk):
        from .models import Event

        index = chunk["index"]
        log = chunk_log(self.config["counter"] or "chunks")
        calls_before = log.read_text().split() if log.exists() else []
        with open(log, "a") as handle:
            handle.write(f"{index}\n")
        if index == self.config["fail_chunk"] and str(index) not in calls_before:
            raise TransientError(f"Chunk {index} met a busy server.")
        Event.objects.bulk_create(
            Event(name=f"row-{n}") for n in range(chunk["first"], chunk["last"] + 1)
        )
        end = time.monotonic() + (self.config["seconds"] or 0)
        while time.monotonic() < end:
            time.sleep(0.05)
            ctx.progress(chunk["last"])
        ctx.counts["created"] += chunk["last"] - chunk["first"] + 1
        return {"rows": chunk["last"] - chunk["first"] + 1}


def chunk_log(name: str):
    """Return the file that logs the calls of the chunks named ``name``."""
    from pathlib import Path

    from django.core.files.storage import storages

    folder = Path(storages["scratch"].location)
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{name}-calls.txt"
