"""The action context a step sees: rejected rows, counts, progress, JSON."""

import datetime

import pytest

from steps.context import RejectedRow, StepContext, check_serialisable


def test_reject_counts_a_failure_and_collects_the_row_with_values_as_text():
    # Given a fresh context
    ctx = StepContext(run_id=7, step_key="products")

    # When two rows are refused, one with a number as the value
    ctx.reject(4, "bad price", column=10, value=12.5, code="invalid")
    ctx.reject(
        None, "not an image", value="http://x/1.gif", code="not_an_image", object_pk=31
    )

    # Then both are counted as failed and kept, values and keys as text
    assert ctx.counts["failed"] == 2
    assert ctx.rejected == [
        RejectedRow(4, "bad price", 10, "12.5", "invalid", None),
        RejectedRow(None, "not an image", None, "http://x/1.gif", "not_an_image", "31"),
    ]


def test_reject_hands_rows_to_the_callback_instead_of_keeping_them():
    # Given a context whose scheduler takes rejected rows as they happen
    received = []
    ctx = StepContext(on_rejected=received.append)

    # When a row is refused without a value
    ctx.reject(3, "no such category", code="does_not_exist")

    # Then the callback got it, the context did not keep it, and it counts
    assert received == [RejectedRow(3, "no such category", code="does_not_exist")]
    assert received[0].value is None
    assert ctx.rejected == []
    assert ctx.counts["failed"] == 1


def test_count_dict_names_every_counter_in_order():
    # Given a context that counted some creations only
    ctx = StepContext()
    ctx.counts["created"] += 3

    # When its counts are read as a dict
    counts = ctx.count_dict()

    # Then every known counter is there, the others at zero
    assert list(counts.items()) == [
        ("created", 3),
        ("updated", 0),
        ("unchanged", 0),
        ("failed", 0),
    ]


def test_progress_reaches_the_callback_and_is_optional():
    # Given one context with a progress callback and one without
    seen = []
    watched = StepContext(on_progress=lambda done, total: seen.append((done, total)))

    # When both report progress
    watched.progress(10, 40)
    watched.progress(20)
    StepContext().progress(5, 5)

    # Then the callback saw both reports, total None when unknown
    assert seen == [(10, 40), (20, None)]


def test_check_serialisable_accepts_plain_json():
    # Given plain JSON values
    value = {"total": 10, "rows": [1, 2.5, None, True], "name": "ok"}

    # When they are checked
    # Then nothing is raised
    check_serialisable(value, what="the state of step 'products'")


@pytest.mark.parametrize(
    "value",
    [
        {"when": datetime.datetime(2024, 1, 1)},
        {"ratio": float("nan")},
        {"tags": {"a", "b"}},
    ],
    ids=["a datetime", "NaN", "a set"],
)
def test_check_serialisable_names_what_is_not_plain_json(value):
    # Given a value JSON cannot hold
    # When it is checked
    with pytest.raises(TypeError) as caught:
        check_serialisable(value, what="the state of step 'products'")

    # Then the error names what was checked
    assert str(caught.value).startswith(
        "the state of step 'products' must be JSON-serialisable: "
    )
