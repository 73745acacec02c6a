"""Retries, trigger rules, conditions and recovery actions on a real worker."""

import io
import re

import pytest
from django.core.management import call_command

from flows.errors import RunError
from flows.models import FlowRun, RunStatus, StepStatus
from flows.recovery import apply_plan, plan_rerun, plan_resume, plan_skip
from flows.report import run_report
from flows.scheduler import start_run
from tests.conftest import wait_for_run
from tests.flows.helpers import flow, step, step_runs
from tests.testapp.models import Counter

pytestmark = pytest.mark.worker
QUICK_RETRIES = {"retry_delay": 0.3, "retry_delay_max": 1, "retry_jitter": False}


def test_a_step_failing_twice_with_a_transient_error_succeeds_on_the_third_try(worker):
    # Given a step that fails twice with a transient error, then works
    flaky = flow(
        "flaky",
        step(
            "fetch",
            "flaky",
            failures=2,
            counter="fetch",
            transient=True,
            policy={"max_attempts": 3, **QUICK_RETRIES},
        ),
    )

    # When it runs
    run = wait_for_run(start_run(flaky))

    # Then it succeeded on the third attempt, after two recorded retries
    fetch = step_runs(run)["fetch"]
    assert run.status == RunStatus.SUCCEEDED
    assert fetch.status == StepStatus.SUCCEEDED
    assert fetch.attempts == 3
    attempts = list(fetch.attempt_log.all())
    assert [a.status for a in attempts] == ["failed", "failed", "succeeded"]
    assert attempts[0].error == "Failure 1 of 2."
    assert attempts[0].waited == 0
    # The waits double: about 0.3 s, then 0.6 s (measured, so at least that).
    assert 0.3 <= attempts[1].waited < 3
    assert 0.6 <= attempts[2].waited < 3
    assert Counter.objects.get(name="fetch").value == 3


def test_an_error_that_is_not_transient_fails_the_step_at_once(worker):
    broken = flow(
        "broken",
        step("parse", "flaky", failures=5, counter="parse", policy=QUICK_RETRIES),
    )

    run = wait_for_run(start_run(broken))

    parse = step_runs(run)["parse"]
    assert run.status == RunStatus.FAILED
    assert parse.attempts == 1
    assert parse.error == "Failure 1 of 5."


def test_a_step_that_never_stops_failing_uses_its_attempts_and_fails(worker):
    hopeless = flow(
        "hopeless",
        step(
            "fetch",
            "flaky",
            failures=9,
            counter="hopeless",
            transient=True,
            policy={"max_attempts": 2, **QUICK_RETRIES},
        ),
    )

    run = wait_for_run(start_run(hopeless))

    assert step_runs(run)["fetch"].attempts == 2
    assert Counter.objects.get(name="hopeless").value == 2
    assert run.status == RunStatus.FAILED


def test_trigger_rules_run_cleanup_and_alert_steps_after_a_failure(worker):
    # Given a failing load, a cleanup that runs whatever happens, an alert
    # that runs only on failure, and a report that needs success
    rules = flow(
        "rules",
        step("load", "fail", message="No file today."),
        step("cleanup", depends_on=["load"], policy={"trigger_rule": "all_done"}),
        step("alert", depends_on=["load"], policy={"trigger_rule": "one_failed"}),
        step("report", depends_on=["load"]),
        step(
            "after_report",
            depends_on=["report"],
            policy={"trigger_rule": "none_failed"},
        ),
    )

    run = wait_for_run(start_run(rules))

    steps = step_runs(run)
    assert steps["cleanup"].status == StepStatus.SUCCEEDED
    assert steps["alert"].status == StepStatus.SUCCEEDED
    assert steps["report"].status == StepStatus.SKIPPED
    # A skipped upstream is no failure for none_failed.
    assert steps["after_report"].status == StepStatus.SUCCEEDED
    assert run.status == RunStatus.FAILED


def test_a_false_condition_skips_a_step_without_failing_the_run(worker):
    conditional = flow(
        "conditional",
        step("count", output={"rows": 0}),
        step(
            "publish",
            depends_on=["count"],
            policy={
                "condition": {
                    "path": "outputs.count.output.rows",
                    "op": "gt",
                    "value": 0,
                }
            },
        ),
        step(
            "full",
            depends_on=["count"],
            policy={"condition": {"path": "params.full", "op": "eq", "value": True}},
        ),
    )

    run = wait_for_run(start_run(conditional, params={"full": True}))

    steps = step_runs(run)
    assert steps["publish"].status == StepStatus.SKIPPED
    assert "condition is false" in steps["publish"].error
    assert steps["full"].status == StepStatus.SUCCEEDED
    assert run.status == RunStatus.SUCCEEDED


def test_resume_reruns_only_what_did_not_succeed(worker):
    # Given a run whose second step failed once, with no retries allowed
    resumable = flow(
        "resumable",
        step("first"),
        step(
            "second",
            "flaky",
            depends_on=["first"],
            failures=1,
            counter="second",
            policy={"max_attempts": 1},
        ),
        step("third", depends_on=["second"]),
        step("beside"),
    )
    run = wait_for_run(start_run(resumable))
    assert run.status == RunStatus.FAILED
    before = step_runs(run)

    # When it is resumed: the plan names exactly the steps to run again
    plan = plan_resume(run)
    assert plan.reset == ["second", "third"]
    run = wait_for_run(apply_plan(plan, by="test"))

    # Then the run succeeded without running the succeeded steps again
    after = step_runs(run)
    assert run.status == RunStatus.SUCCEEDED
    for key in ("first", "beside"):
        assert after[key].attempts == 1
        assert after[key].finished_at == before[key].finished_at
    assert after["second"].attempts == 2
    assert after["third"].output["saw_upstream"] == ["first", "second"]
    assert run.history[0]["action"] == "resume"
    assert run.history[0]["reset"] == ["second", "third"]
    # And its report times the resumed part, beside the whole
    headline = run_report(run).splitlines()[0]
    assert re.fullmatch(
        rf"Run {run.pk} of flow 'resumable': succeeded in \d+\.\d s after its "
        r"resume \(\d+\.\d s since it first started\)",
        headline,
    ), headline


def test_rerun_from_a_step_runs_it_and_its_downstream_with_new_parameters(worker):
    rerunnable = flow(
        "rerunnable",
        step("extract"),
        step("transform", depends_on=["extract"]),
        step("load", depends_on=["transform"]),
    )
    run = wait_for_run(start_run(rerunnable, params={"day": "2026-12-01"}))
    extract_finished = step_runs(run)["extract"].finished_at

    plan = plan_rerun(run, "transform", params={"day": "2026-12-02"})
    assert plan.reset == ["transform", "load"]
    run = wait_for_run(apply_plan(plan))

    steps = step_runs(run)
    assert run.status == RunStatus.SUCCEEDED
    assert steps["extract"].finished_at == extract_finished
    assert steps["load"].output["saw_params"] == {"day": "2026-12-02"}
    assert run.history[0]["params"] == {
        "before": {"day": "2026-12-01"},
        "after": {"day": "2026-12-02"},
    }


def test_skip_and_continue_marks_the_step_skipped_and_goes_on_per_trigger_rules(worker):
    skippable = flow(
        "skippable",
        step("optional", "fail", message="The supplier is down."),
        step(
            "tolerant", depends_on=["optional"], policy={"trigger_rule": "none_failed"}
        ),
        step("strict", depends_on=["optional"]),
    )
    run = wait_for_run(start_run(skippable))
    assert run.status == RunStatus.FAILED

    plan = plan_skip(run, "optional")
    assert (plan.skip, plan.reset) == ("optional", ["strict", "tolerant"])
    run = wait_for_run(apply_plan(plan))

    steps = step_runs(run)
    assert steps["optional"].status == StepStatus.SKIPPED
    assert steps["tolerant"].status == StepStatus.SUCCEEDED
    assert steps["strict"].status == StepStatus.SKIPPED
    assert run.status == RunStatus.SUCCEEDED


def test_a_recovery_plan_is_refused_while_the_run_is_going(worker):
    slow = flow("slow", step("wait", seconds=2))
    run = start_run(slow)

    with pytest.raises(RunError, match="cancel it or wait"):
        plan_resume(run)
    wait_for_run(run)


def test_a_stale_plan_is_refused_once_the_run_has_moved_on(worker):
    # Given a failed run, and a plan to skip its failed step
    changing = flow(
        "changing",
        step("a", "flaky", failures=1, counter="changing", policy={"max_attempts": 1}),
        step("b", depends_on=["a"]),
    )
    run = wait_for_run(start_run(changing))
    stale = plan_skip(run, "a")

    # When someone else resumes the run first, and it succeeds
    run = wait_for_run(apply_plan(plan_resume(run)))
    assert run.status == RunStatus.SUCCEEDED

    # Then the old plan is refused rather than applied to a run it no longer fits
    with pytest.raises(RunError, match="only a failed step can be skipped"):
        apply_plan(stale)
    assert step_runs(run)["a"].status == StepStatus.SUCCEEDED


def test_resuming_a_run_that_succeeded_does_nothing_and_says_so(worker):
    # Given a run that succeeded
    done = flow("all-done", step("only"))
    run = wait_for_run(start_run(done))

    # When it is resumed from the command line, even with --yes
    out = io.StringIO()
    call_command("syncflow", "resume", str(run.pk), "--yes", stdout=out)

    # Then nothing is queued: the command says there is nothing to do, and
    # applying the plan by code is refused
    assert out.getvalue().splitlines() == [
        f"Run {run.pk}, resume: No step needs to run again.",
        "Nothing to do.",
    ]
    with pytest.raises(RunError, match="Nothing to do"):
        apply_plan(plan_resume(run))
    run.refresh_from_db()
    assert (run.status, run.history) == (RunStatus.SUCCEEDED, [])


def test_resume_settles_a_run_cancelled_after_all_its_steps_succeeded(worker):
    # Given a run whose only step succeeded, cancelled before it was
    # finished (as a cancel or a deadline can land at that moment)
    done = flow("cancelled-late", step("only"))
    run = wait_for_run(start_run(done))
    FlowRun.objects.filter(pk=run.pk).update(status=RunStatus.CANCELLED)
    run.refresh_from_db()

    # When it is resumed
    plan = plan_resume(run)
    assert (plan.reset, plan.empty) == ([], False)
    run = wait_for_run(apply_plan(plan))

    # Then it is finished again from its step, which did not run again
    assert run.status == RunStatus.SUCCEEDED
    assert step_runs(run)["only"].attempts == 1
