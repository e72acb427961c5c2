"""The forecast pages in Chromium: charts drawn, the what-if panel answers as a slider moves
(and saves nothing), the pages fit a 375 px phone, no CSP violation, axe finds nothing serious."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from playwright.sync_api import expect

from crm.sales.models import Opportunity, StageChange
from tests.e2e.conftest import PHONE, Browsing

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

AXE_RUN = """() => axe.run(document, {resultTypes: ['violations']}).then(r => r.violations
  .filter(v => v.impact === 'serious' || v.impact === 'critical')
  .map(v => v.id + ' (' + v.impact + '): '
    + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(' | ')))"""


def axe(b: Browsing) -> list[str]:
    b.page.add_script_tag(url=b.base + "/static/vendor/axe.min.js")
    return list(b.page.evaluate(AXE_RUN))


def warm_up() -> None:
    """Load the URLs and the numerical libraries once before the browser's first request: on
    a busy machine the cold start alone can exceed the browser's navigation timeout."""
    Client().get("/login/")
    from crm.insights.analytics.forecast import forecast

    forecast([1.0, 2.0, 3.0, 4.0, 5.0, 4.0, 3.0], 2)


def test_forecast_pages_in_the_browser(world: Any, history: Any, orders: Any, browse: Any) -> None:
    warm_up()
    b: Browsing = browse()
    page = b.login(world.manager.user.username)
    problems = {}

    b.goto("/forecasts/?freq=M&horizon=6")
    expect(page.locator("#forecast-chart canvas")).to_be_visible()
    expect(page.locator("#forecast-table tbody tr")).to_have_count(6)
    expect(page.locator("#model-card [data-field=backtest_mase]")).not_to_have_text("")
    problems["forecast"] = axe(b)

    b.goto("/forecasts/funnel/")
    expect(page.locator("#funnel-chart canvas")).to_be_visible()
    problems["funnel"] = axe(b)

    b.goto("/forecasts/pipeline/")
    opportunities = list(Opportunity.objects.order_by("pk").values())
    changes = StageChange.objects.count()
    proposal = history.stages["proposal"].pk
    slider = page.locator(f"#wr-{proposal}")
    slider.focus()
    for _ in range(5):  # keyboard: five steps up
        page.keyboard.press("ArrowRight")
    slider.dispatch_event("change")
    expect(page.locator("#what-if-table")).to_be_visible()
    expect(page.locator(f"#wr-out-{proposal}")).not_to_have_text("")
    problems["pipeline"] = axe(b)
    assert list(Opportunity.objects.order_by("pk").values()) == opportunities
    assert StageChange.objects.count() == changes

    b.goto("/forecasts/quotas/")
    problems["quotas"] = axe(b)
    assert problems == {"forecast": [], "funnel": [], "pipeline": [], "quotas": []}


def test_forecast_pages_fit_a_phone(world: Any, history: Any, browse: Any) -> None:
    warm_up()
    b: Browsing = browse(viewport=PHONE)
    page = b.login(world.manager.user.username)
    for path in (
        "/forecasts/?freq=W&horizon=4",
        "/forecasts/funnel/",
        "/forecasts/pipeline/",
        "/forecasts/quotas/",
    ):
        b.goto(path)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], (path, width)
