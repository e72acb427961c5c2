"""Dashboards: the rep's day and the manager's team, with numbers from the selectors."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.test import Client
from django.utils import timezone

from crm.activities.services import activity_log, task_create
from crm.sales.models import Lead, Stage
from crm.sales.services import lead_create, opportunity_create, opportunity_move
from crm.web.selectors import manager_dashboard, sales_dashboard


def test_the_reps_dashboard(world: Any, sales_client: Client) -> None:
    now = timezone.now()
    task_create(actor=world.sales, values={"title": "昨天的", "due_at": now - timedelta(days=1)})
    task_create(actor=world.sales, values={"title": "下周的", "due_at": now + timedelta(days=7)})
    task_create(actor=world.sales2, values={"title": "别人的", "due_at": now})
    breached = lead_create(actor=world.sales, values={"name": "超时线索"})
    Lead.objects.filter(pk=breached.pk).update(first_response_due_at=now - timedelta(hours=1))
    lead_create(actor=world.sales, values={"name": "无时限线索"})
    opportunity_create(actor=world.sales, values={"name": "A", "amount": "1000"})
    opportunity_create(actor=world.sales, values={"name": "B", "amount": "500.50"})
    board = sales_dashboard(actor=world.sales)
    assert [t.title for t in board.tasks_overdue] == ["昨天的"] and board.tasks_today == []
    assert (board.leads_breached, board.leads_no_sla) == (1, 1)
    assert board.pipeline_amount == Decimal("1500.50") and board.pipeline_count == 2
    html = sales_client.get("/").content.decode()
    assert "昨天的" in html and "下周的" not in html and "别人的" not in html
    assert "1,500.50" in html and "funnel-chart" not in html


def test_the_managers_dashboard_counts_only_the_team(world: Any, manager_client: Client) -> None:
    stages = list(Stage.objects.order_by("order"))
    won = next(s for s in stages if s.is_won)
    mine = opportunity_create(actor=world.sales, values={"name": "A", "amount": "300"})
    opportunity_move(actor=world.sales, opportunity=mine, stage_id=won.pk)
    other = opportunity_create(actor=world.sales2, values={"name": "B", "amount": "999"})
    opportunity_move(actor=world.sales2, opportunity=other, stage_id=won.pk)
    opportunity_create(actor=world.sales, values={"name": "C", "amount": "100"})
    activity_log(
        actor=world.sales,
        record_type="opportunity",
        record_id=mine.pk,
        values={"kind": "call", "subject": "x"},
    )
    board = manager_dashboard(actor=world.manager)
    assert board.won_this_month == Decimal("300") and board.won_this_month_count == 1
    first = board.funnel[0]
    assert (first.count, first.amount, first.reached) == (1, Decimal("100"), 2)
    assert first.conversion_pct == 50.0  # one of the two that entered the first stage went on
    assert [(r.name, r.counts) for r in board.reps] == [("sales", {"call": 1})]
    html = manager_client.get("/").content.decode()
    assert 'id="funnel-chart"' in html and 'id="funnel-data"' in html


def test_average_days_in_stage_counts_from_entering_to_leaving(world: Any) -> None:
    stages = [s for s in Stage.objects.order_by("order") if not s.is_won and not s.is_lost]
    start = timezone.now()
    for days_in_first, days_in_second in [(2, 3), (4, 1)]:
        opp = opportunity_create(actor=world.sales, values={"name": "x"})
        left_first = start + timedelta(days=days_in_first)
        opportunity_move(actor=world.sales, opportunity=opp, stage_id=stages[1].pk, at=left_first)
        opportunity_move(
            actor=world.sales,
            opportunity=opp,
            stage_id=stages[2].pk,
            at=left_first + timedelta(days=days_in_second),
        )
    funnel = {row.stage_id: row for row in manager_dashboard(actor=world.manager).funnel}
    assert funnel[stages[0].pk].average_days == 3.0
    assert funnel[stages[1].pk].average_days == 2.0
    assert funnel[stages[2].pk].average_days is None
