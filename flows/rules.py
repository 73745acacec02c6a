"""Pure rules: trigger rules, conditions, retry delays, a run's final status.

Nothing here touches the database or Celery, so every rule is tested on
its own and the property-based tests can drive it through many runs.
"""

import operator
import random

from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

SUCCEEDED, FAILED, SKIPPED, CANCELLED = "succeeded", "failed", "skipped", "cancelled"

TRIGGER_RULES = {
    "all_succeeded": lambda s: all(x == SUCCEEDED for x in s),
    "all_done": lambda s: True,
    "one_succeeded": lambda s: any(x == SUCCEEDED for x in s),
    "one_failed": lambda s: any(x == FAILED for x in s),
    "none_failed": lambda s: not any(x in (FAILED, CANCELLED) for x in s),
}


def rule_allows(rule: str, upstream: list[str]) -> bool:
    """Whether a step with trigger ``rule`` runs after ``upstream`` ended so.

    A step without upstream steps always runs.

    Args:
        rule: A key of :data:`TRIGGER_RULES`.
        upstream: The final statuses of the step's direct upstream steps.
    """
    return not upstream or TRIGGER_RULES[rule](upstream)


COMPARISONS = {
    "eq": operator.eq,
    "ne": operator.ne,
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
    "in": lambda a, b: a in b,
    "not_in": lambda a, b: a not in b,
    "exists": lambda a, b: (a is not _MISSING) == bool(b),
    "truthy": lambda a, b: bool(a) == bool(b) if a is not _MISSING else not b,
}
_MISSING = object()


def check_condition_shape(condition) -> None:
    """Raise ``ValueError`` unless ``condition`` is a valid condition.

    A condition is ``{}`` (always true), one comparison
    ``{"path": "params.full", "op": "eq", "value": true}``, or
    ``{"all": [...]}`` / ``{"any": [...]}`` of conditions.
    """
    if not isinstance(condition, dict):
        raise ValueError(_("a condition must be a JSON object."))
    if not condition:
        return
    if set(condition) in ({"all"}, {"any"}):
        parts = next(iter(condition.values()))
        if not isinstance(parts, list):
            raise ValueError(_("'all' and 'any' take a list of conditions."))
        for part in parts:
            check_condition_shape(part)
        return
    if not set(condition) <= {"path", "op", "value"} or "path" not in condition:
        raise ValueError(_("a comparison needs 'path', 'op' and 'value'."))
    if condition.get("op", "eq") not in COMPARISONS:
        raise ValueError(
            _("unknown comparison %(op)r; use one of %(known)s.")
            % {"op": condition["op"], "known": ", ".join(COMPARISONS)}
        )
    root = str(condition["path"]).split(".")[0]
    if root not in ("params", "outputs", "shared"):
        raise ValueError(_("a path starts with params., outputs. or shared."))


def condition_holds(condition: dict, context: dict) -> bool:
    """Evaluate ``condition`` against ``context`` (``params``, ``outputs``,
    ``shared``). A comparison whose path is missing is false, except for
    ``exists`` and ``truthy``, which test for it."""
    if not condition:
        return True
    if "all" in condition:
        return all(condition_holds(part, context) for part in condition["all"])
    if "any" in condition:
        return any(condition_holds(part, context) for part in condition["any"])
    value = _resolve(context, condition["path"])
    op = condition.get("op", "eq")
    if value is _MISSING and op not in ("exists", "truthy"):
        return False
    try:
        return bool(COMPARISONS[op](value, condition.get("value")))
    except TypeError:
        return False


def _resolve(context: dict, path: str):
    value = context
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    return value


#: Exceptions retried when a step names none of its own.
TRANSIENT_ERRORS = (
    "steps.errors.TransientError",
    "builtins.ConnectionError",
    "builtins.TimeoutError",
    "requests.ConnectionError",
    "requests.Timeout",
    "django.db.OperationalError",
    "django.db.InterfaceError",
)


def is_retryable(exc: BaseException, retry_on: list[str]) -> bool:
    """Whether ``exc`` is one of the exceptions the policy retries."""
    names = retry_on or TRANSIENT_ERRORS
    return isinstance(exc, tuple(_exception_class(name) for name in names))


def _exception_class(name: str) -> type[BaseException]:
    if name.startswith("builtins."):
        import builtins

        return getattr(builtins, name.removeprefix("builtins."))
    return import_string(name)


def check_retry_on(names) -> None:
    """Raise ``ValueError`` unless every name is an importable exception."""
    if not isinstance(names, list):
        raise ValueError(_("'retry_on' must be a list of dotted paths."))
    for name in names:
        try:
            found = _exception_class(str(name))
        except (ImportError, AttributeError):
            raise ValueError(
                _("%(name)r cannot be imported.") % {"name": name}
            ) from None
        if not (isinstance(found, type) and issubclass(found, BaseException)):
            raise ValueError(_("%(name)r is not an exception.") % {"name": name})


def retry_delay(
    attempt: int, first: float, longest: float, jitter: bool, rng=random
) -> float:
    """Seconds to wait before try ``attempt + 1``, after ``attempt`` failed.

    The delay doubles from ``first`` with each failed try, up to
    ``longest``. With ``jitter`` it is drawn at random between half the
    delay and the whole, so that steps failing together do not retry in
    step.
    """
    delay = min(longest, first * 2 ** max(attempt - 1, 0))
    if jitter:
        delay = delay / 2 + rng.uniform(0, delay / 2)
    return delay


def run_status(step_statuses: list[str]) -> str:
    """Return the final status of a run whose steps ended so.

    A run fails when one of its steps failed, is cancelled when one was
    cancelled (and none failed), and succeeds otherwise: skipped steps
    (a condition was false, or a trigger rule said no) do not fail a run.
    """
    if FAILED in step_statuses:
        return FAILED
    if CANCELLED in step_statuses:
        return CANCELLED
    return SUCCEEDED
