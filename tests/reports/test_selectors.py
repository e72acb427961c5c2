"""Report figures equal those computed by hand from the fixture (see conftest.py)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from crm.core.errors import ValidationFailedError
from crm.reports.periods import today_local
from crm.reports.selectors import (
    activity_counts,
    filters_from,
    lead_sources,
    product_sales,
    sales_performance,
)
from crm.sales.models import Lead

D = Decimal


def by(rows: list[dict[str, Any]], key: str) -> dict[Any, dict[str, Any]]:
    return {row[key]: row for row in rows}


def test_sales_performance_by_rep(world, history) -> None:
    report = sales_performance(actor=world.admin, filters=filters_from({}))
    rows = by(report.rows, "rep")
    assert [r["rep"] for r in report.rows] == ["sales2", "sales"]  # most won first
    assert rows["sales"] == {
        "owner_id": world.sales.pk,
        "rep": "sales",
        "won_count": 1,
        "won_amount": D("1000.00"),
        "pipeline_count": 1,
        "pipeline_amount": D("500.00"),
        "activities": 3,
        "leads": 3,
        "leads_won": 1,
        "conversion_pct": 33.3,
    }
    s2 = rows["sales2"]
    assert (s2["won_count"], s2["won_amount"], s2["pipeline_amount"]) == (
        1,
        D("2000.00"),
        D("300.00"),
    )
    assert (s2["activities"], s2["leads"], s2["leads_won"], s2["conversion_pct"]) == (
        1,
        1,
        1,
        100.0,
    )
    assert report.totals == {
        "won_count": 2,
        "won_amount": D("3000.00"),
        "pipeline_count": 2,
        "pipeline_amount": D("800.00"),
        "activities": 4,
        "leads": 4,
        "leads_won": 2,
        "conversion_pct": 50.0,
    }


def test_a_rep_sees_only_own_figures_and_a_manager_only_the_team(world, history) -> None:
    mine = sales_performance(actor=world.sales, filters=filters_from({}))
    assert [r["rep"] for r in mine.rows] == ["sales"]
    assert mine.totals["won_amount"] == D("1000.00")
    team = sales_performance(actor=world.manager, filters=filters_from({}))
    assert [r["rep"] for r in team.rows] == ["sales"]  # sales2 is in the other team
    other = product_sales(actor=world.sales2, filters=filters_from({}))
    assert [(r["product"], r["quantity"]) for r in other.rows] == [("Widget", D("2.00"))]
    sources = lead_sources(actor=world.sales, filters=filters_from({}))
    assert {r["label"] for r in sources.rows} == {"展会", "=cmd"}


def test_filters_owner_team_and_period(world, history) -> None:
    only = sales_performance(actor=world.admin, filters=filters_from({"owner_id": world.sales2.pk}))
    assert [r["rep"] for r in only.rows] == ["sales2"]
    team = sales_performance(actor=world.admin, filters=filters_from({"team_id": world.team_a.pk}))
    assert [r["rep"] for r in team.rows] == ["sales"]
    # Move L2 two months back: it leaves this period's lead counts.
    Lead.objects.filter(pk=history.leads["L2"].pk).update(
        created_at=history.leads["L2"].created_at - timedelta(days=60)
    )
    rows = by(sales_performance(actor=world.admin, filters=filters_from({})).rows, "rep")
    assert (rows["sales"]["leads"], rows["sales"]["conversion_pct"]) == (2, 50.0)
    past = today_local() - timedelta(days=400)
    empty = sales_performance(
        actor=world.admin, filters=filters_from({"start": past, "end": past + timedelta(days=5)})
    )
    # Only the open pipeline (a figure of today, not of the period) is left.
    assert (empty.totals["won_count"], empty.totals["activities"], empty.totals["leads"]) == (
        0,
        0,
        0,
    )
    assert empty.totals["pipeline_amount"] == D("800.00")


def test_product_sales_by_product_and_category(world, history) -> None:
    report = product_sales(actor=world.admin, filters=filters_from({}))
    assert [
        (r["product"], r["category"], r["quantity"], r["revenue"], r["orders"]) for r in report.rows
    ] == [
        ("=cmd", "软件", D("1.00"), D("100.00"), 1),
        ("Widget", "硬件", D("5.00"), D("50.00"), 2),
    ]
    assert [r["share_pct"] for r in report.rows] == [66.7, 33.3]
    assert [(c["category"], c["revenue"]) for c in report.series["categories"]] == [
        ("软件", D("100.00")),
        ("硬件", D("50.00")),
    ]
    assert report.totals == {
        "quantity": D("6.00"),
        "revenue": D("150.00"),
        "orders": 2,
        "share_pct": 100.0,
    }
    hardware = product_sales(
        actor=world.admin, filters=filters_from({"category": "硬件"}, kind="product_sales")
    )
    assert [r["product"] for r in hardware.rows] == ["Widget"]


def test_activity_counts_by_rep_kind_and_week(world, history) -> None:
    report = activity_counts(actor=world.admin, filters=filters_from({}))
    rows = by(report.rows, "rep")
    assert (rows["sales"]["call"], rows["sales"]["visit"], rows["sales"]["total"]) == (2, 1, 3)
    assert (rows["sales2"]["email"], rows["sales2"]["total"]) == (1, 1)
    assert report.totals == {"call": 2, "email": 1, "meeting": 0, "visit": 1, "note": 0, "total": 4}
    [week] = report.series["weeks"]
    today = today_local()
    assert week["week"] == today - timedelta(days=today.weekday())
    assert (week["call"], week["email"], week["visit"], week["total"]) == (2, 1, 1, 4)
    calls = activity_counts(
        actor=world.admin, filters=filters_from({"kind": "call"}, kind="activity_counts")
    )
    assert [(r["rep"], r["total"]) for r in calls.rows] == [("sales", 2)]


def test_lead_source_roi(world, history) -> None:
    report = lead_sources(actor=world.admin, filters=filters_from({}))
    assert [
        (r["label"], r["leads"], r["leads_won"], r["won_amount"], r["amount_per_lead"])
        for r in report.rows
    ] == [
        ("官网", 1, 1, D("2000.00"), D("2000.00")),
        ("展会", 2, 1, D("1000.00"), D("500.00")),
        ("=cmd", 1, 0, D("0.00"), D("0.00")),
    ]
    assert report.totals["leads"] == 4 and report.totals["won_amount"] == D("3000.00")
    assert report.totals["win_pct"] == 50.0


def test_bad_filters_name_the_field(world) -> None:
    with pytest.raises(ValidationFailedError) as bad:
        filters_from({"start": "2026-02-01", "end": "2026-01-01"})
    assert "start" in bad.value.fields
    with pytest.raises(ValidationFailedError) as bad:
        filters_from({"owner_id": "abc"})
    assert "owner_id" in bad.value.fields


def test_a_deleted_order_leaves_the_product_report(world, history) -> None:
    from crm.sales.models import Order
    from crm.sales.services import order_delete

    order_delete(actor=world.sales, order=Order.objects.get(number="SO-1"))
    report = product_sales(actor=world.admin, filters=filters_from({}))
    assert [(r["product"], r["quantity"], r["revenue"]) for r in report.rows] == [
        ("Widget", D("2.00"), D("20.00"))
    ]
