"""Recovering a run from the admin, in a real browser, on a real worker."""

import os

import pytest
from django.contrib.auth.models import User
from django.db import connections
from playwright.sync_api import sync_playwright

from flows.models import RunStatus, StepStatus
from flows.scheduler import start_run
from tests.conftest import wait_for_run
from tests.flows.helpers import flow, step, step_runs

pytestmark = pytest.mark.worker
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
]


@pytest.fixture
def admin_page(live_server, worker, chromium):
    """A browser page logged in to the admin as a superuser."""
    # Playwright's sync API runs an event loop; Django refuses database
    # calls from a thread with one unless told this is fine.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    User.objects.create_superuser("admin", "admin@example.com", "secret")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=ARGS)
        page = browser.new_page(viewport={"width": 1300, "height": 1000})
        page.goto(f"{live_server.url}/admin/login/")
        page.fill("#id_username", "admin")
        page.fill("#id_password", "secret")
        page.click("input[type=submit]")
        page.wait_for_url("**/admin/")
        page.live_server_url = live_server.url
        yield page
        browser.close()
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE")
    # Queries made from Playwright's event loop opened their own database
    # connection; left open, it keeps the test database from being dropped.
    connections.close_all()


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


def test_a_run_is_rerun_from_a_step_with_new_parameters_from_the_admin(admin_page):
    chain = flow("admin-rerun", step("extract"), step("load", depends_on=["extract"]))
    run = wait_for_run(start_run(chain, params={"day": 1}))

    page = admin_page
    page.goto(f"{page.live_server_url}/admin/flows/flowrun/{run.pk}/change/")
    page.select_option("#rerun-step", "load")
    page.click("form:has(#rerun-step) input[type=submit]")
    page.wait_for_url(lambda url: "/recover/rerun/" in url)
    page.fill("#id_params", '{"day": 2}')
    page.click("input[name=confirm]")
    page.wait_for_url(f"**/flowrun/{run.pk}/change/")

    run = wait_for_run(run)
    assert run.status == RunStatus.SUCCEEDED
    assert step_runs(run)["load"].output["saw_params"] == {"day": 2}
    assert step_runs(run)["extract"].attempts == 1
    assert run.history[0]["params"] == {"before": {"day": 1}, "after": {"day": 2}}
