"""Runs on a real Celery worker: order, parallel branches, failure."""

import pytest

from flows.loader import load_flow
from flows.models import RowError, RunStatus, StepStatus
from flows.scheduler import start_run
from shop.models import Category, Subcategory
from tests.conftest import wait_for_run
from tests.flows.helpers import flow, step, step_runs

pytestmark = pytest.mark.worker


def test_a_step_after_the_fast_branch_finishes_before_the_slow_branch(worker):
    # Given a slow and a fast branch after a common start, a step that needs
    # only the fast branch, and a step that needs both
    slow_flow = flow(
        "branches",
        step("start"),
        step("slow", depends_on=["start"], seconds=3),
        step("fast", depends_on=["start"]),
        step("after_fast", depends_on=["fast"]),
        step("end", depends_on=["slow", "after_fast"]),
    )

    # When it runs
    run = wait_for_run(start_run(slow_flow))

    # Then the step behind the fast branch was done long before the slow
    # branch, and the join came after both
    steps = step_runs(run)
    assert run.status == RunStatus.SUCCEEDED
    assert steps["after_fast"].finished_at < steps["slow"].finished_at
    assert (
        steps["slow"].finished_at - steps["after_fast"].finished_at
    ).total_seconds() > 2
    assert steps["end"].started_at >= steps["slow"].finished_at
    assert steps["end"].started_at >= steps["after_fast"].finished_at


def test_parallel_branches_run_at_the_same_time(worker):
    # Given two independent steps that each take a second and a half
    both = flow("parallel", step("left", seconds=1.5), step("right", seconds=1.5))

    run = wait_for_run(start_run(both))

    # Then their running times overlap
    steps = step_runs(run)
    assert steps["left"].started_at < steps["right"].finished_at
    assert steps["right"].started_at < steps["left"].finished_at


def test_a_graph_that_is_not_series_parallel_waits_only_for_real_upstreams(worker):
    # Given c needing a (slow) and b, and d needing only b
    n_shape = flow(
        "n-shape",
        step("a", seconds=2),
        step("b"),
        step("c", depends_on=["a", "b"]),
        step("d", depends_on=["b"]),
    )

    run = wait_for_run(start_run(n_shape))

    steps = step_runs(run)
    assert run.status == RunStatus.SUCCEEDED
    assert steps["d"].finished_at < steps["a"].finished_at
    assert steps["c"].started_at >= steps["a"].finished_at
    assert steps["c"].started_at >= steps["b"].finished_at


def test_a_step_sees_run_parameters_and_every_upstream_output(worker):
    chained = flow(
        "context",
        step("first", output={"rows": 3}),
        step("second", depends_on=["first"], output={"total": 7}),
        step("third", depends_on=["second"]),
    )

    run = wait_for_run(start_run(chained, params={"day": "2026-12-03"}))

    third = step_runs(run)["third"].output
    assert third["saw_upstream"] == ["first", "second"]
    assert third["saw_params"] == {"day": "2026-12-03"}
    assert run.context()["outputs"]["first"]["output"] == {"rows": 3}


def test_a_failed_step_fails_the_run_and_skips_what_depends_on_it(worker):
    # Given a failing step with one dependent, beside an independent branch
    failing = flow(
        "failing",
        step("boom", kind="fail", message="The supplier's file is empty."),
        step("after_boom", depends_on=["boom"]),
        step("elsewhere", seconds=0.2),
    )

    run = wait_for_run(start_run(failing))

    steps = step_runs(run)
    assert run.status == RunStatus.FAILED
    assert steps["boom"].status == StepStatus.FAILED
    assert steps["boom"].error == "The supplier's file is empty."
    assert steps["after_boom"].status == StepStatus.SKIPPED
    assert "boom failed" in steps["after_boom"].error
    assert steps["elsewhere"].status == StepStatus.SUCCEEDED
    assert "boom: The supplier's file is empty." in run.error


def test_a_broken_input_file_fails_its_step_naming_file_and_row_and_keeps_earlier_work(
    worker, nightly_definition
):
    # Given the real categories import, then a subcategories file with a
    # byte on row 5 that is not UTF-8, then a step depending on it
    categories = nightly_definition["steps"][0]
    subcategories = dict(nightly_definition["steps"][1])
    subcategories["config"] = dict(
        subcategories["config"],
        source={"storage": "testdata", "path": "steps/subcategories_broken.tsv"},
        read={"header": False, "delimiter": "\t", "encoding": "utf-8"},
    )
    broken = load_flow(
        {
            "slug": "broken",
            "steps": [
                categories,
                subcategories,
                step("later", depends_on=["subcategories"]),
            ],
        }
    )

    # When it runs
    run = wait_for_run(start_run(broken))

    # Then the step fails naming the file and the row, the run ends failed,
    # and the categories imported before are still there, as are the four
    # subcategories read before the broken row
    steps = step_runs(run)
    assert run.status == RunStatus.FAILED
    assert run.finished_at is not None
    assert steps["subcategories"].status == StepStatus.FAILED
    assert "subcategories_broken.tsv" in steps["subcategories"].error
    assert "row 5" in steps["subcategories"].error
    assert steps["later"].status == StepStatus.SKIPPED
    assert steps["categories"].status == StepStatus.SUCCEEDED
    assert Category.objects.count() == 4
    assert (
        "The 4 rows before it were imported: 4 created" in steps["subcategories"].error
    )
    assert Subcategory.objects.count() == 4
    assert not RowError.objects.exists()
