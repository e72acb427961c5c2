"""Schemas of the forecasts API: filters, the quota body, the what-if body and the outputs."""

from __future__ import annotations

from datetime import date
from typing import Literal

from ninja import Field, Schema

from crm.core.api import Currency, Day, Id, InSchema, ListParams, Str100, optional, page_of
from crm.sales.schemas import Cents, Money


class DateRange(Schema):
    start: Day | None = Field(None, description="First day (inclusive), tenant's calendar.")
    end: Day | None = Field(None, description="Last day (inclusive).")


# --- sales forecast -----------------------------------------------------------------------------


class SalesForecastFilter(Schema):
    freq: Literal["D", "W", "M"] = Field("D", description="D: days, W: weeks, M: months.")
    horizon: int = Field(
        30, ge=1, le=2**31 - 1, description="Periods ahead: at most 366 (D), 104 (W), 36 (M)."
    )
    source: Literal["orders", "won"] = Field(
        "orders", description="orders: order totals; won: amounts of won opportunities."
    )
    owner_id: Id | None = None
    team_id: Id | None = None
    category: Str100 = Field("", description="Product category of order lines (orders only).")


class HistoryPoint(Schema):
    period: date
    value: float


class ForecastPoint(Schema):
    period: date
    point: float
    lower_80: float
    upper_80: float
    lower_95: float
    upper_95: float


class SalesForecastOut(Schema):
    freq: str
    horizon: int
    source: str
    season_length: int
    model: str = Field(..., description="The candidate chosen by the rolling-origin backtest.")
    model_detail: str
    backtest_mase: float | None = Field(..., description="The chosen model's mean MASE.")
    seasonal_naive_mase: float | None
    candidate_mase: dict[str, float | None]
    backtest_folds: int
    backtest_horizon: int
    notes: list[str]
    history: list[HistoryPoint]
    forecast: list[ForecastPoint]
    total_point: float


# --- funnel -------------------------------------------------------------------------------------


class FunnelFilter(DateRange):
    pipeline_id: Id | None = Field(None, description="Default: the default pipeline.")
    owner_id: Id | None = None
    team_id: Id | None = None


class FunnelStageOut(Schema):
    stage_id: int
    name: str
    order: int
    probability: int
    is_open: bool
    is_won: bool
    is_lost: bool
    reached: int | None
    in_stage: int
    exited: int | None
    converted_next: int | None
    conversion_next: float | None
    closed: int | None
    won: int | None
    conversion_won: float | None
    avg_amount: float | None
    amount_deals: int
    visits: int
    avg_days: float | None
    median_days: float | None
    open_days_mean: float | None


class FunnelOut(Schema):
    pipeline_id: int | None
    pipeline_name: str
    start: date | None
    end: date | None
    deals: int
    open_deals: int
    won: int
    lost: int
    win_rate: float | None
    avg_won_amount: float | None
    avg_cycle_days: float | None
    sales_velocity: float | None = Field(..., description="Amount expected to be won per day.")
    stages: list[FunnelStageOut]
    notes: list[str]


class CohortStageOut(Schema):
    stage_id: int
    name: str


class CohortOut(Schema):
    month: str
    deals: int
    open: int
    won: int
    lost: int
    win_rate: float | None
    counts: list[int] = Field(..., description="Deals now in each stage, in `stages` order.")


class CohortsOut(Schema):
    pipeline_id: int | None
    pipeline_name: str
    stages: list[CohortStageOut]
    cohorts: list[CohortOut]


# --- pipeline forecast and what-if --------------------------------------------------------------


class PipelineFilter(DateRange):
    pipeline_id: Id | None = Field(None, description="Default: every pipeline.")
    owner_id: Id | None = None
    team_id: Id | None = None


class StageForecastOut(Schema):
    stage_id: int
    name: str
    deals: int
    amount: float
    weighted_stage: float
    weighted_win_rate: float
    probability: int = Field(..., description="The stage's nominal probability, percent.")
    win_rate: float | None = Field(..., description="Learned win rate from this stage (0..1).")
    win_rate_n: int = Field(..., description="Closed deals the learned rate is based on.")
    win_rate_low: float | None
    win_rate_high: float | None
    avg_days: float | None
    avg_amount: float | None


class PipelinePartOut(Schema):
    pipeline_id: int
    pipeline_name: str
    stages: list[StageForecastOut]


class RollupOut(Schema):
    id: int | None = Field(..., description="Member or team id; null: unassigned.")
    name: str
    deals: int
    closed_won: float
    commit: float
    best_case: float
    pipeline: float
    weighted_stage: float
    weighted_win_rate: float
    quota: float | None
    attainment: float | None
    commit_vs_quota: float | None


class TotalsOut(Schema):
    deals: int
    closed_won: float
    commit: float
    best_case: float
    pipeline: float
    weighted_stage: float
    weighted_win_rate: float
    quota: float | None
    attainment: float | None
    commit_vs_quota: float | None


class PipelineForecastOut(Schema):
    start: date
    end: date
    as_of: date
    totals: TotalsOut
    by_owner: list[RollupOut]
    by_team: list[RollupOut]
    pipelines: list[PipelinePartOut]


class StageOverrideIn(InSchema):
    stage_id: Id
    win_rate: float | None = optional(ge=0, le=1, description="0..1 instead of the learned rate.")
    avg_deal_size: float | None = optional(ge=0, le=1e13, description="Mean amount of the deals.")
    cycle_days: float | None = optional(ge=0, le=3650, description="Average days in the stage.")


class WhatIfIn(InSchema):
    start: Day | None = optional(description="Default: the first day of this month.")
    end: Day | None = optional(description="Default: the last day of this month.")
    pipeline_id: Id | None = optional()
    owner_id: Id | None = optional()
    team_id: Id | None = optional()
    overrides: list[StageOverrideIn] = Field(default_factory=list, max_length=200)


class WhatIfOut(Schema):
    base: PipelineForecastOut
    what_if: PipelineForecastOut
    change: TotalsOut = Field(..., description="what_if minus base.")
    saved: bool = Field(False, description="Always false: a what-if changes nothing.")


# --- quotas -------------------------------------------------------------------------------------


class QuotaFilter(ListParams, DateRange):
    member_id: Id | None = None
    team_id: Id | None = None


class QuotaIn(InSchema):
    member_id: Id
    period_start: date
    period_end: date
    amount: Money
    currency: Currency | None = optional()


class QuotaOut(Schema):
    id: int
    member_id: int
    member_name: str
    period_start: date
    period_end: date
    amount: Cents
    currency: str

    @staticmethod
    def resolve_member_name(obj: object) -> str:
        return str(getattr(obj, "member", ""))


QuotaPage = page_of(QuotaOut)
