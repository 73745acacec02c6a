"""Errors raised by step kinds."""

from django.utils.translation import gettext as _


class StepError(Exception):
    """Base class of every error a step kind raises on purpose.

    A ``StepError`` that escapes a step's ``run`` fails the step; its message
    is shown to the person who reads the run report, so it says where and
    what went wrong.
    """


class ConfigError(StepError):
    """A step's config is not one its kind accepts.

    Args:
        message: What is wrong, for a person.
        step: The key of the step, when known.
        field: The config key at fault, when known.
    """

    def __init__(
        self, message: str, *, step: str | None = None, field: str | None = None
    ):
        self.step = step
        self.field = field
        super().__init__(message)

    def for_step(self, step: str) -> "ConfigError":
        """Return a copy of this error whose message names ``step``."""
        message = _("Step %(step)r: %(message)s") % {"step": step, "message": self}
        return ConfigError(message, step=step, field=self.field)


class UnknownKindError(ConfigError):
    """No step kind is registered under the given name."""


class SourceError(StepError):
    """A step's input cannot be opened or read."""


class RowRejected(StepError):
    """One row cannot be accepted; the step records it and goes on.

    Args:
        message: Why the row was rejected.
        column: The source column (name or 1-based number) at fault, if any.
        value: The value that was refused, if any.
        code: A stable, machine-readable error code such as ``"invalid"``.
    """

    def __init__(self, message: str, *, column=None, value=None, code: str = "invalid"):
        self.column = column
        self.value = value
        self.code = code
        super().__init__(message)


class TransientError(StepError):
    """A failure worth trying again: a server that did not answer, a lock.

    Steps are retried on this error (and on connection errors, timeouts and
    database availability errors) by default; see the retry policy.
    """


class Cancelled(StepError):
    """The run was cancelled, or ran past its deadline, while the step worked."""


class StepTimeout(StepError):
    """The step ran longer than its timeout."""
