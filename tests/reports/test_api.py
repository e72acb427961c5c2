"""The reports API: JSON with rows and totals, CSV/XLSX exports, schedules CRUD."""

from __future__ import annotations

import io
import json
from typing import Any

from openpyxl import load_workbook

from crm.core.context import tenant_context
from crm.reports.models import ReportSchedule


def test_reports_as_json(world, history, api_as) -> None:
    admin = api_as(world.admin)
    body = json.loads(admin.get("/reports/sales-performance").content)
    assert body["kind"] == "sales_performance"
    assert [(r["rep"], r["won_amount"], r["conversion_pct"]) for r in body["rows"]] == [
        ("sales2", "2000.00", 100.0),
        ("sales", "1000.00", 33.3),
    ]
    assert body["totals"]["won_amount"] == "3000.00" and body["totals"]["activities"] == 4
    products = json.loads(admin.get("/reports/product-sales", category="硬件").content)
    assert [(r["product"], r["quantity"], r["revenue"]) for r in products["rows"]] == [
        ("Widget", "5.00", "50.00")
    ]
    assert products["filters"]["category"] == "硬件"
    activities = json.loads(admin.get("/reports/activity-counts").content)
    assert activities["totals"]["total"] == 4 and len(activities["weeks"]) == 1
    sources = json.loads(admin.get("/reports/lead-sources").content)
    assert sources["rows"][0]["label"] == "官网"
    mine = json.loads(api_as(world.sales).get("/reports/sales-performance").content)
    assert [r["rep"] for r in mine["rows"]] == ["sales"]


def test_bad_filters_answer_422_naming_the_field(world, api_as) -> None:
    response = api_as(world.admin).get(
        "/reports/lead-sources", start="2026-05-01", end="2026-04-01"
    )
    assert response.status_code == 422
    assert "start" in json.loads(response.content)["fields"]


def test_exports(world, history, api_as) -> None:
    admin = api_as(world.admin)
    csv = admin.get("/reports/product-sales/export", file_format="csv")
    assert csv.status_code == 200 and csv.content.startswith(b"\xef\xbb\xbf")
    assert b"'=cmd" in csv.content
    xlsx = admin.get("/reports/lead-sources/export", file_format="xlsx")
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert [row[0].value for row in sheet.iter_rows(min_row=2, max_row=4)] == [
        "官网",
        "展会",
        "'=cmd",
    ]


def test_schedule_crud(world, other_world, api_as) -> None:
    sales = api_as(world.sales)
    created = sales.post(
        "/reports/schedules",
        {
            "name": "Weekly",
            "report_kind": "sales_performance",
            "frequency": "weekly",
            "file_format": "csv",
            "filters": {"pipeline_id": None, "category": ""},
            "recipient_ids": [world.manager.pk],
        },
    )
    assert created.status_code == 201, created.content
    schedule: dict[str, Any] = json.loads(created.content)
    assert schedule["owner_id"] == world.sales.pk
    assert schedule["recipient_ids"] == [world.manager.pk] and schedule["filters"] == {}
    path = f"/reports/schedules/{schedule['id']}"
    updated = sales.patch(path, {"frequency": "monthly", "filters": {"owner_id": world.sales.pk}})
    assert updated.status_code == 200
    assert json.loads(updated.content)["filters"] == {"owner_id": world.sales.pk}
    assert json.loads(sales.get("/reports/schedules").content)["count"] == 1
    # Another rep does not see it; an admin does; another tenant gets 404.
    assert api_as(world.sales2).get(path).status_code == 404
    assert api_as(world.admin).get(path).status_code == 200
    assert api_as(other_world.admin).delete(path).status_code == 404
    refused = sales.post(
        "/reports/schedules",
        {"name": "x", "report_kind": "product_sales", "frequency": "weekly", "tenant": 1},
    )
    assert refused.status_code == 422
    assert sales.delete(path).status_code == 204
    with tenant_context(world.tenant.pk):
        assert ReportSchedule.objects.count() == 0
