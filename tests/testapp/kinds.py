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
        ctx.shared.update(self.config["shared"] or {})
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
