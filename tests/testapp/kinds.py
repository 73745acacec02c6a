"""Step kinds used only by the tests, registered through SYNCFLOW settings."""

import time

from django import forms

from steps.base import StepKind
from steps.errors import StepError


class PauseConfig(forms.Form):
    seconds = forms.FloatField(min_value=0, required=False)
    output = forms.JSONField(required=False)


class Pause(StepKind):
    """Sleep for ``seconds``, then return ``output`` and what it saw upstream."""

    name = "pause"
    label = "Pause (tests)"
    config_form = PauseConfig

    def run(self, ctx):
        time.sleep(self.config["seconds"] or 0)
        return {
            "output": self.config["output"],
            "saw_upstream": sorted(ctx.upstream),
            "saw_params": ctx.params,
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
