"""API of crm.forecasts (mounted under /api/v1 by crm.api): sales and pipeline forecasts,
funnel metrics and cohorts, what-if, quotas."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Path, Query, Router, Status

from crm.core.api import Id, actor, no_content, paginated
from crm.core.api import responses as r
from crm.core.writes import field_error
from crm.events.crud import resolve
from crm.forecasts import present, sales, selectors, services
from crm.forecasts.models import Quota
from crm.forecasts.schemas import (
    CohortsOut,
    FunnelFilter,
    FunnelOut,
    PipelineFilter,
    PipelineForecastOut,
    QuotaFilter,
    QuotaIn,
    QuotaOut,
    QuotaPage,
    SalesForecastFilter,
    SalesForecastOut,
    WhatIfIn,
    WhatIfOut,
)
from crm.sales.models import Pipeline
from crm.tenancy.models import Membership, Team

router = Router(tags=["forecasts"])


def _ordered(start: date | None, end: date | None) -> None:
    if start is not None and end is not None and end < start:
        raise field_error("end", _("The end is before the start."))


def _period(request: HttpRequest, start: date | None, end: date | None) -> tuple[date, date]:
    """The given period, else this month (tenant's calendar)."""
    _ordered(start, end)
    first, last = selectors.month_bounds(selectors.today_for(actor(request)))
    start = start or (first if end is None or end >= first else end.replace(day=1))
    end = end or max(last, start)
    return start, end


@router.get(
    "/forecasts/sales",
    response=r({200: SalesForecastOut}),
    operation_id="forecast_sales",
)
def forecast_sales(request: HttpRequest, filters: Query[SalesForecastFilter]) -> dict[str, Any]:
    """Revenue forecast per day, week or month with 80% / 95% intervals; the model is chosen
    per series by a rolling-origin backtest (MASE) among naive, seasonal naive, ETS, ARIMA,
    Theta and their combination. Bad `freq` or a horizon over the limit: 422."""
    view = sales.sales_forecast(actor=actor(request), **filters.model_dump())
    return view.data


@router.get(
    "/forecasts/pipeline",
    response=r({200: PipelineForecastOut}),
    operation_id="forecast_pipeline",
)
def forecast_pipeline(request: HttpRequest, filters: Query[PipelineFilter]) -> dict[str, Any]:
    """The period's pipeline forecast (default: this month): stage-weighted and win-rate-weighted
    amounts, commit / best case / pipeline per rep, team and tenant, against quotas."""
    start, end = _period(request, filters.start, filters.end)
    view = selectors.pipeline_view(
        actor=actor(request),
        start=start,
        end=end,
        pipeline_id=filters.pipeline_id,
        owner_id=filters.owner_id,
        team_id=filters.team_id,
    )
    return present.pipeline_data(view)


@router.post(
    "/forecasts/what-if",
    response=r({200: WhatIfOut}),
    operation_id="forecast_what_if",
)
def forecast_what_if(request: HttpRequest, payload: WhatIfIn) -> dict[str, Any]:
    """The period forecast with changed win rates, average deal sizes or days per stage, beside
    the unchanged one. Nothing is saved."""
    member = actor(request)
    start, end = _period(request, payload.start, payload.end)
    resolve(Pipeline, payload.pipeline_id, "pipeline_id")
    resolve(Membership, payload.owner_id, "owner_id")
    resolve(Team, payload.team_id, "team_id")
    allowed = selectors.open_stage_ids(pipeline_id=payload.pipeline_id)
    overrides = []
    for i, item in enumerate(payload.overrides):
        if item.stage_id not in allowed:
            raise field_error(f"overrides.{i}.stage_id", _("No such open stage."))
        overrides.append(
            selectors.Override(item.stage_id, item.win_rate, item.avg_deal_size, item.cycle_days)
        )
    common: dict[str, Any] = {
        "actor": member,
        "start": start,
        "end": end,
        "pipeline_id": payload.pipeline_id,
        "owner_id": payload.owner_id,
        "team_id": payload.team_id,
    }
    base = present.pipeline_data(selectors.pipeline_view(**common))
    changed = present.pipeline_data(selectors.pipeline_view(**common, overrides=overrides))
    return {
        "base": base,
        "what_if": changed,
        "change": present.totals_change(base["totals"], changed["totals"]),
        "saved": False,
    }


@router.get("/funnel", response=r({200: FunnelOut}), operation_id="funnel_get")
def funnel_get(request: HttpRequest, filters: Query[FunnelFilter]) -> dict[str, Any]:
    """Per stage: conversion to the next stage and to won, average amount, average and median
    days in stage; win rate and sales velocity. Period: deals created in [start, end]."""
    _ordered(filters.start, filters.end)
    return present.funnel_data(selectors.funnel(actor=actor(request), **filters.model_dump()))


@router.get("/funnel/cohorts", response=r({200: CohortsOut}), operation_id="funnel_cohorts")
def funnel_cohorts(request: HttpRequest, filters: Query[FunnelFilter]) -> dict[str, Any]:
    """Deals by the month they were created, counted by the stage they are in now."""
    _ordered(filters.start, filters.end)
    return present.cohorts_data(selectors.funnel(actor=actor(request), **filters.model_dump()))


@router.get("/quotas", response=r({200: QuotaPage}), operation_id="quota_list", tags=["quotas"])
def quota_list(request: HttpRequest, filters: Query[QuotaFilter]) -> dict[str, Any]:
    _ordered(filters.start, filters.end)
    qs = selectors.quota_list(actor=actor(request), **filters.selector_kwargs())
    return paginated(qs, filters)


@router.post(
    "/quotas",
    response=r({200: QuotaOut, 201: QuotaOut}),
    operation_id="quota_set",
    tags=["quotas"],
)
def quota_set(request: HttpRequest, payload: QuotaIn) -> Status[Quota]:
    """Set a member's quota for a period (managers: their team; admins: anyone). The same
    member and period again updates it (200); a new one answers 201."""
    quota, created = services.quota_set(actor=actor(request), **payload.given())
    return Status(201 if created else 200, quota)


@router.get(
    "/quotas/{quota_id}", response=r({200: QuotaOut}), operation_id="quota_get", tags=["quotas"]
)
def quota_get(request: HttpRequest, quota_id: Path[Id]) -> Quota:
    return selectors.quota_get(actor=actor(request), quota_id=quota_id)


@router.delete(
    "/quotas/{quota_id}", response=r({204: None}), operation_id="quota_delete", tags=["quotas"]
)
def quota_delete(request: HttpRequest, quota_id: Path[Id]) -> Status[None]:
    quota = selectors.quota_get(actor=actor(request), quota_id=quota_id)
    services.quota_delete(actor=actor(request), quota=quota)
    return no_content()
