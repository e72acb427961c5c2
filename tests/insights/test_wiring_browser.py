"""In a real Chromium at phone width: the Customer 360 and segments charts draw (no script or
CSP error), nothing overflows 375 px, the pages pass axe-core, and the bulk follow-up works
from the keyboard."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from crm.activities.models import Task
from crm.insights.services import insights_recompute
from tests.e2e import conftest as e2e
from tests.e2e.conftest import PHONE, Browsing
from tests.insights.test_wiring_data import NOW, build_shop

# the browser fixtures of tests/e2e, used here by name
browse = e2e.browse
browser_context_args = e2e.browser_context_args
browser_type_launch_args = e2e.browser_type_launch_args

AXE_RUN = """() => axe.run(document, {resultTypes: ['violations']}).then(r => r.violations
  .filter(v => v.impact === 'serious' || v.impact === 'critical')
  .map(v => v.id + ': ' + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(' | ')))"""


def _overflow(page: Any) -> int:
    return int(page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth"))


def test_insight_pages_on_a_phone(world: Any, browse: Any) -> None:
    shop = build_shop(world.sales)
    assert insights_recompute(now=NOW).status == "succeeded"
    b: Browsing = browse(viewport=PHONE)
    page = b.login(world.manager.user.username)

    page = b.goto(f"/insights/customers/{shop.contacts['steady-1'].pk}/")
    expect(page.locator("#palive-chart canvas")).to_be_visible()
    assert _overflow(page) <= 0
    page.add_script_tag(url=b.base + "/static/vendor/axe.min.js")
    assert page.evaluate(AXE_RUN) == []

    page = b.goto("/insights/segments/")
    expect(page.locator("#segments-chart canvas")).to_be_visible()
    assert _overflow(page) <= 0

    page = b.goto("/insights/?stage=lost")
    assert _overflow(page) <= 0
    page.add_script_tag(url=b.base + "/static/vendor/axe.min.js")
    assert page.evaluate(AXE_RUN) == []
    first = page.locator(f"#pick-{shop.contacts['lapsed-1'].pk}")
    first.focus()
    page.keyboard.press("Space")
    expect(first).to_be_checked()
    page.locator("[data-action=followup]").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("followup-list")).to_contain_text("c-lapsed-1")
    page.locator("[data-action=confirm-followup]").focus()
    page.keyboard.press("Enter")
    page.wait_for_url(b.base + "/insights/")
    assert list(Task.objects.values_list("record_id", flat=True)) == [shop.contacts["lapsed-1"].pk]
