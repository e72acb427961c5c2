"""API schemas of crm.insights. The contact's email is masked unless the credentials have `pii`."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from ninja import Field, Schema
from pydantic import AfterValidator, StringConstraints

from crm.core.api import InSchema, ListParams, Name200, mask_email, page_of, shows_pii
from crm.insights.models import Stage
from crm.insights.selectors import action_text, reason_text


def _plain_text(value: str) -> str:
    if "\x00" in value:
        raise ValueError("Null characters are not allowed.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("Text must be valid Unicode.") from exc
    return value


TemplateBody = Annotated[
    str, StringConstraints(min_length=1, max_length=5000), AfterValidator(_plain_text)
]
StageName = Literal["prospect", "new", "active", "loyal", "at_risk", "lost"]
Ordering = Literal[
    "churn_risk", "-churn_risk", "clv_12m", "-clv_12m", "health", "-health",
    "recency_days", "-recency_days",
]  # fmt: skip


class ReasonOut(Schema):
    code: str
    value: float | int | None = None
    text: str


class ActionOut(Schema):
    code: str
    text: str


class PreferencesOut(Schema):
    categories: list[str] = Field(description="Top categories by spend, best first.")
    channel: str = Field(description="Preferred channel: set on the contact, or most used.")
    channel_source: str = Field(description="'contact', 'activity' or '' (unknown).")


class CustomerInsightOut(Schema):
    contact_id: int
    name: str
    email: str = Field(description="Masked unless the credentials have the `pii` scope.")
    owner_id: int | None
    stage: Stage
    orders: int = Field(description="Distinct purchase days.")
    first_purchase_on: date | None
    last_purchase_on: date | None
    recency_days: int | None
    monetary: Decimal
    r_score: int | None
    f_score: int | None
    m_score: int | None
    rfm_code: str
    p_alive: float | None = Field(description="BG/NBD probability of still being a customer.")
    expected_purchases_12m: float | None
    clv_12m: Decimal | None = Field(description="Discounted 12-month customer lifetime value.")
    churn_risk: float
    churn_reasons: list[ReasonOut]
    health: float = Field(description="0-100, see docs/analytics.md for the weights.")
    engagement: int = Field(description="Activities logged with the contact in 90 days.")
    segment: int
    segment_name: str
    preferences: PreferencesOut
    actions: list[ActionOut]
    computed_at: datetime
    model_version: str
    run_id: int | None

    @staticmethod
    def resolve_name(obj: Any) -> str:
        return str(obj.contact.name)

    @staticmethod
    def resolve_email(obj: Any, context: Any) -> str:
        email = str(obj.contact.email or "")
        return email if shows_pii(context) else mask_email(email)

    @staticmethod
    def resolve_owner_id(obj: Any) -> int | None:
        owner_id: int | None = obj.contact.owner_id
        return owner_id

    @staticmethod
    def resolve_churn_reasons(obj: Any) -> list[dict[str, Any]]:
        return [
            {"code": r.get("code", ""), "value": r.get("value"), "text": reason_text(r)}
            for r in obj.churn_reasons or []
        ]

    @staticmethod
    def resolve_actions(obj: Any) -> list[dict[str, str]]:
        return [{"code": code, "text": action_text(code)} for code in obj.actions or []]

    @staticmethod
    def resolve_preferences(obj: Any) -> dict[str, Any]:
        prefs = obj.preferences or {}
        return {
            "categories": list(prefs.get("categories", [])),
            "channel": str(prefs.get("channel", "")),
            "channel_source": str(prefs.get("channel_source", "")),
        }


CustomerInsightPage = page_of(CustomerInsightOut)


class CustomerInsightFilter(ListParams):
    stage: StageName | None = None
    at_risk: bool | None = Field(None, description="Only (or no) customers in stage at_risk.")
    min_risk: float | None = Field(None, ge=0, le=1, description="Churn risk at least this.")
    segment: int | None = Field(None, ge=-1, le=100)
    ordering: Ordering = "-churn_risk"

    def selector_kwargs(self) -> dict[str, Any]:
        kwargs = super().selector_kwargs()
        kwargs["stage"] = kwargs.pop("stage") or ""
        return kwargs


class SegmentOut(Schema):
    segment: int = Field(description="-1: no purchase yet.")
    name: str
    customers: int
    clv_12m_total: float
    clv_12m_mean: float
    spend_total: float
    mean_churn_risk: float
    mean_recency_days: float | None
    mean_orders: float
    mean_health: float


class SegmentsOut(Schema):
    items: list[SegmentOut]


class InsightRunOut(Schema):
    id: int
    status: str
    trigger: str
    requested_by_id: int | None
    started_at: datetime | None
    finished_at: datetime | None
    as_of: date | None
    customers: int
    orders: int
    order_lines: int
    model_version: str
    metrics: dict[str, Any] = Field(
        description="BG/NBD and Gamma-Gamma parameters, supervised churn AUC/Brier, segments."
    )
    error: str
    created_at: datetime


InsightRunPage = page_of(InsightRunOut)


class RunFilter(ListParams):
    pass


class PlaybookSettingsOut(Schema):
    churn_label_days: int | None
    playbook_enabled: bool
    at_risk_threshold: float
    cooldown_days: int
    coupon_value: Decimal
    coupon_valid_days: int
    task_due_days: int
    max_per_run: int
    email_subject: str
    email_body: str


class PlaybookSettingsIn(InSchema):
    """The whole settings object (PUT)."""

    churn_label_days: int | None = Field(
        None, ge=7, le=730, description="Churn = no order within this many days; null: off."
    )
    playbook_enabled: bool
    at_risk_threshold: float = Field(ge=0, le=1)
    cooldown_days: int = Field(ge=1, le=365)
    coupon_value: Decimal = Field(ge=0, le=Decimal("9999999999.99"), decimal_places=2)
    coupon_valid_days: int = Field(ge=1, le=365)
    task_due_days: int = Field(ge=0, le=60)
    max_per_run: int = Field(ge=1, le=10000)
    email_subject: Name200
    email_body: TemplateBody


class CandidateOut(Schema):
    contact_id: int
    name: str
    owner: str
    churn_risk: float
    stage: str
    reasons: list[str]
    will_email: bool
    email_note: str


class PlaybookPreviewOut(Schema):
    enabled: bool
    dry_run: bool
    candidates: list[CandidateOut]


class RecomputeOut(Schema):
    run: InsightRunOut
