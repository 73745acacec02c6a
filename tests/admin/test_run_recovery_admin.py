"""Recovering a run from the admin, in a real browser, on a real worker."""

import pytest

from flows.models import RunStatus, StepStatus
from flows.scheduler import start_run
from tests.conftest import wait_for_run
from tests.flows.helpers import flow, step, step_runs

pytestmark = pytest.mark.worker


@pytest.fixture
def admin_page(admin_page, worker):
    """The admin page of tests/admin/conftest.py, with a worker running."""
    return admin_page


def test_a_failed_run_is_resumed_from_its_admin_page(admin_page, tmp_path):
    # Given a run that failed in its second step
    failing = flow(
        "admin-resume",
        step("first"),
        step(
            "second",
            "flaky",
            depends_on=["first"],
            failures=1,
            counter="admin",
            policy={"max_attempts": 1},
        ),
    )
    run = wait_for_run(start_run(failing))
    assert run.status == RunStatus.FAILED

    # When a person opens it, asks to resume, reads the plan and confirms
    page = admin_page
    page.goto(f"{page.live_server_url}/admin/flows/flowrun/{run.pk}/change/")
    page.click("ul.object-tools a:has-text('Resume')")
    page.wait_for_url("**/recover/resume/")
    assert "Run again: second." in page.inner_text("#content-main")
    page.screenshot(path=str(tmp_path / "resume-plan.png"), full_page=True)
    page.click("input[name=confirm]")
    page.wait_for_url(f"**/flowrun/{run.pk}/change/")

    # Then the run goes back to the workers and succeeds, the first step untouched
    assert "Done: Run again: second." in page.inner_text(".messagelist")
    run = wait_for_run(run)
    assert run.status == RunStatus.SUCCEEDED
    assert step_runs(run)["first"].attempts == 1
    assert step_runs(run)["second"].status == StepStatus.SUCCEEDED
    assert run.history[0]["by"] == "admin"


def test_a_run_is_rerun_from_a_step_with_new_parameters_from_the_admin(
    admin_page, tmp_path
):
    chain = flow("admin-rerun", step("extract"), step("load", depends_on=["extract"]))
    run = wait_for_run(start_run(chain, params={"day": 1}))

    page = admin_page
    page.goto(f"{page.live_server_url}/admin/flows/flowrun/{run.pk}/change/")
    page.screenshot(path=str(tmp_path / "run-page.png"), full_page=True)
    # The recovery controls come before the page's Close and Delete buttons
    recover = page.locator("#recover").bounding_box()
    buttons = page.locator(".submit-row").bounding_box()
    assert recover["y"] + recover["height"] <= buttons["y"]
    page.select_option("#rerun-step", "load")
    page.click("#recover input[type=submit][form=recover-rerun]")
    page.wait_for_url(lambda url: "/recover/rerun/" in url)
    page.fill("#id_params", '{"day": 2}')
    page.click("input[name=confirm]")
    page.wait_for_url(f"**/flowrun/{run.pk}/change/")

    run = wait_for_run(run)
    assert run.status == RunStatus.SUCCEEDED
    assert step_runs(run)["load"].output["saw_params"] == {"day": 2}
    assert step_runs(run)["extract"].attempts == 1
    assert run.history[0]["params"] == {"before": {"day": 1}, "after": {"day": 2}}


def test_a_chunked_step_run_lists_its_chunks_and_their_rows(admin_page, tmp_path):
    chunked = flow("admin-chunks", step("load", "chunked", rows=25, chunk_size=10))
    run = wait_for_run(start_run(chunked))
    load = step_runs(run)["load"]

    page = admin_page
    page.goto(f"{page.live_server_url}/admin/flows/steprun/{load.pk}/change/")

    chunks = page.locator("fieldset.module", has_text="Step chunks")
    rows = [
        [cell.strip() for cell in row.locator("td[class^=field-]").all_inner_texts()]
        for row in chunks.locator("tr.has_original").all()
    ]
    page.screenshot(path=str(tmp_path / "chunks.png"), full_page=True)
    assert [row[:4] for row in rows] == [
        ["0", "rows 1 to 10", "Succeeded", "1"],
        ["1", "rows 11 to 20", "Succeeded", "1"],
        ["2", "rows 21 to 25", "Succeeded", "1"],
    ]
