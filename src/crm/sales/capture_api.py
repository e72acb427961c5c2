"""API of the lead flow, mounted at /api/v1/lead-flow: capture, assignment, conversion, scoring.

Handlers parse, call one service or selector, and shape the answer; authentication, scopes,
throttling and the error shape come from the NinjaAPI this router is added to.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from django.http import HttpRequest
from django.utils import timezone
from ninja import Field, Path, Query, Router, Schema, Status

from crm.core.api import (
    Id,
    InSchema,
    LongText,
    Moment,
    Name200,
    Str60,
    Str100,
    Str200,
    Str500,
    actor,
    no_content,
)
from crm.core.api import responses as r
from crm.core.errors import NotFoundError
from crm.sales import (
    assignment,
    assignment_admin,
    assignment_routing,
    capture,
    conversion,
    followup,
    lead_scoring,
    selectors,
)
from crm.sales.lead_models import LeadAssignment, LeadChannel, LeadConversion, ScoringModel
from crm.tenancy.permissions import require_admin
from crm.tenancy.selectors import team_list

router = Router(tags=["lead flow"])
PriorityName = Literal["high", "medium", "low"]


# --- schemas ------------------------------------------------------------------------------------


class CaptureIn(InSchema):
    name: Name200
    company: Str200 = ""
    title: Str100 = ""
    email: Str200 = ""
    phone: Str60 = ""
    region: Str100 = ""
    source: Str60 = "api"
    product_line: Str60 = ""
    message: LongText = ""
    consent: bool = False
    consent_text: Str500 = ""


class ReasonOut(Schema):
    code: str
    impact: float
    value: Any
    text: str


class DuplicateOut(Schema):
    type: str
    id: int
    match: str
    score: float


class CaptureOut(Schema):
    created: bool = Field(description="False when the inquiry was attached to a duplicate.")
    lead_id: int | None
    duplicate_of: DuplicateOut | None
    activity_id: int | None
    owner_id: int | None
    team_id: int | None
    queued: bool
    score: int | None
    priority: str | None
    reasons: list[ReasonOut]


class CandidateOut(Schema):
    member_id: int
    open_leads: int
    capacity: int
    load: float
    excluded: str


class PreviewOut(Schema):
    team_id: int | None
    rule_id: int | None
    member_id: int | None
    reason: str
    candidates: list[CandidateOut]


class PreviewQuery(Schema):
    priority: PriorityName = "medium"
    region: Str100 = ""
    source: Str60 = ""
    product_line: Str60 = ""


class AssignmentOut(Schema):
    id: int
    lead_id: int
    member_id: int | None
    previous_owner_id: int | None
    team_id: int | None
    rule_id: int | None
    kind: str
    reason: str
    by_id: int | None
    at: datetime


class ReassignIn(InSchema):
    member_id: Id
    note: Str200 = ""
    allow_over_capacity: bool = False


class OpportunityValues(InSchema):
    name: Str200 = ""
    amount: float = Field(0, ge=0, le=1e12)


class ConvertIn(InSchema):
    account_id: Id | None = None
    create_account: bool = True
    contact_id: Id | None = None
    create_opportunity: bool = True
    opportunity: OpportunityValues | None = None


class ConversionOut(Schema):
    id: int
    lead_id: int
    contact_id: int | None
    account_id: int | None
    opportunity_id: int | None
    created_contact: bool
    created_account: bool
    moved_activity_ids: list[int]
    moved_task_ids: list[int]
    at: datetime
    undone_at: datetime | None


class FairnessQuery(Schema):
    since: Moment | None = None
    until: Moment | None = None


class FairnessRowOut(Schema):
    member_id: int
    member: str
    capacity: int
    assigned: int
    open_leads: int
    expected: float
    ratio: float


class FairnessOut(Schema):
    team_id: int
    since: datetime
    until: datetime
    assigned: int
    queued: int
    rows: list[FairnessRowOut]
    spread_by_capacity: dict[int, int]


class ScoringModelOut(Schema):
    id: int
    trained_at: datetime
    n_train: int
    n_holdout: int
    positives: int
    auc: float
    brier: float
    calibration_error: float
    calibration: list[dict[str, float]]
    rules_auc: float
    rules_brier: float
    is_active: bool


class TrainOut(Schema):
    trained: bool
    model: ScoringModelOut | None


# --- handlers -----------------------------------------------------------------------------------


@router.post(
    "/capture", response=r({200: CaptureOut, 201: CaptureOut}), operation_id="lead_capture"
)
def lead_capture(request: HttpRequest, payload: CaptureIn) -> Status[dict[str, Any]]:
    """Capture a lead: duplicate check, score with reasons, assignment (or the team queue)."""
    values = payload.model_dump(
        include={"name", "company", "title", "email", "phone", "region", "source"}
    )
    result = capture.lead_capture(
        actor=actor(request),
        values={k: v for k, v in values.items() if v},
        channel=LeadChannel.API,
        product_line=payload.product_line,
        message=payload.message,
        consent=payload.consent,
        consent_text=payload.consent_text,
    )
    return Status(201 if result.created else 200, result.as_dict())


@router.get("/preview", response=r({200: PreviewOut}), operation_id="lead_assignment_preview")
def lead_assignment_preview(request: HttpRequest, query: Query[PreviewQuery]) -> dict[str, Any]:
    """Who would get a lead like this now (nothing is written)."""
    decision = assignment_routing.assignment_preview(actor=actor(request), **query.model_dump())
    return {
        "team_id": decision.team.pk if decision.team else None,
        "rule_id": decision.rule.pk if decision.rule else None,
        "member_id": decision.member.pk if decision.member else None,
        "reason": decision.reason,
        "candidates": [c.as_dict() for c in decision.pool],
    }


@router.get(
    "/leads/{lead_id}/assignments",
    response=r({200: list[AssignmentOut]}),
    operation_id="lead_assignment_log",
)
def lead_assignment_log(request: HttpRequest, lead_id: Path[Id]) -> list[LeadAssignment]:
    lead = selectors.lead_get(actor=actor(request), lead_id=lead_id)
    return assignment_admin.assignment_log(lead=lead)


@router.post(
    "/leads/{lead_id}/reassign", response=r({200: AssignmentOut}), operation_id="lead_reassign"
)
def lead_reassign(request: HttpRequest, lead_id: Path[Id], payload: ReassignIn) -> LeadAssignment:
    lead = selectors.lead_get(actor=actor(request), lead_id=lead_id)
    return assignment.lead_reassign(actor=actor(request), lead=lead, **payload.model_dump())


@router.post("/leads/{lead_id}/responded", response=r({204: None}), operation_id="lead_responded")
def lead_responded(request: HttpRequest, lead_id: Path[Id]) -> Status[None]:
    """The owner answered the lead: its first-response clock stops."""
    lead = selectors.lead_get(actor=actor(request), lead_id=lead_id)
    followup.lead_mark_responded(actor=actor(request), lead=lead)
    return no_content()


@router.post(
    "/leads/{lead_id}/convert", response=r({201: ConversionOut}), operation_id="lead_convert"
)
def lead_convert(
    request: HttpRequest, lead_id: Path[Id], payload: ConvertIn
) -> Status[LeadConversion]:
    """Lead → contact (+ account) + opportunity in one transaction; undoable for a day."""
    lead = selectors.lead_get(actor=actor(request), lead_id=lead_id)
    options = payload.model_dump(exclude={"opportunity"})
    values = payload.opportunity.model_dump(exclude_defaults=True) if payload.opportunity else None
    if values and "amount" in values:
        values["amount"] = f"{values['amount']:.2f}"
    done = conversion.lead_convert(actor=actor(request), lead=lead, opportunity=values, **options)
    return Status(201, done)


@router.post(
    "/conversions/{conversion_id}/undo",
    response=r({200: ConversionOut}),
    operation_id="lead_conversion_undo",
)
def lead_conversion_undo(request: HttpRequest, conversion_id: Path[Id]) -> LeadConversion:
    found = LeadConversion.objects.filter(pk=conversion_id).first()
    if found is None:
        raise NotFoundError("No such conversion.")
    selectors.lead_get(actor=actor(request), lead_id=found.lead_id)  # visibility: 404 if not
    return conversion.lead_conversion_undo(actor=actor(request), conversion=found)


@router.get(
    "/teams/{team_id}/fairness", response=r({200: FairnessOut}), operation_id="lead_fairness"
)
def lead_fairness(
    request: HttpRequest, team_id: Path[Id], query: Query[FairnessQuery]
) -> dict[str, Any]:
    """Leads assigned per member against capacity (default: the last 30 days)."""
    if not team_list().filter(pk=team_id).exists():
        raise NotFoundError("No such team.")
    until = query.until or timezone.now()
    since = query.since or until - timedelta(days=30)
    report = assignment_admin.fairness_report(
        actor=actor(request), team_id=team_id, since=since, until=until
    )
    return {**vars(report), "rows": [vars(row) for row in report.rows]}


@router.get(
    "/scoring/models", response=r({200: list[ScoringModelOut]}), operation_id="scoring_models"
)
def scoring_models(request: HttpRequest) -> list[ScoringModel]:
    require_admin(actor(request))
    return list(ScoringModel.objects.order_by("-id")[:20])


@router.post("/scoring/train", response=r({200: TrainOut}), operation_id="scoring_train")
def scoring_train(request: HttpRequest) -> dict[str, Any]:
    """Train the tenant's model now (it is also trained nightly) and rescore open leads."""
    require_admin(actor(request))
    model = lead_scoring.scoring_model_train(actor=actor(request))
    lead_scoring.leads_rescore()
    return {"trained": model is not None, "model": model}
