"""Report pages render with their filters, chart data and table; other tenants get 404."""

from __future__ import annotations

import json
import re

from django.test import Client

from crm.core.context import tenant_context
from crm.reports.services import schedule_create
from tests.web.conftest import client_for

SLUGS = ("sales-performance", "product-sales", "activity-counts", "lead-sources")


def test_index_and_every_report_page_render(world, history) -> None:
    client = client_for(world.manager)
    index = client.get("/reports/")
    assert index.status_code == 200
    for slug in SLUGS:
        assert f'href="/reports/{slug}/"' in index.content.decode()
        page = client.get(f"/reports/{slug}/")
        assert page.status_code == 200, slug
        html = page.content.decode()
        assert 'id="report-chart"' in html and 'id="report-table"' in html
        assert f'href="/reports/{slug}/export.csv"' in html
        assert "<script>" not in html  # CSP: no inline scripts
        data = re.search(
            r'<script id="report-chart-data" type="application/json">(.*?)</script>', html, re.S
        )
        assert data is not None
        chart = json.loads(data.group(1))
        assert set(chart) >= {"labels", "series"}


def test_the_table_shows_the_reps_figures(world, history) -> None:
    html = client_for(world.admin).get("/reports/sales-performance/").content.decode()
    table = html[html.index('id="report-table"') :]
    assert table.index("sales2") < table.index(">sales<")  # most won first
    assert "33.3%" in table and "50.0%" in table  # sales' conversion, the total's


def test_a_rep_sees_own_figures_only(world, history) -> None:
    html = client_for(world.sales).get("/reports/sales-performance/").content.decode()
    table = html[html.index('id="report-table"') :]
    assert ">sales<" in table and "sales2" not in table


def test_bad_filter_is_shown_not_a_500(world, history) -> None:
    page = client_for(world.admin).get(
        "/reports/activity-counts/", {"start": "2026-03-01", "end": "2026-01-01"}
    )
    assert page.status_code == 200
    assert 'class="alert alert-danger"' in page.content.decode()


def test_nav_has_reports_for_selling_roles_not_service(world) -> None:
    html = client_for(world.viewer).get("/").content.decode()
    assert 'href="/reports/"' in html


def test_schedule_page_creates_and_other_tenant_gets_404(world, other_world) -> None:
    client = client_for(world.sales)
    page = client.get("/reports/schedules/")
    assert page.status_code == 200
    created = client.post(
        "/reports/schedules/",
        {
            "name": "周报",
            "report_kind": "activity_counts",
            "frequency": "weekly",
            "file_format": "csv",
            "recipient_ids": [str(world.manager.pk)],
        },
    )
    assert created.status_code == 302
    assert "周报" in client.get("/reports/schedules/").content.decode()
    from crm.reports.models import ReportSchedule

    schedule = ReportSchedule.objects.get()
    assert schedule.recipient_ids == [world.manager.pk]
    with tenant_context(other_world.tenant.pk):
        b_schedule = schedule_create(
            actor=other_world.admin,
            values={"name": "B", "report_kind": "product_sales", "frequency": "monthly"},
        )
    intruder = client_for(other_world.admin)
    for url in (
        f"/reports/schedules/{schedule.pk}/toggle/",
        f"/reports/schedules/{schedule.pk}/delete/",
    ):
        assert intruder.post(url).status_code == 404
    assert ReportSchedule.objects.filter(pk=schedule.pk, active=True).exists()
    # Another member of the same tenant cannot touch a rep's schedule either.
    assert (
        client_for(world.sales2).post(f"/reports/schedules/{schedule.pk}/delete/").status_code
        == 404
    )
    assert client.post(f"/reports/schedules/{b_schedule.pk}/delete/").status_code == 404


def test_pages_need_sign_in(db) -> None:
    response = Client().get("/reports/sales-performance/")
    assert response.status_code == 302 and "/login/" in response["Location"]
