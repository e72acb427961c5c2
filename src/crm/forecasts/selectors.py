"""Reads of crm.forecasts: stage history, open deals, won amounts and orders loaded in bulk
(``values_list`` into numpy / pandas, never row by row) within the actor's record visibility,
fed to the pure functions of :mod:`crm.insights.analytics`.

Filters by id (pipeline, owner, team) that match nothing visible give empty results, as list
filters do; pages turn an unknown pipeline into a 404 themselves.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from django.db.models import Q, QuerySet
from django.utils import timezone

from crm.core.errors import NotFoundError
from crm.forecasts.models import Quota
from crm.forecasts.rollup import prorated_quotas, rollup
from crm.insights.analytics.funnel import FunnelReport, funnel_metrics
from crm.insights.analytics.pipeline import (
    PipelineForecast,
    WhatIf,
    pipeline_forecast,
    stage_win_rates,
    what_if,
)
from crm.sales.models import Opportunity, Pipeline, Stage, StageChange
from crm.tenancy.models import Membership, Team
from crm.tenancy.permissions import visible_q
from crm.tenancy.selectors import visible_members

CHANGE_COLUMNS = ["opportunity_id", "from_stage", "to_stage", "at", "amount"]


# --- small helpers ------------------------------------------------------------------------------


def tenant_zone(actor: Membership) -> ZoneInfo:
    try:
        return ZoneInfo(actor.tenant.time_zone or "UTC")
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


def today_for(actor: Membership) -> date:
    return timezone.now().astimezone(tenant_zone(actor)).date()


def day_bounds(actor: Membership, start: date, end: date) -> tuple[datetime, datetime]:
    """[start 00:00, end+1 00:00) in the tenant's time zone, as aware datetimes."""
    zone = tenant_zone(actor)
    low = datetime.combine(start, datetime.min.time(), tzinfo=zone)
    high = datetime.combine(end + timedelta(days=1), datetime.min.time(), tzinfo=zone)
    return low, high


def month_bounds(day: date) -> tuple[date, date]:
    first = day.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return first, following - timedelta(days=1)


def floats(values: Iterable[Any]) -> np.ndarray:
    """Decimals (or None) to a float array in one pass."""
    return np.fromiter((float(v) if v is not None else np.nan for v in values), dtype=float)


def transpose(rows: Iterable[tuple[Any, ...]], width: int) -> list[tuple[Any, ...]]:
    """values_list rows to one tuple per column (``width`` empty ones when there are none)."""
    columns = list(zip(*rows, strict=True))
    return columns if columns else [() for _ in range(width)]


def pipeline_list() -> QuerySet[Pipeline]:
    return Pipeline.objects.order_by("-is_default", "id")


def pipeline_pick(pipeline_id: int | None) -> Pipeline | None:
    """The named pipeline of this tenant, or the default one when no id is given."""
    if pipeline_id is not None:
        return Pipeline.objects.filter(pk=pipeline_id).first()
    return pipeline_list().first()


def member_choices(actor: Membership) -> list[Membership]:
    """Members whose records the actor may see, for owner pickers."""
    return list(visible_members(actor))


def team_choices(actor: Membership) -> list[Team]:
    return list(Team.objects.order_by("name"))


@dataclass(frozen=True)
class StageRow:
    id: int
    name: str
    order: int
    probability: int
    is_won: bool
    is_lost: bool

    @property
    def is_open(self) -> bool:
        return not (self.is_won or self.is_lost)


def stages_of(pipeline_id: int) -> list[StageRow]:
    rows = Stage.objects.filter(pipeline_id=pipeline_id).order_by("order", "id")
    return [
        StageRow(*values)
        for values in rows.values_list("id", "name", "order", "probability", "is_won", "is_lost")
    ]


def stage_frame(stages: list[StageRow]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "order": [s.order for s in stages],
            "is_won": [s.is_won for s in stages],
            "is_lost": [s.is_lost for s in stages],
            "probability": [float(s.probability) for s in stages],
        },
        index=pd.Index([s.id for s in stages], name="stage"),
    )


def visible_opportunities(
    actor: Membership, *, owner_id: int | None = None, team_id: int | None = None
) -> QuerySet[Opportunity]:
    qs = Opportunity.objects.filter(visible_q(actor), deleted_at__isnull=True)
    if owner_id is not None:
        qs = qs.filter(owner_id=owner_id)
    if team_id is not None:
        qs = qs.filter(owner__team_id=team_id)
    return qs


# --- stage history ------------------------------------------------------------------------------


def stage_changes_frame(
    actor: Membership,
    *,
    pipeline_id: int,
    owner_id: int | None = None,
    team_id: int | None = None,
) -> pd.DataFrame:
    """Every visible stage change of the pipeline's live opportunities, in (deal, time) order."""
    opportunities = visible_opportunities(actor, owner_id=owner_id, team_id=team_id).filter(
        pipeline_id=pipeline_id
    )
    rows = (
        StageChange.objects.filter(opportunity__in=opportunities.values("pk"))
        .order_by("opportunity_id", "at", "id")
        .values_list("opportunity_id", "from_stage_id", "to_stage_id", "at", "amount")
    )
    columns = transpose(rows, len(CHANGE_COLUMNS))
    return pd.DataFrame(
        {
            "opportunity_id": np.asarray(columns[0], dtype=np.int64),
            "from_stage": pd.array(columns[1], dtype="Int64"),
            "to_stage": np.asarray(columns[2], dtype=np.int64),
            "at": pd.to_datetime(pd.Series(columns[3], dtype=object), utc=True),
            "amount": floats(columns[4]),
        }
    )


def created_within(
    changes: pd.DataFrame, zone: ZoneInfo, start: date | None, end: date | None
) -> pd.DataFrame:
    """The changes of deals whose first change (creation) falls in [start, end], local days."""
    if changes.empty or (start is None and end is None):
        return changes
    first = changes.groupby("opportunity_id")["at"].transform("min")
    local = first.dt.tz_convert(zone).dt.date
    keep = pd.Series(True, index=changes.index)
    if start is not None:
        keep &= local >= start
    if end is not None:
        keep &= local <= end
    return changes.loc[keep]


# --- funnel -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FunnelView:
    pipeline: Pipeline | None
    stages: list[StageRow]
    report: FunnelReport | None
    start: date | None = None
    end: date | None = None


def funnel(
    *,
    actor: Membership,
    pipeline_id: int | None = None,
    owner_id: int | None = None,
    team_id: int | None = None,
    start: date | None = None,
    end: date | None = None,
) -> FunnelView:
    """Funnel metrics of one pipeline (default: the tenant's default pipeline) over the deals
    the actor may see, optionally of one owner or team, created in [start, end]."""
    pipeline = pipeline_pick(pipeline_id)
    if pipeline is None:
        return FunnelView(None, [], None, start, end)
    stages = stages_of(pipeline.pk)
    if not stages:
        return FunnelView(pipeline, [], None, start, end)
    changes = stage_changes_frame(
        actor, pipeline_id=pipeline.pk, owner_id=owner_id, team_id=team_id
    )
    zone = tenant_zone(actor)
    changes = created_within(changes, zone, start, end)
    report = funnel_metrics(changes, stage_frame(stages), as_of=timezone.now(), tz=str(zone))
    return FunnelView(pipeline, stages, report, start, end)


# --- pipeline forecast --------------------------------------------------------------------------


@dataclass(frozen=True)
class Override:
    """A what-if change for one stage (None: leave as learned)."""

    stage_id: int
    win_rate: float | None = None
    avg_deal_size: float | None = None
    cycle_days: float | None = None


@dataclass
class PipelinePart:
    pipeline: Pipeline
    stages: list[StageRow]
    forecast: PipelineForecast
    win_rates: pd.DataFrame


@dataclass
class PipelineView:
    start: date
    end: date
    as_of: date
    parts: list[PipelinePart]
    deals: pd.DataFrame
    closed: pd.DataFrame
    by_owner: pd.DataFrame
    by_team: pd.DataFrame
    totals: dict[str, float]
    members: dict[int, Membership] = field(default_factory=dict)
    teams: dict[int, Team] = field(default_factory=dict)


OPEN_COLUMNS = (
    "pk",
    "pipeline_id",
    "stage_id",
    "amount",
    "probability",
    "expected_close_date",
    "stage_entered_at",
    "owner_id",
    "owner__team_id",
)


def open_deals_frame(qs: QuerySet[Opportunity]) -> pd.DataFrame:
    rows = list(qs.filter(closed_at__isnull=True).order_by("pk").values_list(*OPEN_COLUMNS))
    cols = transpose(rows, len(OPEN_COLUMNS))
    return pd.DataFrame(
        {
            "opportunity_id": np.asarray(cols[0], dtype=np.int64),
            "pipeline_id": np.asarray(cols[1], dtype=np.int64),
            "stage": np.asarray(cols[2], dtype=np.int64),
            "amount": floats(cols[3]),
            "probability": floats(cols[4]),
            "expected_close_date": pd.to_datetime(pd.Series(cols[5], dtype=object)),
            "stage_entered_at": pd.to_datetime(pd.Series(cols[6], dtype=object), utc=True),
            "owner_id": pd.array(cols[7], dtype="Int64"),
            "team_id": pd.array(cols[8], dtype="Int64"),
        }
    )


def closed_won_frame(
    qs: QuerySet[Opportunity], low: datetime, high: datetime, pipeline_ids: list[int]
) -> pd.DataFrame:
    rows = list(
        qs.filter(
            pipeline_id__in=pipeline_ids,
            stage__is_won=True,
            closed_at__gte=low,
            closed_at__lt=high,
        ).values_list("owner_id", "owner__team_id", "amount")
    )
    cols = transpose(rows, 3)
    return pd.DataFrame(
        {
            "owner_id": pd.array(cols[0], dtype="Int64"),
            "team_id": pd.array(cols[1], dtype="Int64"),
            "amount": floats(cols[2]),
        }
    )


def quota_frame(actor: Membership, start: date, end: date) -> pd.DataFrame:
    rows = list(
        quota_list(actor=actor, start=start, end=end).values_list(
            "member_id", "member__team_id", "period_start", "period_end", "amount"
        )
    )
    cols = transpose(rows, 5)
    return pd.DataFrame(
        {
            "member_id": np.asarray(cols[0], dtype=np.int64),
            "team_id": pd.array(cols[1], dtype="Int64").fillna(0).astype(int),
            "period_start": list(cols[2]),
            "period_end": list(cols[3]),
            "amount": floats(cols[4]),
        }
    )


def _what_if_for(stages: list[StageRow], overrides: Iterable[Override]) -> WhatIf | None:
    ids = {s.id for s in stages}
    mine = [o for o in overrides if o.stage_id in ids]
    if not mine:
        return None
    return WhatIf(
        win_rate={o.stage_id: o.win_rate for o in mine if o.win_rate is not None},
        avg_deal_size={o.stage_id: o.avg_deal_size for o in mine if o.avg_deal_size is not None},
        cycle_days={o.stage_id: o.cycle_days for o in mine if o.cycle_days is not None},
    )


def pipeline_view(
    *,
    actor: Membership,
    start: date,
    end: date,
    pipeline_id: int | None = None,
    owner_id: int | None = None,
    team_id: int | None = None,
    overrides: Iterable[Override] = (),
) -> PipelineView:
    """The period's pipeline forecast over the visible open deals, per pipeline (each with its
    stages' learned win rates and days in stage), rolled up per rep, team and tenant against
    the quotas; with ``overrides`` the what-if version of the same (nothing is saved)."""
    overrides = list(overrides)
    pipelines = (
        list(Pipeline.objects.filter(pk=pipeline_id))
        if pipeline_id is not None
        else list(pipeline_list())
    )
    as_of = today_for(actor)
    qs = visible_opportunities(actor, owner_id=owner_id, team_id=team_id)
    open_deals = open_deals_frame(qs.filter(pipeline_id__in=[p.pk for p in pipelines]))
    parts: list[PipelinePart] = []
    frames: list[pd.DataFrame] = []
    for pipeline in pipelines:
        stages = stages_of(pipeline.pk)
        if not stages:
            continue
        table = stage_frame(stages)
        changes = stage_changes_frame(
            actor, pipeline_id=pipeline.pk, owner_id=owner_id, team_id=team_id
        )
        rates = stage_win_rates(changes, table)
        deals = open_deals.loc[open_deals["pipeline_id"] == pipeline.pk].reset_index(drop=True)
        result = pipeline_forecast(
            deals, table, (start, end), win_rates=rates, as_of=as_of, use_expected_close=True
        )
        change = _what_if_for(stages, overrides)
        if change is not None:
            result = what_if(result, change)
        parts.append(PipelinePart(pipeline, stages, result, rates))
        frames.append(result.deals)
    deals = pd.concat(frames, ignore_index=True) if frames else _empty_deals()
    low, high = day_bounds(actor, start, end)
    closed = closed_won_frame(qs, low, high, [p.pk for p in pipelines])
    # Unowned deals (and owners without a team) roll up under 0: "unassigned".
    deals = deals.assign(
        owner_id=deals["owner_id"].fillna(0).astype(int),
        team_id=deals["team_id"].fillna(0).astype(int),
    )
    closed = closed.assign(
        owner_id=closed["owner_id"].fillna(0).astype(int),
        team_id=closed["team_id"].fillna(0).astype(int),
    )
    quotas = quota_frame(actor, start, end)
    if owner_id is not None:
        quotas = quotas.loc[quotas["member_id"] == owner_id]
    if team_id is not None:
        quotas = quotas.loc[quotas["team_id"] == team_id]
    member_quota = prorated_quotas(quotas, start, end)
    team_of = quotas.drop_duplicates("member_id").set_index("member_id")["team_id"]
    team_quota = member_quota.groupby(team_of.reindex(member_quota.index).to_numpy()).sum()
    by_owner = rollup(deals, closed, member_quota, "owner_id")
    by_team = rollup(deals, closed, team_quota, "team_id")
    everyone = rollup(
        deals.assign(all=0), closed.assign(all=0), pd.Series({0: member_quota.sum()}), "all"
    )
    totals = {k: float(v) for k, v in everyone.iloc[0].items()} if len(everyone) else {}
    if member_quota.empty:
        totals.update(quota=float("nan"), attainment=float("nan"), commit_vs_quota=float("nan"))
    ids = [int(i) for i in by_owner.index if i]
    members = {m.pk: m for m in Membership.objects.filter(pk__in=ids).select_related("user")}
    team_ids = [int(i) for i in by_team.index if i]
    teams = {t.pk: t for t in Team.objects.filter(pk__in=team_ids)}
    return PipelineView(
        start, end, as_of, parts, deals, closed, by_owner, by_team, totals, members, teams
    )


def _empty_deals() -> pd.DataFrame:
    return pd.DataFrame(
        {
            name: pd.Series(dtype=dtype)
            for name, dtype in (
                ("opportunity_id", "int64"),
                ("owner_id", "Int64"),
                ("team_id", "Int64"),
                ("amount", "float"),
                ("category", "object"),
                ("in_period", "bool"),
                ("weighted_stage", "float"),
                ("weighted_win_rate", "float"),
            )
        }
    )


def open_stage_ids(*, pipeline_id: int | None = None) -> set[int]:
    qs = Stage.objects.filter(is_won=False, is_lost=False)
    if pipeline_id is not None:
        qs = qs.filter(pipeline_id=pipeline_id)
    return set(qs.values_list("pk", flat=True))


# --- quotas -------------------------------------------------------------------------------------


def quota_list(
    *,
    actor: Membership,
    member_id: int | None = None,
    team_id: int | None = None,
    start: date | None = None,
    end: date | None = None,
) -> QuerySet[Quota]:
    """Quotas of the members the actor may see; with start/end, those overlapping the period."""
    qs = Quota.objects.filter(visible_q(actor, "member"))
    if member_id is not None:
        qs = qs.filter(member_id=member_id)
    if team_id is not None:
        qs = qs.filter(member__team_id=team_id)
    if start is not None:
        qs = qs.filter(period_end__gte=start)
    if end is not None:
        qs = qs.filter(period_start__lte=end)
    return qs.select_related("member", "member__user").order_by("-period_start", "member_id", "id")


def quota_get(*, actor: Membership, quota_id: int) -> Quota:
    quota = quota_list(actor=actor).filter(pk=quota_id).first()
    if quota is None:
        raise NotFoundError("No such quota.")
    return quota


def overlapping_quota(
    *, member_id: int, start: date, end: date, exclude: Q | None = None
) -> Quota | None:
    qs = Quota.objects.filter(member_id=member_id, period_start__lte=end, period_end__gte=start)
    if exclude is not None:
        qs = qs.exclude(exclude)
    return qs.first()


def decimal_or_none(value: float | None) -> Decimal | None:
    return None if value is None or not np.isfinite(value) else Decimal(str(round(value, 2)))
