"""In Chromium: a report page on a phone draws its chart, shows the table without widening the
page, filters by keyboard, and passes axe-core; no script error or CSP violation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import PHONE, Browsing

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

AXE_RUN = """() => axe.run(document, {resultTypes: ['violations']}).then(r => r.violations
  .filter(v => v.impact === 'serious' || v.impact === 'critical')
  .map(v => v.id + ': ' + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(' | ')))"""


def test_report_on_a_phone_by_keyboard(
    world: Any, history: Any, browse: Any, artifacts: Path
) -> None:
    b: Browsing = browse(viewport=PHONE)
    page = b.login(world.admin.user.username)
    b.goto("/reports/")
    page.locator('a[href="/reports/activity-counts/"]').focus()
    page.keyboard.press("Enter")
    page.wait_for_url(b.base + "/reports/activity-counts/")
    expect(page.locator("#report-chart canvas")).to_be_visible()
    rows = page.locator("#report-table tbody tr")
    expect(rows).to_have_count(2)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=str(artifacts / "phone-report-activity-counts.png"), full_page=True)
    # Choose "Call" in the type filter and submit with the keyboard only.
    page.locator("#f-kind").focus()
    page.keyboard.press("ArrowDown")  # first kind after "All types"
    page.locator("#report-filters button[type=submit]").focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**kind=call**")
    expect(rows).to_have_count(1)
    expect(rows.first.locator("th")).to_have_text("sales")
    page.add_script_tag(url=b.base + "/static/vendor/axe.min.js")
    assert page.evaluate(AXE_RUN) == []
    b.goto("/reports/schedules/")
    page.add_script_tag(url=b.base + "/static/vendor/axe.min.js")
    assert page.evaluate(AXE_RUN) == []
