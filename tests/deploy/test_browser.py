"""The UI in a real browser: Debian's Chromium, driven by Playwright, logs in as a user does and
finds the Runtime's name on the page. The screenshot goes to build/reports/ for CI artifacts."""

from __future__ import annotations

import pytest

from .conftest import REPORTS, Deployed

pytestmark = pytest.mark.deploy


def test_ui_logs_in_and_shows_the_runtime(deployed: Deployed, browser) -> None:
    user, password = deployed.deployment.login()
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    try:
        page.goto(deployed.deployment.url + "/", wait_until="networkidle")
        page.fill("input[name=username]", user)
        page.fill("input[name=password]", password)
        page.keyboard.press("Enter")
        expected = f"Airflow Runtime {deployed.case.release.version}"
        page.wait_for_function("text => document.body && document.body.innerText.includes(text)", arg=expected,
                               timeout=60_000)
        page.wait_for_load_state("networkidle")
        REPORTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(REPORTS / f"ui-{deployed.case.id}.png"))
        body = page.inner_text("body")
        assert "/login" not in page.url, f"still on the login page: {body[:2000]}"
        assert expected in page.title() or expected in body
    finally:
        page.close()
