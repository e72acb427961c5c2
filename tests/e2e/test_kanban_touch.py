"""The kanban on a phone with a touch screen: press and hold a card, drag it with the finger to
another stage, let go; the move is saved (a stage change through the service) and survives a
reload. Touch events come from Chromium's own input pipeline (DevTools `Input.dispatchTouchEvent`),
so scrolling, `touch-action` and SortableJS's touch delay all take part as on a real phone."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page, expect

from crm.sales.models import Opportunity, Stage, StageChange
from crm.sales.services import opportunity_create
from tests.e2e.conftest import PHONE, Browsing


def _center(page: Page, selector: str) -> tuple[float, float]:
    box = page.locator(selector).bounding_box()
    assert box is not None, selector
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def _touch_drag(page: Page, card_selector: str, target_selector: str) -> None:
    """Press and hold the card's handle, move the finger in small steps onto the target list
    (its visible part: on a phone the next column peeks in at the right edge), lift it."""
    page.locator(f"{card_selector} .drag-handle").scroll_into_view_if_needed()
    cdp = page.context.new_cdp_session(page)

    def touch(kind: str, x: float | None = None, y: float | None = None) -> None:
        points = [] if x is None else [{"x": x, "y": y, "id": 1, "radiusX": 4, "radiusY": 4}]
        cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})

    x0, y0 = _center(page, f"{card_selector} .drag-handle")
    touch("touchStart", x0, y0)
    page.wait_for_timeout(400)  # longer than Sortable's touch delay (150 ms)
    target = page.locator(target_selector).bounding_box()
    assert target is not None
    viewport = page.viewport_size or PHONE
    x1 = min(target["x"] + 40, viewport["width"] - 12)
    y1 = max(target["y"] + 30, 10)
    steps = 20
    for i in range(1, steps + 1):
        touch("touchMove", x0 + (x1 - x0) * i / steps, y0 + (y1 - y0) * i / steps)
        page.wait_for_timeout(20)
    touch("touchMove", x1, y1 + 4)
    page.wait_for_timeout(100)
    touch("touchEnd")
    cdp.detach()


def test_a_card_dragged_by_touch_on_a_phone_moves_and_stays_moved(world: Any, browse: Any) -> None:
    opp = opportunity_create(actor=world.sales, values={"name": "触屏 拖动", "amount": "5000"})
    first, second = list(Stage.objects.filter(pipeline=opp.pipeline).order_by("order"))[:2]
    b: Browsing = browse(PHONE, has_touch=True, is_mobile=True)
    page = b.login(world.sales.user.username)
    assert page.evaluate("() => navigator.maxTouchPoints") > 0

    b.goto("/kanban/")
    card = f"li.kanban-card[data-id='{opp.pk}']"
    source = f".kanban-cards[data-stage-id='{first.pk}']"
    target = f".kanban-cards[data-stage-id='{second.pk}']"
    expect(page.locator(f"{source} {card}")).to_be_visible()
    _touch_drag(page, card, target)

    expect(page.locator(f"{target} {card}")).to_be_attached()
    expect(page.locator("#toasts .toast-undo").last).to_be_visible()  # the move was saved
    second_total = page.locator(f".kanban-column[data-stage-id='{second.pk}'] [data-total-count]")
    expect(second_total).to_have_text("1")
    page.wait_for_function("() => !document.querySelector('li.kanban-card[aria-busy]')")
    page.reload()
    expect(page.locator(f"{target} {card}")).to_be_attached()
    expect(page.locator(f"{source} {card}")).to_have_count(0)
    assert Opportunity.objects.get(pk=opp.pk).stage_id == second.pk
    changes = StageChange.objects.filter(opportunity=opp).order_by("id")
    assert [(c.from_stage_id, c.to_stage_id) for c in changes] == [
        (None, first.pk),
        (first.pk, second.pk),
    ]
