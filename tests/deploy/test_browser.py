"""The UI in a real browser: Debian's Chromium, driven by Playwright, logs in as a user does and
finds the Runtime's name on the page. The screenshot goes to build/reports/ for CI artifacts."""

from __future__ import annotations

import pytest

from .conftest import Deployed, logged_in

pytestmark = pytest.mark.deploy


def test_ui_logs_in_and_shows_the_runtime(deployed: Deployed, browser) -> None:
    user, password = deployed.deployment.login()
    expected = f"Airflow Runtime {deployed.case.release.version}"
    with logged_in(browser, deployed.deployment.url, user, password, expected, f"ui-{deployed.case.id}") as page:
        body = page.inner_text("body")
        assert "/login" not in page.url, f"still on the login page: {body[:2000]}"
        assert expected in page.title() or expected in body
