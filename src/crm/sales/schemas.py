"""API schemas for leads, pipelines, stages, opportunities, stage changes, products and orders."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from ninja import Field, Schema
from pydantic import PlainSerializer

from crm.core.api import (
    Count,
    Currency,
    Id,
    InSchema,
    ListParams,
    LongText,
    Moment,
    Name40,
    Name100,
    Name200,
    Search,
    Str40,
    Str60,
    Str100,
    Str200,
    Str254,
    mask_email,
    mask_phone,
    optional,
    page_of,
    shows_pii,
)
from crm.customers.schemas import TagIds, tag_ids_of
from crm.sales.models import LeadStatus, OrderStatus, Priority

Money = Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=2)]
# Amounts out are strings with two decimals ("12.50"), whether just saved or read back.
Cents = Annotated[
    Decimal,
    PlainSerializer(lambda v: str(Decimal(v).quantize(Decimal("0.01"))), return_type=str),
]
Quantity = Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2)]
Percent = Annotated[int, Field(ge=0, le=100)]
CommonOrdering = Literal["id", "-id", "created_at", "-created_at"]

# --- leads --------------------------------------------------------------------------------------


class LeadOut(Schema):
    id: int
    name: str
    company: str
    title: str
    email: str = Field(description="Masked unless the credentials have the `pii` scope.")
    phone: str = Field(description="E.164; masked unless the credentials have `pii`.")
    source: str
    region: str
    status: LeadStatus
    score: int
    score_reasons: list[Any]
    priority: Priority
    owner_id: int | None
    team_id: int | None
    first_response_due_at: datetime | None
    last_interaction_at: datetime | None
    contact_count: int
    consent: bool
    notes: str
    converted_contact_id: int | None
    converted_account_id: int | None
    converted_at: datetime | None
    tag_ids: list[int]
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_tag_ids(obj: Any) -> list[int]:
        return tag_ids_of(obj)

    @staticmethod
    def resolve_email(obj: Any, context: Any) -> str:
        return str(obj.email) if shows_pii(context) else mask_email(obj.email)

    @staticmethod
    def resolve_phone(obj: Any, context: Any) -> str:
        return str(obj.phone) if shows_pii(context) else mask_phone(obj.phone)


class LeadFilter(ListParams):
    search: Search = Field("", description="Name, pinyin, initials, or an exact email/phone.")
    status: LeadStatus | Literal[""] = ""
    priority: Priority | Literal[""] = ""
    owner_id: Id | None = None
    source: Str60 = ""
    ordering: (
        CommonOrdering
        | Literal["score", "-score", "first_response_due_at", "-first_response_due_at"]
    ) = "-id"


class LeadIn(InSchema):
    name: Name200
    company: Str200 = ""
    title: Str100 = ""
    email: Str254 = ""
    phone: Str40 = ""
    source: Str60 = ""
    region: Str100 = ""
    status: LeadStatus = LeadStatus.NEW
    priority: Priority = Priority.MEDIUM
    consent: bool = False
    notes: LongText = ""
    owner_id: Id | None = Field(None, description="A member of your tenant; you by default.")
    team_id: Id | None = None
    tag_ids: TagIds | None = Field(None, max_length=100)


class LeadPatch(InSchema):
    name: Name200 = optional()
    company: Str200 = optional()
    title: Str100 = optional()
    email: Str254 = optional()
    phone: Str40 = optional()
    source: Str60 = optional()
    region: Str100 = optional()
    status: LeadStatus = optional()
    priority: Priority = optional()
    consent: bool = optional()
    notes: LongText = optional()
    owner_id: Id = optional()
    team_id: Id = optional()
    tag_ids: TagIds = optional(max_length=100, description="Replaces the tags.")


# --- pipelines and stages -----------------------------------------------------------------------


class PipelineOut(Schema):
    id: int
    name: str
    is_default: bool
    created_at: datetime


class PipelineIn(InSchema):
    name: Name100
    is_default: bool = False


class PipelinePatch(InSchema):
    name: Name100 = optional()
    is_default: bool = optional()


class StageOut(Schema):
    id: int
    pipeline_id: int
    name: str
    order: int
    probability: int
    is_won: bool
    is_lost: bool
    created_at: datetime


class StageFilter(ListParams):
    pipeline_id: Id | None = None


class StageIn(InSchema):
    pipeline_id: Id
    name: Name100
    order: Count = 0
    probability: Percent = 0
    is_won: bool = False
    is_lost: bool = False


class StagePatch(InSchema):
    name: Name100 = optional()
    order: Count = optional()
    probability: Percent = optional()
    is_won: bool = optional()
    is_lost: bool = optional()


# --- opportunities ------------------------------------------------------------------------------


class OpportunityOut(Schema):
    id: int
    name: str
    account_id: int | None
    contact_id: int | None
    lead_id: int | None
    pipeline_id: int
    stage_id: int
    amount: Cents
    currency: str
    probability: int
    expected_close_date: date | None
    owner_id: int | None
    stage_entered_at: datetime | None
    closed_at: datetime | None
    tag_ids: list[int]
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_tag_ids(obj: Any) -> list[int]:
        return tag_ids_of(obj)


class OpportunityFilter(ListParams):
    search: Search = ""
    pipeline_id: Id | None = None
    stage_id: Id | None = None
    owner_id: Id | None = None
    account_id: Id | None = None
    is_open: bool | None = None
    ordering: (
        CommonOrdering | Literal["amount", "-amount", "expected_close_date", "-expected_close_date"]
    ) = "-id"


class OpportunityIn(InSchema):
    name: Name200
    amount: Money = Decimal("0")
    currency: Currency = "CNY"
    expected_close_date: date | None = None
    pipeline_id: Id | None = Field(None, description="The default pipeline when omitted.")
    stage_id: Id | None = Field(None, description="The pipeline's first stage when omitted.")
    account_id: Id | None = None
    contact_id: Id | None = None
    lead_id: Id | None = None
    owner_id: Id | None = Field(None, description="A member of your tenant; you by default.")
    probability: Percent | None = Field(None, description="The stage's probability by default.")
    tag_ids: TagIds | None = Field(None, max_length=100)


class OpportunityPatch(InSchema):
    """The stage changes through POST /opportunities/{id}/move, which keeps the history."""

    name: Name200 = optional()
    amount: Money = optional()
    currency: Currency = optional()
    expected_close_date: date | None = Field(None)
    account_id: Id = optional()
    contact_id: Id = optional()
    owner_id: Id = optional()
    probability: Percent = optional()
    tag_ids: TagIds = optional(max_length=100, description="Replaces the tags.")


class MoveIn(InSchema):
    stage_id: Id


class StageChangeOut(Schema):
    id: int
    opportunity_id: int
    from_stage_id: int | None
    to_stage_id: int
    at: datetime
    by_id: int | None
    amount: Cents


class StageChangeFilter(ListParams):
    opportunity_id: Id | None = None


# --- products -----------------------------------------------------------------------------------


class ProductOut(Schema):
    id: int
    name: str
    sku: str
    category: str
    price: Cents
    currency: str
    is_active: bool
    created_at: datetime
    updated_at: datetime


class ProductFilter(ListParams):
    search: Search = ""
    category: Str100 = ""
    is_active: bool | None = None
    ordering: CommonOrdering | Literal["name", "-name", "price", "-price"] = "-id"


class ProductIn(InSchema):
    name: Name200
    sku: Str60 = ""
    category: Str100 = ""
    price: Money = Decimal("0")
    currency: Currency = "CNY"
    is_active: bool = True


class ProductPatch(InSchema):
    name: Name200 = optional()
    sku: Str60 = optional()
    category: Str100 = optional()
    price: Money = optional()
    currency: Currency = optional()
    is_active: bool = optional()


# --- orders -------------------------------------------------------------------------------------


class OrderLineOut(Schema):
    id: int
    order_id: int
    product_id: int | None
    description: str
    category: str
    quantity: Cents
    unit_price: Cents
    amount: Cents
    created_at: datetime


class OrderOut(Schema):
    id: int
    number: str
    contact_id: int | None
    account_id: int | None
    opportunity_id: int | None
    ordered_at: datetime
    status: OrderStatus
    total: Cents
    currency: str
    owner_id: int | None
    created_at: datetime
    updated_at: datetime


class OrderDetailOut(OrderOut):
    lines: list[OrderLineOut]

    @staticmethod
    def resolve_lines(obj: Any) -> list[Any]:
        return list(obj.lines.order_by("id"))


class OrderFilter(ListParams):
    search: Search = Field("", description="Order number prefix.")
    contact_id: Id | None = None
    account_id: Id | None = None
    status: OrderStatus | Literal[""] = ""
    ordering: CommonOrdering | Literal["ordered_at", "-ordered_at", "total", "-total"] = "-id"


class LineIn(InSchema):
    """A line: price and text default to the product's."""

    product_id: Id | None = None
    description: Str200 = optional()
    category: Str100 = optional()
    quantity: Quantity = Decimal("1")
    unit_price: Money = optional()


class OrderIn(InSchema):
    number: Name40
    ordered_at: Moment
    status: OrderStatus = OrderStatus.PAID
    currency: Currency = "CNY"
    contact_id: Id | None = None
    account_id: Id | None = None
    opportunity_id: Id | None = None
    owner_id: Id | None = Field(None, description="A member of your tenant; you by default.")
    lines: list[LineIn] = Field([], max_length=500)


class OrderPatch(InSchema):
    number: Name40 = optional()
    ordered_at: Moment = optional()
    status: OrderStatus = optional()
    currency: Currency = optional()
    owner_id: Id = optional()


class OrderLineFilter(ListParams):
    order_id: Id | None = None


class OrderLineIn(LineIn):
    order_id: Id


class OrderLinePatch(InSchema):
    description: Str200 = optional()
    category: Str100 = optional()
    quantity: Quantity = optional()
    unit_price: Money = optional()


LeadPage = page_of(LeadOut)
PipelinePage = page_of(PipelineOut)
StagePage = page_of(StageOut)
OpportunityPage = page_of(OpportunityOut)
StageChangePage = page_of(StageChangeOut)
ProductPage = page_of(ProductOut)
OrderPage = page_of(OrderOut)
OrderLinePage = page_of(OrderLineOut)
