"""The manager's funnel shows the database's numbers; the main pages pass axe-core."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from django.db.models import Max, Q
from playwright.sync_api import Page, expect

from crm.sales.models import Opportunity, Stage, StageChange
from crm.sales.services import opportunity_create, opportunity_delete, opportunity_move
from tests.e2e.conftest import Browsing

AXE_RUN = """() => axe.run(document, {resultTypes: ['violations']}).then(r => r.violations
  .filter(v => v.impact === 'serious' || v.impact === 'critical')
  .map(v => v.id + ' (' + v.impact + '): '
    + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(' | ')))"""


def _seed_pipeline(world: Any) -> list[Stage]:
    stages = list(Stage.objects.order_by("order"))
    open_stages = [s for s in stages if not s.is_won and not s.is_lost]
    won = next(s for s in stages if s.is_won)
    lost = next(s for s in stages if s.is_lost)
    plan = [  # (owner, amount, stages to walk through)
        (world.sales, "100000", []),
        (world.sales, "250000.50", [open_stages[1]]),
        (world.sales, "80000", [open_stages[1], open_stages[2]]),
        (world.manager, "300000", [open_stages[1], open_stages[2], open_stages[3]]),
        (world.sales, "120000", [open_stages[1], open_stages[2], open_stages[3], won]),
        (world.sales, "60000", [open_stages[1], lost]),
        (world.sales2, "999999", [open_stages[1], open_stages[2]]),  # other team: not counted
    ]
    for i, (owner, amount, walk) in enumerate(plan):
        opp = opportunity_create(actor=owner, values={"name": f"商机 {i}", "amount": amount})
        for stage in walk:
            opportunity_move(actor=owner, opportunity=opp, stage_id=stage.pk)
    gone = opportunity_create(actor=world.sales, values={"name": "已删除", "amount": "5000"})
    opportunity_delete(actor=world.sales, opportunity=gone)
    return stages


def _expected_funnel(world: Any, stages: list[Stage]) -> dict[int, dict[str, str]]:
    """Computed straight from the tables: the manager sees team A's rows and unowned ones."""
    visible = Opportunity.objects.filter(deleted_at__isnull=True).filter(
        Q(owner__team=world.team_a) | Q(owner=world.manager) | Q(owner__isnull=True)
    )
    furthest = {
        row["opportunity"]: row["m"]
        for row in StageChange.objects.filter(opportunity__in=visible, to_stage__is_lost=False)
        .values("opportunity")
        .annotate(m=Max("to_stage__order"))
    }
    funnel_stages = [s for s in stages if not s.is_lost]
    reached = {s.pk: sum(1 for m in furthest.values() if m >= s.order) for s in funnel_stages}
    expected = {}
    for i, stage in enumerate(funnel_stages):
        amounts = [o.amount for o in visible.filter(stage=stage)]
        total = sum(amounts, Decimal("0"))
        average = (total / len(amounts)).quantize(Decimal("0.01")) if amounts else Decimal("0")
        nxt = funnel_stages[i + 1] if i + 1 < len(funnel_stages) else None
        conversion = (
            f"{round(100 * reached[nxt.pk] / reached[stage.pk], 1):.1f}%"
            if nxt is not None and reached[stage.pk]
            else "—"
        )
        expected[stage.pk] = {
            "count": str(len(amounts)),
            "amount": f"{total:,.2f}",
            "average": f"{average:,.2f}",
            "conversion": conversion,
        }
    return expected


def _axe(page: Page, base: str) -> list[str]:
    page.add_script_tag(url=base + "/static/vendor/axe.min.js")
    return page.evaluate(AXE_RUN)


def test_manager_funnel_matches_the_database_and_pages_pass_axe(
    world: Any, browse: Any, artifacts: Path
) -> None:
    stages = _seed_pipeline(world)
    expected = _expected_funnel(world, stages)
    won_total = sum(
        (o.amount for o in Opportunity.objects.filter(stage__is_won=True, owner=world.sales)),
        Decimal("0"),
    )
    b: Browsing = browse()
    page = b.login(world.manager.user.username)
    shown = {}
    for row in page.locator("#funnel-table tbody tr[data-stage-id]").all():
        cells = {
            key: row.locator(f"[data-field={key}]").inner_text().strip()
            for key in ("count", "amount", "average", "conversion")
        }
        shown[int(row.get_attribute("data-stage-id") or 0)] = cells
    assert shown == expected
    expect(page.locator("#won-this-month")).to_have_text(f"{won_total:,.2f}")
    expect(page.locator("#funnel-chart canvas")).to_be_visible()
    page.screenshot(path=str(artifacts / "desk-manager-dashboard.png"), full_page=True)

    problems = {"dashboard": _axe(page, b.base)}
    opportunity = Opportunity.objects.filter(owner=world.sales).first()
    assert opportunity is not None
    for name, path in [
        ("list", "/opportunities/"),
        ("record", f"/opportunities/{opportunity.pk}/"),
        ("kanban", "/kanban/"),
    ]:
        b.goto(path)
        problems[name] = _axe(page, b.base)
        if name == "list":  # bulk selection: select all, the count follows, then confirm
            apply = page.locator(".bulk-bar button[type=submit]")
            expect(apply).to_be_disabled()
            page.locator(".list-table thead input[type=checkbox]").check()
            rows = page.locator(".list-table tbody .row-check").count()
            expect(page.locator(".bulk-bar [x-text=count]")).to_have_text(str(rows))
            page.select_option("#bulk-action", "owner")
            page.select_option("#bulk-owner", str(world.manager.pk))
            apply.click()
            expect(page.locator(".bulk-list li")).to_have_count(rows)
            problems["bulk confirmation"] = _axe(page, b.base)
    assert problems == {
        "dashboard": [],
        "list": [],
        "bulk confirmation": [],
        "record": [],
        "kanban": [],
    }
