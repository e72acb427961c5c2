"""API schemas of crm.reports: report filters and results, schedules and their deliveries."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from ninja import Field, Schema
from pydantic import PlainSerializer

from crm.core.api import Id, InSchema, ListParams, Name200, Str100, optional, page_of
from crm.sales.schemas import Cents

ReportKindName = Literal["sales_performance", "product_sales", "activity_counts", "lead_sources"]
FrequencyName = Literal["weekly", "monthly"]
FormatName = Literal["csv", "xlsx"]
ActivityKindName = Literal["call", "email", "meeting", "visit", "note"]
Amount = Annotated[Decimal, PlainSerializer(lambda v: str(v), return_type=str)]
Percent = float | None

# --- filters (query parameters) -----------------------------------------------------------------


class ReportQuery(Schema):
    """A period of whole days in the tenant's time zone (default: the last 30 days), an owner
    and a team."""

    start: date | None = Field(None, description="First day, YYYY-MM-DD.")
    end: date | None = Field(None, description="Last day (included), YYYY-MM-DD.")
    owner_id: Id | None = None
    team_id: Id | None = None


class SalesPerformanceQuery(ReportQuery):
    pipeline_id: Id | None = None


class ProductSalesQuery(ReportQuery):
    category: Str100 = ""


class ActivityCountsQuery(ReportQuery):
    kind: ActivityKindName | None = None


class LeadSourcesQuery(ReportQuery):
    source: Str100 = ""
    pipeline_id: Id | None = None


# --- results ------------------------------------------------------------------------------------


class ColumnOut(Schema):
    key: str
    label: str
    type: str


class ReportOut(Schema):
    kind: str
    title: str
    filters: dict[str, Any] = Field(..., description="The filters applied, period included.")
    columns: list[ColumnOut]


class SalesRepTotals(Schema):
    won_count: int
    won_amount: Cents
    pipeline_count: int
    pipeline_amount: Cents
    activities: int
    leads: int
    leads_won: int
    conversion_pct: Percent


class SalesRepRow(SalesRepTotals):
    owner_id: int | None
    rep: str


class SalesPerformanceOut(ReportOut):
    rows: list[SalesRepRow]
    totals: SalesRepTotals


class ProductTotals(Schema):
    quantity: Amount
    revenue: Cents
    orders: int
    share_pct: Percent


class CategoryRow(ProductTotals):
    category: str


class ProductRow(ProductTotals):
    product_id: int | None
    product: str
    category: str


class ProductSalesOut(ReportOut):
    rows: list[ProductRow]
    totals: ProductTotals
    categories: list[CategoryRow]


class KindCounts(Schema):
    call: int = 0
    email: int = 0
    meeting: int = 0
    visit: int = 0
    note: int = 0
    total: int


class ActivityRow(KindCounts):
    owner_id: int | None
    rep: str


class WeekRow(KindCounts):
    week: date = Field(..., description="The Monday the week starts on.")


class ActivityCountsOut(ReportOut):
    rows: list[ActivityRow]
    totals: KindCounts
    weeks: list[WeekRow]


class SourceTotals(Schema):
    leads: int
    converted: int
    conversion_pct: Percent
    leads_won: int
    win_pct: Percent
    deals_won: int
    won_amount: Cents
    amount_per_lead: Cents | None


class SourceRow(SourceTotals):
    source: str
    label: str


class LeadSourcesOut(ReportOut):
    rows: list[SourceRow]
    totals: SourceTotals


# --- schedules ----------------------------------------------------------------------------------


class ScheduleFilters(InSchema):
    """The filters of a scheduled report (its period is the week or month before each send)."""

    owner_id: Id | None = None
    team_id: Id | None = None
    pipeline_id: Id | None = None
    category: Str100 = ""
    source: Str100 = ""
    kind: ActivityKindName | None = None

    def stored(self) -> dict[str, Any]:
        return self.model_dump(exclude_defaults=True)


Recipients = Annotated[list[Id], Field(max_length=50)]


class ScheduleIn(InSchema):
    name: Name200
    report_kind: ReportKindName
    frequency: FrequencyName
    file_format: FormatName = "xlsx"
    filters: ScheduleFilters | None = None
    recipient_ids: Recipients = Field(
        default_factory=list, description="Members to mail; empty means the owner only."
    )
    active: bool = True


class SchedulePatch(InSchema):
    name: Name200 = optional()
    report_kind: ReportKindName = optional()
    frequency: FrequencyName = optional()
    file_format: FormatName = optional()
    filters: ScheduleFilters = optional()
    recipient_ids: Recipients = optional()
    active: bool = optional()


class ScheduleOut(Schema):
    id: int
    name: str
    report_kind: str
    frequency: str
    file_format: str
    filters: dict[str, Any]
    recipient_ids: list[int]
    owner_id: int
    next_run_at: datetime
    last_sent_at: datetime | None
    active: bool
    created_at: datetime


SchedulePage = page_of(ScheduleOut)


class DeliveryOut(Schema):
    id: int
    period_start: date
    period_end: date
    file_name: str
    file_format: str
    rows: int
    recipient_ids: list[int]
    created_at: datetime


DeliveryPage = page_of(DeliveryOut)


class ScheduleListParams(ListParams):
    pass
