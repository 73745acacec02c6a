"""Row hooks that the import tests name in their configs by dotted path."""

import time

from steps.errors import RowRejected


def running_total(values, info):
    """Keep a running total of ``weight`` in ``running_total``.

    The total is kept in the step's state, so it would survive a batch
    boundary; a weight that falls from the previous row is refused.
    """
    previous = info.previous
    if previous is not None and (values["weight"] or 0) < (previous["weight"] or 0):
        raise RowRejected(
            f"weight {values['weight']} is below the previous row's.",
            column="weight",
            value=values["weight"],
            code="falling_weight",
        )
    total = info.state.get("total", 0) + (values["weight"] or 0)
    info.state["total"] = total
    info.state.setdefault("rows", []).append(info.number)
    values["running_total"] = total
    return values


def weight_from_params(values, info):
    """Set ``weight`` from the run parameter of the same name."""
    values["weight"] = info.params["weight"]
    return values


class Recorder:
    """Row handlers that record what they see, in ``Recorder.events``.

    A test clears ``events`` first; the handlers are plain functions, as
    the flows engine imports them by dotted path.
    """

    events: list = []


def record_before(ctx, number, values):
    """Record the row and refuse a label of ``"refuse"``; upper-case labels."""
    Recorder.events.append(("before", number, values["label"]))
    if values["label"] == "refuse":
        raise RowRejected("the label says refuse.", column="label", code="refused")
    return {**values, "label": values["label"].upper()}


def record_after(ctx, number, values, outcome):
    """Record each written row with its outcome."""
    Recorder.events.append(("after", number, values["label"], outcome))


def record_error(ctx, rejected):
    """Record each rejected row's number and code."""
    Recorder.events.append(("error", rejected.row, rejected.code))


def slow(values, info):
    """Take a few milliseconds over each row, so a test can act mid-step."""
    time.sleep(0.004)
    return values


def first_category(values, info):
    """Link each subcategory to the first category, as an instance."""
    from shop.models import Category

    values["category"] = Category.objects.order_by("pk").first()
    return values
