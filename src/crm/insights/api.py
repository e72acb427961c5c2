"""API of crm.insights (mounted under /api/v1 by crm.api): customer insights, segments, runs,
the churn playbook's preview and settings. Read operations need the `read` scope; triggering a
recompute and changing settings need `write`. Customers are visible as their contacts are."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Path, Query, Router, Status

from crm.core.api import Id, actor, paginated
from crm.core.api import responses as r
from crm.insights import selectors, services
from crm.insights.models import CustomerInsight, InsightRun, InsightSettings
from crm.insights.playbook import playbook_preview
from crm.insights.schemas import (
    CustomerInsightFilter,
    CustomerInsightOut,
    CustomerInsightPage,
    InsightRunOut,
    InsightRunPage,
    PlaybookPreviewOut,
    PlaybookSettingsIn,
    PlaybookSettingsOut,
    RunFilter,
    SegmentsOut,
)

router = Router(tags=["insights"])


@router.get(
    "/insights/customers",
    response=r({200: CustomerInsightPage}),
    operation_id="insight_customer_list",
)
def customer_list(request: HttpRequest, filters: Query[CustomerInsightFilter]) -> dict[str, Any]:
    qs = selectors.insight_list(actor=actor(request), **filters.selector_kwargs())
    return paginated(qs, filters)


@router.get(
    "/insights/customers/{contact_id}",
    response=r({200: CustomerInsightOut}),
    operation_id="insight_customer_get",
)
def customer_get(request: HttpRequest, contact_id: Path[Id]) -> CustomerInsight:
    return selectors.insight_get(actor=actor(request), contact_id=contact_id)


@router.get("/insights/segments", response=r({200: SegmentsOut}), operation_id="insight_segments")
def segments(request: HttpRequest) -> dict[str, Any]:
    return {"items": selectors.segment_summary(actor=actor(request))}


@router.get("/insights/runs", response=r({200: InsightRunPage}), operation_id="insight_run_list")
def run_list(request: HttpRequest, filters: Query[RunFilter]) -> dict[str, Any]:
    return paginated(selectors.run_list(), filters)


@router.post("/insights/runs", response=r({202: InsightRunOut}), operation_id="insight_run_create")
def run_create(request: HttpRequest) -> Status[InsightRun]:
    """Queue a recompute of every customer of the tenant (one at a time: a pending run is
    returned instead of a second one). Poll the run for its status."""
    run = services.insight_run_request(actor=actor(request), trigger="api")
    return Status(202, selectors.run_get(run_id=run.pk))


@router.get(
    "/insights/runs/{run_id}", response=r({200: InsightRunOut}), operation_id="insight_run_get"
)
def run_get(request: HttpRequest, run_id: Path[Id]) -> InsightRun:
    return selectors.run_get(run_id=run_id)


@router.get(
    "/insights/playbook/preview",
    response=r({200: PlaybookPreviewOut}),
    operation_id="insight_playbook_preview",
)
def playbook_preview_get(request: HttpRequest) -> Any:
    """Dry run of the churn playbook: who would get a coupon, an email and a task now, and why."""
    return playbook_preview(actor=actor(request))


@router.get(
    "/insights/playbook/settings",
    response=r({200: PlaybookSettingsOut}),
    operation_id="insight_playbook_settings_get",
)
def settings_get(request: HttpRequest) -> InsightSettings:
    return selectors.settings_get()


@router.put(
    "/insights/playbook/settings",
    response=r({200: PlaybookSettingsOut}),
    operation_id="insight_playbook_settings_update",
)
def settings_update(request: HttpRequest, payload: PlaybookSettingsIn) -> InsightSettings:
    return services.insight_settings_update(actor=actor(request), values=payload.given())
