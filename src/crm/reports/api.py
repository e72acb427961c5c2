"""API of crm.reports (mounted under /api/v1 by crm.api): each report as JSON or as a CSV/XLSX
file, and report schedules."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Path, Query, Router, Status

from crm.core.api import Id, actor, created, no_content, paginated
from crm.core.api import responses as r
from crm.reports import selectors, services
from crm.reports.export import CONTENT_TYPES, file_name, report_file
from crm.reports.models import ReportSchedule
from crm.reports.schemas import (
    ActivityCountsOut,
    ActivityCountsQuery,
    DeliveryPage,
    FormatName,
    LeadSourcesOut,
    LeadSourcesQuery,
    ProductSalesOut,
    ProductSalesQuery,
    ReportQuery,
    SalesPerformanceOut,
    SalesPerformanceQuery,
    ScheduleIn,
    ScheduleListParams,
    ScheduleOut,
    SchedulePage,
    SchedulePatch,
)
from crm.reports.selectors import Report, ReportKind

router = Router(tags=["reports"])


def _report(request: HttpRequest, kind: str, query: ReportQuery) -> Report:
    filters = selectors.filters_from(query.model_dump(), kind=kind)
    return selectors.report_build(actor=actor(request), kind=kind, filters=filters)


def _json(report: Report) -> dict[str, Any]:
    return {
        "kind": report.kind,
        "title": report.title,
        "filters": report.filters.as_json(),
        "columns": [asdict(c) for c in report.columns],
        "rows": report.rows,
        "totals": report.totals,
        **{k: v for k, v in report.series.items() if k in ("categories", "weeks")},
    }


def _file(report: Report, file_format: str) -> HttpResponse:
    response = HttpResponse(
        report_file(report, file_format), content_type=CONTENT_TYPES[file_format]
    )
    response["Content-Disposition"] = f'attachment; filename="{file_name(report, file_format)}"'
    return response


@router.get(
    "/reports/sales-performance",
    response=r({200: SalesPerformanceOut}),
    operation_id="report_sales_performance",
)
def sales_performance(request: HttpRequest, query: Query[SalesPerformanceQuery]) -> Any:
    """Per rep: deals won (count, amount) in the period, open pipeline now, activities logged,
    and the share of the period's leads that became a won deal."""
    return _json(_report(request, ReportKind.SALES_PERFORMANCE, query))


@router.get(
    "/reports/sales-performance/export",
    response=r({200: None}),
    operation_id="report_sales_performance_export",
)
def sales_performance_export(
    request: HttpRequest, query: Query[SalesPerformanceQuery], file_format: FormatName = "csv"
) -> HttpResponse:
    return _file(_report(request, ReportKind.SALES_PERFORMANCE, query), file_format)


@router.get(
    "/reports/product-sales",
    response=r({200: ProductSalesOut}),
    operation_id="report_product_sales",
)
def product_sales(request: HttpRequest, query: Query[ProductSalesQuery]) -> Any:
    """Quantity and revenue by product and by category (cancelled and refunded orders left out)."""
    return _json(_report(request, ReportKind.PRODUCT_SALES, query))


@router.get(
    "/reports/product-sales/export",
    response=r({200: None}),
    operation_id="report_product_sales_export",
)
def product_sales_export(
    request: HttpRequest, query: Query[ProductSalesQuery], file_format: FormatName = "csv"
) -> HttpResponse:
    return _file(_report(request, ReportKind.PRODUCT_SALES, query), file_format)


@router.get(
    "/reports/activity-counts",
    response=r({200: ActivityCountsOut}),
    operation_id="report_activity_counts",
)
def activity_counts(request: HttpRequest, query: Query[ActivityCountsQuery]) -> Any:
    """Activities by rep and kind, and by week (weeks start on Monday, tenant time)."""
    return _json(_report(request, ReportKind.ACTIVITY_COUNTS, query))


@router.get(
    "/reports/activity-counts/export",
    response=r({200: None}),
    operation_id="report_activity_counts_export",
)
def activity_counts_export(
    request: HttpRequest, query: Query[ActivityCountsQuery], file_format: FormatName = "csv"
) -> HttpResponse:
    return _file(_report(request, ReportKind.ACTIVITY_COUNTS, query), file_format)


@router.get(
    "/reports/lead-sources", response=r({200: LeadSourcesOut}), operation_id="report_lead_sources"
)
def lead_sources(request: HttpRequest, query: Query[LeadSourcesQuery]) -> Any:
    """Leads of the period by source: converted, became a won deal, and the amount won."""
    return _json(_report(request, ReportKind.LEAD_SOURCES, query))


@router.get(
    "/reports/lead-sources/export",
    response=r({200: None}),
    operation_id="report_lead_sources_export",
)
def lead_sources_export(
    request: HttpRequest, query: Query[LeadSourcesQuery], file_format: FormatName = "csv"
) -> HttpResponse:
    return _file(_report(request, ReportKind.LEAD_SOURCES, query), file_format)


# --- schedules ----------------------------------------------------------------------------------


@router.get(
    "/reports/schedules", response=r({200: SchedulePage}), operation_id="report_schedule_list"
)
def schedule_list(request: HttpRequest, params: Query[ScheduleListParams]) -> Any:
    """Your report schedules (an admin sees every schedule of the company)."""
    return paginated(selectors.schedule_list(actor=actor(request)), params)


@router.post(
    "/reports/schedules", response=r({201: ScheduleOut}), operation_id="report_schedule_create"
)
def schedule_create(request: HttpRequest, payload: ScheduleIn) -> Status[ReportSchedule]:
    """Mail a report every Monday (for the week before) or on the 1st (for the month before)."""
    values = payload.given(exclude=("filters",))
    values["filters"] = payload.filters.stored() if payload.filters else {}
    return created(services.schedule_create(actor=actor(request), values=values))


@router.get(
    "/reports/schedules/{schedule_id}",
    response=r({200: ScheduleOut}),
    operation_id="report_schedule_get",
)
def schedule_get(request: HttpRequest, schedule_id: Path[Id]) -> ReportSchedule:
    return selectors.schedule_get(actor=actor(request), schedule_id=schedule_id)


@router.patch(
    "/reports/schedules/{schedule_id}",
    response=r({200: ScheduleOut}),
    operation_id="report_schedule_update",
)
def schedule_update(
    request: HttpRequest, schedule_id: Path[Id], payload: SchedulePatch
) -> ReportSchedule:
    schedule = selectors.schedule_get(actor=actor(request), schedule_id=schedule_id)
    values = payload.given(exclude=("filters",))
    if payload.sent("filters") and payload.filters is not None:
        values["filters"] = payload.filters.stored()
    return services.schedule_update(actor=actor(request), schedule=schedule, values=values)


@router.delete(
    "/reports/schedules/{schedule_id}",
    response=r({204: None}),
    operation_id="report_schedule_delete",
)
def schedule_delete(request: HttpRequest, schedule_id: Path[Id]) -> Status[None]:
    schedule = selectors.schedule_get(actor=actor(request), schedule_id=schedule_id)
    services.schedule_delete(actor=actor(request), schedule=schedule)
    return no_content()


@router.get(
    "/reports/schedules/{schedule_id}/deliveries",
    response=r({200: DeliveryPage}),
    operation_id="report_delivery_list",
)
def delivery_list(
    request: HttpRequest, schedule_id: Path[Id], params: Query[ScheduleListParams]
) -> Any:
    """The periods already sent, newest first."""
    schedule = selectors.schedule_get(actor=actor(request), schedule_id=schedule_id)
    return paginated(selectors.delivery_list(schedule=schedule), params)
