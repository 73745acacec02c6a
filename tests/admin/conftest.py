"""A real browser for the admin tests: Debian's Chromium driven by Playwright."""

import os

import pytest
from django.contrib.auth.models import User
from django.db import connections
from playwright.sync_api import sync_playwright

ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
]


@pytest.fixture
def admin_page(live_server, transactional_db, chromium):
    """A Chromium page logged in to the admin as a superuser.

    ``page.live_server_url`` is the address of the test server.
    """
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
