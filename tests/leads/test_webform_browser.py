"""In a browser (Debian's Chromium through Playwright): a visitor sends the public web form; the
lead is created, scored and assigned, and its owner sees it in the lead inbox."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, expect

from crm.sales.capture_channels import web_form_create
from crm.sales.lead_models import LeadIntake
from crm.sales.models import Lead
from tests.e2e.conftest import CHROMIUM_ARGS, DESK, PHONE, Browsing

pytestmark = [
    pytest.mark.urls("tests.leads.urls"),
    pytest.mark.e2e,
    pytest.mark.xdist_group("e2e"),
]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    return {
        **browser_type_launch_args,
        "executable_path": "/usr/bin/chromium",
        "args": CHROMIUM_ARGS,
    }


@pytest.fixture
def browse(new_context: Callable[..., BrowserContext], live_server: Any) -> Iterator[Any]:
    opened: list[Browsing] = []

    def open_browsing(viewport: dict[str, int] = DESK) -> Browsing:
        browsing = Browsing(new_context(viewport=viewport, locale="zh-CN"), live_server.url)
        opened.append(browsing)
        return browsing

    yield open_browsing
    for browsing in opened:
        assert browsing.problems == [], browsing.problems


def test_a_visitor_sends_the_form_and_the_owner_sees_the_lead_assigned(flow, browse) -> None:
    form = web_form_create(
        actor=flow.world.admin,
        name="联系我们",
        fields=["company", "email", "phone", "message"],
        required=["phone"],
        consent_text="我同意贵公司就此咨询联系我。",
    )
    visitor = browse(PHONE)
    page = visitor.goto(f"/forms/{form.key}/")
    page.fill("#f-name", "林小姐")
    page.fill("#f-company", "蓝天贸易")
    page.fill("#f-email", "lin@lantian.example")
    page.fill("#f-message", "想要一份报价")
    page.locator("button[type=submit]").click()
    # The phone is required and consent missing: the form comes back with both messages.
    expect(page.locator(".field.invalid")).to_have_count(2)
    assert Lead.objects.count() == 0
    page.fill("#f-phone", "139 1234 5678")
    page.locator("input[name=consent]").check()
    page.locator("button[type=submit]").click()
    expect(page.get_by_test_id("thanks")).to_be_visible()

    lead = Lead.objects.get()
    assert lead.owner == flow.reps[0] and lead.phone == "+8613912345678" and lead.consent
    assert LeadIntake.objects.get(lead=lead).consent_text == "我同意贵公司就此咨询联系我。"

    owner = browse(DESK)
    owner.login(flow.reps[0].user.username)
    inbox = owner.goto("/lead-flow/inbox/")
    row = inbox.locator(f"tr[data-lead='{lead.pk}']")
    expect(row).to_contain_text("林小姐")
    expect(row.get_by_test_id("owner")).to_have_text(str(flow.reps[0]))
    expect(row.locator(".score")).to_have_text(str(lead.score))
    assert lead.score_reasons[0]["text"] in (row.locator(".score").get_attribute("title") or "")
