"""The manager's dashboard without its cache: a fixed number of queries whatever the history's
size (no per-row work), numbers equal to a recompute from the records, and a write shows at once."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import Avg, Count, Sum
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from crm.activities.services import activity_log
from crm.sales.models import Stage
from crm.sales.selectors import opportunity_list
from crm.sales.services import lead_create, opportunity_create, opportunity_move
from crm.sales.stats import dwell_by_stage_recompute, reached_by_order_recompute
from crm.web.selectors import CYCLE_WINDOW, manager_dashboard, sales_dashboard


def _grow(world: Any, n: int) -> None:
    stages = [s for s in Stage.objects.order_by("order") if not s.is_lost]
    start = timezone.now() - timedelta(days=20)
    for i in range(n):
        actor = (world.sales, world.sales2, world.manager)[i % 3]
        opp = opportunity_create(actor=actor, values={"name": f"o{i}", "amount": f"{100 + i}.25"})
        for step, stage in enumerate(stages[1 : 2 + i % len(stages)], start=1):
            opportunity_move(
                actor=actor, opportunity=opp, stage_id=stage.pk, at=start + timedelta(days=step)
            )
        activity_log(
            actor=actor,
            record_type="opportunity",
            record_id=opp.pk,
            values={"kind": ("call", "email", "visit")[i % 3], "subject": f"s{i}"},
        )


def _queries(world: Any) -> int:
    with CaptureQueriesContext(connection) as captured:
        manager_dashboard(actor=world.manager, now=timezone.now())
    return len(captured.captured_queries)


def test_the_cold_dashboard_reads_the_same_number_of_queries_for_any_history(world: Any) -> None:
    _grow(world, 2)
    few = _queries(world)
    _grow(world, 24)
    assert _queries(world) == few


def test_the_cold_dashboard_shows_what_the_records_say(world: Any) -> None:
    _grow(world, 12)
    now = timezone.now()
    board = manager_dashboard(actor=world.manager, now=now)
    assert board.pipeline is not None
    pipeline_id = board.pipeline.pk
    opps = opportunity_list(actor=world.manager, pipeline_id=pipeline_id).order_by()
    current = {
        r["stage_id"]: r
        for r in opps.values("stage_id").annotate(n=Count("id"), t=Sum("amount"), a=Avg("amount"))
    }
    reached = reached_by_order_recompute(actor=world.manager, pipeline_id=pipeline_id)
    dwell = dwell_by_stage_recompute(
        actor=world.manager, pipeline_id=pipeline_id, since=now - CYCLE_WINDOW
    )
    for row in board.funnel:
        stage = Stage.objects.get(pk=row.stage_id)
        here = current.get(row.stage_id, {"n": 0, "t": None, "a": None})
        assert row.count == here["n"]
        assert row.amount == (here["t"] or Decimal("0"))
        assert row.average_amount == Decimal(here["a"] or 0).quantize(Decimal("0.01"))
        assert row.reached == sum(n for order, n in reached.items() if order >= stage.order)
        if row.stage_id in dwell:
            n, micros = dwell[row.stage_id]
            assert row.average_days == round(micros / n / 1e6 / 86400, 1)
        else:
            assert row.average_days is None
    # The team's reps (sales, the manager) but not sales2 of the other team.
    assert {r.name for r in board.reps} == {"sales", "manager"}
    assert sum(r.total for r in board.reps) == 8


def test_a_write_shows_on_the_next_view(world: Any) -> None:
    _grow(world, 3)
    before = manager_dashboard(actor=world.manager)
    first = before.funnel[0]
    opportunity_create(actor=world.sales, values={"name": "新的", "amount": "10"})
    after = manager_dashboard(actor=world.manager)
    assert after.funnel[0].count == first.count + 1
    assert after.funnel[0].reached == first.reached + 1


def test_the_reps_next_leads_come_in_due_order(world: Any) -> None:
    now = timezone.now()
    for hours in (5, -2, 9, 1):
        lead = lead_create(actor=world.sales, values={"name": f"线索 {hours}"})
        type(lead).objects.filter(pk=lead.pk).update(
            first_response_due_at=now + timedelta(hours=hours)
        )
    lead_create(actor=world.sales2, values={"name": "别人的"})
    board = sales_dashboard(actor=world.sales, now=now)
    assert [lead.name for lead in board.leads_next] == ["线索 -2", "线索 1", "线索 5", "线索 9"]
