"""Errors raised by flows and runs."""


class FlowError(Exception):
    """Base class of the errors the ``flows`` app raises on purpose."""


class GraphError(FlowError):
    """A flow's steps do not form a valid DAG, or a step is misconfigured.

    Args:
        message: What is wrong; it names the step.
        step: The key of the step at fault.
    """

    def __init__(self, message: str, *, step: str | None = None):
        self.step = step
        super().__init__(message)


class RunError(FlowError):
    """A run cannot be started or changed as asked."""
