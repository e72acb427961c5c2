"""The sales rep's day, on a desk and on a phone: a lead with a bad phone number fixed, found by
pinyin, an opportunity for its company dragged along the kanban, a call logged, both languages."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.utils import translation
from playwright.sync_api import Page, expect

from crm.sales.models import Opportunity, Stage, StageChange
from tests.e2e.conftest import DESK, PHONE, Browsing


def _id_from(page: Page, kind: str) -> int:
    match = re.search(rf"/{kind}/(\d+)/$", page.url)
    assert match, page.url
    return int(match.group(1))


def _open_menu_on_phone(page: Page, phone: bool) -> None:
    if phone:
        page.locator(".navbar-toggler").click()
        # Wait for Bootstrap's collapse to finish: a click during the transition can be lost.
        expect(page.locator("#main-nav")).to_have_class(re.compile(r"(^|\s)show(\s|$)"))


def _drag(page: Page, card_selector: str, target_selector: str) -> None:
    """Press the card's handle, move in steps (Sortable's pointer fallback), release."""
    handle = page.locator(f"{card_selector} .drag-handle")
    handle.scroll_into_view_if_needed()
    box = handle.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    target = page.locator(target_selector).bounding_box()
    assert target is not None
    viewport = page.viewport_size or DESK
    x = min(target["x"] + min(target["width"], 200) / 2, viewport["width"] - 20)
    y = target["y"] + 30
    page.mouse.move(x, y, steps=15)
    page.mouse.move(x, y + 5, steps=3)
    page.mouse.up()


@pytest.mark.parametrize("viewport", [DESK, PHONE], ids=["desk", "phone"])
def test_a_sales_rep_works_a_lead_into_an_opportunity(
    world: Any, browse: Any, artifacts: Path, viewport: dict[str, int]
) -> None:
    phone = viewport is PHONE
    tag = "phone" if phone else "desk"
    b: Browsing = browse(viewport)
    page = b.login(world.sales.user.username)
    with translation.override("zh-hans"):
        bad_phone_message = translation.gettext("Enter a valid phone number.")

    # A lead with a bad phone number is refused with the field's message, then fixed.
    b.goto("/leads/new/")
    page.fill("#id_name", "林晓峰")
    page.fill("#id_company", "晨光电子")
    page.fill("#id_phone", "12345")
    page.locator("form.record-form button[type=submit]").click()
    expect(page.locator("#id_phone_error")).to_have_text(bad_phone_message)
    expect(page.locator("#id_phone")).to_have_attribute("aria-invalid", "true")
    page.fill("#id_phone", "139 1234 5678")
    page.locator("form.record-form button[type=submit]").click()
    page.wait_for_url(re.compile(r"/leads/\d+/$"))
    lead_id = _id_from(page, "leads")
    expect(page.locator(".record-fields")).to_contain_text("+8613912345678")

    # Found by pinyin (full and initials) in the global search, with instant results.
    b.goto("/")
    page.fill("#global-search", "linxiao")
    hit = page.locator("#search-results a.search-hit", has_text="林晓峰")
    expect(hit).to_be_visible()
    page.fill("#global-search", "lxf")
    expect(hit).to_be_visible()
    hit.click()
    page.wait_for_url(re.compile(rf"/leads/{lead_id}/$"))

    # Its company becomes an account, and an opportunity is opened for it from the lead.
    page.locator("[data-action=create-account]").click()
    expect(page.locator("#id_name")).to_have_value("晨光电子")
    page.locator("form.record-form button[type=submit]").click()
    page.wait_for_url(re.compile(r"/accounts/\d+/$"))
    b.goto(f"/leads/{lead_id}/")
    page.locator("[data-action=new-opportunity]").click()
    expect(page.locator("#id_account")).to_have_value("晨光电子")
    # the account chooser: cleared, then found again by the company's pinyin initials
    page.locator(".picker button[aria-label]").first.click()
    page.locator("#id_account").press_sequentially("cgdz")
    page.locator(".picker-results [data-label='晨光电子']").click()
    expect(page.locator("#id_account")).to_have_value("晨光电子")
    page.fill("#id_name", "晨光电子 CRM 项目")
    page.fill("#id_amount", "88000")
    page.locator("form.record-form button[type=submit]").click()
    page.wait_for_url(re.compile(r"/opportunities/\d+/$"))
    opp_id = _id_from(page, "opportunities")
    expect(page.locator(".record-fields")).to_contain_text("晨光电子")
    opportunity = Opportunity.objects.get(pk=opp_id)
    assert opportunity.lead_id == lead_id and opportunity.account.name == "晨光电子"
    first, second = list(Stage.objects.filter(pipeline=opportunity.pipeline).order_by("order"))[:2]
    assert opportunity.stage_id == first.pk

    # Dragged to the next stage on the kanban; the totals follow; it stays there after a reload.
    b.goto("/kanban/")
    card = f"li.kanban-card[data-id='{opp_id}']"
    target = f".kanban-cards[data-stage-id='{second.pk}']"
    expect(page.locator(f".kanban-cards[data-stage-id='{first.pk}'] {card}")).to_be_visible()
    _drag(page, card, target)
    expect(page.locator("#toasts .toast-undo").last).to_be_visible()
    second_total = page.locator(f".kanban-column[data-stage-id='{second.pk}'] [data-total-count]")
    expect(second_total).to_have_text("1")
    page.screenshot(path=str(artifacts / f"{tag}-kanban.png"), full_page=not phone)
    page.reload()
    expect(page.locator(f"{target} {card}")).to_be_visible()
    changes = StageChange.objects.filter(opportunity_id=opp_id).order_by("id")
    assert [(c.from_stage_id, c.to_stage_id) for c in changes] == [
        (None, first.pk),
        (first.pk, second.pk),
    ]
    if not phone:  # without dragging: the card's Move menu, by keyboard
        third = Stage.objects.filter(pipeline=opportunity.pipeline).order_by("order")[2]
        page.locator(f"{card} .card-move-button").focus()
        page.keyboard.press("Enter")
        menu_item = page.locator(f"#kanban-move-menu [data-stage-id='{third.pk}']")
        while not menu_item.evaluate("el => el === document.activeElement"):
            page.keyboard.press("ArrowDown")
        page.keyboard.press("Enter")
        expect(page.locator(f".kanban-cards[data-stage-id='{third.pk}'] {card}")).to_be_visible()
        expect(page.locator("#toasts .toast-undo").last).to_be_visible()
        page.locator("#toasts .toast-undo").last.click()  # and undo it
        expect(page.locator(f"{target} {card}")).to_be_visible()
        expect(page.locator("#toasts .toast").last).not_to_contain_text("Undo")
        page.wait_for_function("() => !document.querySelector('li.kanban-card[aria-busy]')")
        assert Opportunity.objects.get(pk=opp_id).stage_id == second.pk

    # A call logged from the record page shows on its timeline.
    b.goto(f"/opportunities/{opp_id}/")
    page.select_option("#id_log-kind", "call")
    page.fill("#id_log-subject", "电话 确认预算")
    page.locator("#pane-log button[type=submit]").click()
    expect(page.locator("#timeline")).to_contain_text("电话 确认预算")
    expect(page.locator("#timeline .timeline-call").first).to_be_visible()
    page.screenshot(path=str(artifacts / f"{tag}-record.png"), full_page=True)

    # English and back to Chinese.
    _open_menu_on_phone(page, phone)
    with page.expect_navigation():
        page.locator(".navbar .language-switch button[value=en]").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("#timeline-heading")).to_have_text("Timeline")
    _open_menu_on_phone(page, phone)
    with page.expect_navigation():
        page.locator(".navbar .language-switch button[value=zh-hans]").click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    with translation.override("zh-hans"):
        expect(page.locator("#timeline-heading")).to_have_text(translation.gettext("Timeline"))

    b.goto("/")
    page.screenshot(path=str(artifacts / f"{tag}-dashboard.png"), full_page=True)
