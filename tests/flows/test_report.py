"""The plain-text run report of ``syncflow run --wait`` and ``syncflow report``."""

from flows.control import fail_run, finish_run
from flows.models import FlowRun, StepStatus
from flows.report import run_report
from flows.scheduler import start_run
from tests.flows.helpers import flow, step


def test_a_run_that_failed_outside_its_steps_says_why_under_its_headline(db):
    # Given a run whose canvas broke before any step started
    broken = flow("broken", step("first"), step("second", depends_on=["first"]))
    run = start_run(broken)
    fail_run(run.pk, "ChordError: OperationalError('database is locked')")

    # When its report is printed
    lines = run_report(FlowRun.objects.get(pk=run.pk)).splitlines()

    # Then the reason follows the headline, and each step says it never ran
    assert lines[0].startswith(f"Run {run.pk} of flow 'broken': failed in ")
    assert lines[1] == "  ChordError: OperationalError('database is locked')"
    assert "  first: Never started." in lines


def test_a_failed_steps_error_is_said_once_at_its_step(db):
    # Given a run whose one step failed with its own error
    failing = flow("failing", step("only"))
    run = start_run(failing)
    run.step_runs.update(status=StepStatus.FAILED, error="KeyError: 'sku'")
    finish_run(run.pk)

    # When its report is printed, the error appears only under the step
    report = run_report(FlowRun.objects.get(pk=run.pk))
    assert report.count("KeyError: 'sku'") == 1
    assert "  only: KeyError: 'sku'" in report.splitlines()


def test_a_dry_run_step_is_said_to_have_kept_nothing(db):
    # Given a run whose import step ran dry and one that ran for real
    tried = flow("tried", step("products"), step("photos"))
    run = start_run(tried)
    run.step_runs.update(status=StepStatus.SUCCEEDED)
    run.step_runs.filter(key="products").update(output={"dry_run": True}, created=3)
    finish_run(run.pk)

    # When its report is printed, the dry step is named as such, only it
    lines = run_report(FlowRun.objects.get(pk=run.pk)).splitlines()
    dry = [line for line in lines if "dry run" in line]
    assert dry == [
        "  products: dry run: its counts are what it would have written; "
        "nothing was kept"
    ]


def test_failed_rows_the_step_could_not_file_are_said_so(db):
    # Given a run whose import could file its refused rows nowhere
    tried = flow("unfiled", step("tags"))
    run = start_run(tried)
    output = {
        "failed_rows": {
            "storage": "default",
            "path": None,
            "rows": 2,
            "error": "The csv file 'x.csv' cannot hold them",
        }
    }
    run.step_runs.update(status=StepStatus.SUCCEEDED, output=output, failed=2)
    finish_run(run.pk)

    # When its report is printed, it says why
    lines = run_report(FlowRun.objects.get(pk=run.pk)).splitlines()
    assert (
        "  tags: the failed rows could not be filed: "
        "The csv file 'x.csv' cannot hold them"
    ) in lines
