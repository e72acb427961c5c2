"""Lead capture from the API, signed webhooks and public web forms, with the duplicate check.

One path for every channel (:func:`lead_capture`):

1. Normalise email and phone (E.164) and compute their blind indexes.
2. **Duplicate check.** Exact by blind index — an open lead first, then a contact (a converted
   lead counts as its contact); the email also as its mailbox, so a+news@x.com finds a@x.com
   and the other way round — then fuzzy on name + company with rapidfuzz over pinyin-folded
   text, so 张伟 / Zhang Wei / Wei Zhang at 阿里巴巴 / Alibaba match (the company key is the
   lead duplicate scan's too: crm.core.normalise.company_key). A match attaches the
   inquiry as an Activity on the existing lead or contact, fills the lead's empty fields,
   rescores it and tells its owner (or the team managers) — no second lead.
3. Otherwise score the lead, lock the team its rule names, create the lead with its intake row
   and assign it (or queue it) in the same transaction.

On PostgreSQL, captures of the same email / phone / name+company are serialised with
transaction-scoped advisory locks, so two at once cannot both miss each other; on SQLite the
IMMEDIATE transaction does the same.

The webhook and web-form channels and their admin (`webhook_receive`, `webform_submit`,
`lead_source_create`, `web_form_create`, ...) live in :mod:`crm.sales.capture_channels`, which
imports this module.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from rapidfuzz import fuzz

from crm.activities.models import Activity, ActivityKind
from crm.core.context import current_tenant_id
from crm.core.mailbox import mailbox_key
from crm.core.normalise import company_key, name_tokens
from crm.core.writes import editable_field_names, field_error, snapshot, validate_instance
from crm.customers.models import Contact
from crm.customers.services import (
    apply_name_keys,
    normalise_personal_values,
    personal_data_indexes,
)
from crm.events.crud import assign, save_changes, save_new
from crm.events.models import OutboxEvent
from crm.events.services import notification_create, record_written
from crm.sales.assignment import assign_locked, lock_team, team_managers
from crm.sales.assignment_routing import rule_for
from crm.sales.lead_models import (
    OPEN_LEAD_STATUSES,
    AssignmentKind,
    AssignmentRule,
    LeadAssignment,
    LeadIntake,
    LeadSource,
    WebForm,
)
from crm.sales.lead_scoring import (
    INQUIRY,
    apply_score,
    facts_of,
    facts_of_new,
    lead_rescore,
    score_facts,
)
from crm.sales.models import Lead, LeadStatus
from crm.tenancy.models import Membership
from crm.tenancy.permissions import require_write

CAPTURE_FIELDS = ("name", "company", "title", "email", "phone", "source", "region")
NAME_MATCH = 90.0
COMPANY_MATCH = 85.0
FUZZY_CANDIDATES = 300


# --- duplicates ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class DuplicateMatch:
    record_type: str  # "lead" or "contact"
    record: Lead | Contact
    how: str  # "email", "phone" or "name_company"
    score: float  # 100 for an exact match

    def as_dict(self) -> dict[str, Any]:
        return {
            "type": self.record_type,
            "id": self.record.pk,
            "match": self.how,
            "score": round(self.score, 1),
        }


def name_similarity(a: str, b: str) -> float:
    """0-100; word order and Chinese characters vs pinyin do not matter (张伟 = Wei Zhang)."""
    ta, tb = name_tokens(a), name_tokens(b)
    if not ta or not tb:
        return 0.0
    return max(
        fuzz.ratio("".join(ta), "".join(tb)),
        fuzz.token_sort_ratio(" ".join(ta), " ".join(tb)),
        fuzz.ratio("".join(sorted(ta)), "".join(sorted(tb))),
    )


def company_similarity(a: str, b: str) -> float:
    """0-100 over pinyin-folded names without legal suffixes (阿里巴巴有限公司 = Alibaba Ltd)."""
    (ca, sa), (cb, sb) = company_key(a), company_key(b)
    if not ca or not cb:
        return 0.0
    return max(fuzz.ratio(ca, cb), fuzz.token_set_ratio(sa, sb))


def _name_q(name: str) -> Q | None:
    tokens = name_tokens(name)
    if not tokens:
        return None
    compact = "".join(tokens)
    variants = {compact, "".join(reversed(tokens))}
    initials = {"".join(t[0] for t in tokens), "".join(t[0] for t in reversed(tokens))}
    return Q(pinyin_key__in=variants) | Q(initials_key__in=initials)


def find_duplicate(
    *, name: str, company: str, email_index: str, phone_index: str, mailbox: str = ""
) -> DuplicateMatch | None:
    """The existing lead or contact this capture is about, if any (see the module doc).

    `mailbox`: the key of the email's mailbox (crm.core.mailbox.mailbox_key: a+news@x.com ->
    a@x.com), tried after the email itself, as the duplicate scan does: as a plain address on
    record, then as the mailbox of an alias on record (a+news@x.com stored, a@x.com or
    a+crm@x.com given).
    """
    open_leads = Lead.objects.filter(deleted_at__isnull=True, status__in=OPEN_LEAD_STATUSES)
    live_contacts = Contact.objects.filter(deleted_at__isnull=True)
    plain_mailbox = mailbox if mailbox != email_index else ""
    for how, field, index in (
        ("email", "email_index", email_index),
        ("email", "email_index", plain_mailbox),
        ("email", "email_alias_index", mailbox),
        ("phone", "phone_index", phone_index),
    ):
        if not index:
            continue
        leads = list(
            Lead.objects.filter(
                **{field: index},
                deleted_at__isnull=True,
                status__in=(*OPEN_LEAD_STATUSES, LeadStatus.CONVERTED),
            )
            .select_related("converted_contact")
            .order_by("-id")[:20]
        )
        open_lead = next((x for x in leads if x.status != LeadStatus.CONVERTED), None)
        if open_lead is not None:
            return DuplicateMatch("lead", open_lead, how, 100.0)
        contact = live_contacts.filter(**{field: index}).order_by("-id").first()
        if contact is not None:
            return DuplicateMatch("contact", contact, how, 100.0)
        for converted in leads:
            target = converted.converted_contact
            if target is not None and target.deleted_at is None:
                return DuplicateMatch("contact", target, how, 100.0)
    if not name.strip() or not company.strip():
        return None  # a name alone is too weak: 张伟 is one of the commonest names in China
    q = _name_q(name)
    if q is None:
        return None
    best: DuplicateMatch | None = None
    for lead in open_leads.filter(q).exclude(company="").order_by("-id")[:FUZZY_CANDIDATES]:
        best = _better(best, "lead", lead, name, company, lead.name, lead.company)
    for contact in (
        live_contacts.filter(q, account__isnull=False)
        .select_related("account")
        .order_by("-id")[:FUZZY_CANDIDATES]
    ):
        assert contact.account is not None
        best = _better(best, "contact", contact, name, company, contact.name, contact.account.name)
    return best


def _better(
    best: DuplicateMatch | None,
    record_type: str,
    record: Lead | Contact,
    name: str,
    company: str,
    their_name: str,
    their_company: str,
) -> DuplicateMatch | None:
    by_name = name_similarity(name, their_name)
    if by_name < NAME_MATCH:
        return best
    by_company = company_similarity(company, their_company)
    if by_company < COMPANY_MATCH:
        return best
    score = (by_name + by_company) / 2
    if best is None or score > best.score:
        return DuplicateMatch(record_type, record, "name_company", score)
    return best


def _advisory_locks(keys: list[str]) -> None:
    """Serialise captures about the same person (PostgreSQL; SQLite is serialised already)."""
    if connection.vendor != "postgresql":
        return
    tenant = current_tenant_id()
    with connection.cursor() as cursor:
        for key in sorted({k for k in keys if k}):
            digest = hashlib.sha256(f"crm-capture:{tenant}:{key}".encode()).digest()
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s)", [int.from_bytes(digest[:8], "big", signed=True)]
            )


# --- capture ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CaptureResult:
    created: bool
    lead: Lead | None
    duplicate: DuplicateMatch | None
    activity: Activity | None
    assignment: LeadAssignment | None

    def as_dict(self) -> dict[str, Any]:
        lead = self.lead
        return {
            "created": self.created,
            "lead_id": lead.pk if lead else None,
            "duplicate_of": self.duplicate.as_dict() if self.duplicate else None,
            "activity_id": self.activity.pk if self.activity else None,
            "owner_id": lead.owner_id if lead else None,
            "team_id": lead.team_id if lead else None,
            "queued": bool(self.assignment and self.assignment.kind == AssignmentKind.QUEUED),
            "score": lead.score if lead else None,
            "priority": lead.priority if lead else None,
            "reasons": lead.score_reasons if lead else [],
        }


def _inquiry_body(values: Mapping[str, Any], message: str, channel: str) -> str:
    # Email and phone stay out of the body: activities are not encrypted at rest.
    lines = [f"{_('Channel')}: {channel}"]
    for key, label in (
        ("name", _("Name")),
        ("company", _("Company")),
        ("title", _("Title")),
        ("region", _("Region")),
        ("source", _("Source")),
    ):
        if values.get(key):
            lines.append(f"{label}: {values[key]}")
    for key, label in (("email", _("Email")), ("phone", _("Phone"))):
        if values.get(key):
            lines.append(f"{label}: {_('given')}")
    if message:
        lines += ["", message]
    return "\n".join(lines)[:20000]


def _attach(
    *,
    actor: Membership | None,
    match: DuplicateMatch,
    values: Mapping[str, Any],
    indexes: Mapping[str, str | None],
    message: str,
    channel: str,
    now: datetime,
) -> CaptureResult:
    lead: Lead | None = None
    if isinstance(match.record, Lead):
        # The lead's row first, then the audit chain: the lock order of every lead write.
        lead = (
            Lead.objects.select_for_update(of=("self",))
            .select_related("owner")
            .get(pk=match.record.pk)
        )
        _fill_empty(actor, lead, values, indexes, now)
    activity = Activity(
        kind=ActivityKind.NOTE,
        subject=(_("New inquiry via %(channel)s") % {"channel": channel})[:200],
        body=_inquiry_body(values, message, channel),
        at=now,
        outcome=INQUIRY,
        record_type=match.record_type,
        record_id=match.record.pk,
        owner=None,
    )
    save_new(
        actor, activity, payload={"linked": {"type": match.record_type, "id": match.record.pk}}
    )
    recipients: list[Membership]
    if lead is not None:
        lead_rescore(lead=lead, now=now)  # one more inquiry: more engagement
        recipients = [lead.owner] if lead.owner else team_managers(lead.team_id)
        link = f"/leads/{lead.pk}/"
        match = DuplicateMatch(match.record_type, lead, match.how, match.score)
    else:
        assert isinstance(match.record, Contact)
        recipients = [match.record.owner] if match.record.owner else team_managers(None)
        link = f"/contacts/{match.record.pk}/"
    for recipient in recipients:
        notification_create(
            recipient=recipient,
            kind="lead_duplicate",
            message=_("%(name)s got in touch again (%(how)s match): %(subject)s")
            % {"name": match.record.name, "how": match.how, "subject": activity.subject},
            link=link,
            dedupe_key=f"inquiry:{activity.pk}",
        )
    return CaptureResult(False, lead, match, activity, None)


def _fill_empty(
    actor: Membership | None,
    lead: Lead,
    values: Mapping[str, Any],
    indexes: Mapping[str, str | None],
    now: datetime,
) -> None:
    """Details the lead lacked and the inquiry brings (never overwrites what is there)."""
    before = snapshot(lead, ["company", "title", "email", "phone", "region", "last_interaction_at"])
    for name in ("company", "title", "region", "email", "phone"):
        if values.get(name) and not getattr(lead, name):
            setattr(lead, name, values[name])
            if name in ("email", "phone"):
                setattr(lead, f"{name}_index", indexes[f"{name}_index"])
            if name == "email":
                lead.email_alias_index = indexes["email_alias_index"]
    lead.last_interaction_at = now
    save_changes(actor, lead, before, derived=("email_index", "email_alias_index", "phone_index"))


def lead_capture(
    *,
    actor: Membership | None,
    values: Mapping[str, Any],
    channel: str,
    product_line: str = "",
    message: str = "",
    consent: bool = False,
    consent_text: str = "",
    consent_ip: str | None = None,
    source_ref: LeadSource | None = None,
    web_form: WebForm | None = None,
    now: datetime | None = None,
) -> CaptureResult:
    """Capture an inquiry: attach it to a duplicate, or create, score and assign a lead.

    Validation, normalisation and scoring happen before the transaction starts, so the write
    lock (the whole database on SQLite) is held only for the duplicate check and the writes.
    """
    if actor is not None:
        require_write(actor)
    now = now or timezone.now()
    for name in values:
        if name not in CAPTURE_FIELDS:
            raise field_error(name, _("This field cannot be set."))
    cleaned = {k: (v.strip() if isinstance(v, str) else v) for k, v in values.items()}
    if not cleaned.get("name"):
        raise field_error("name", _("This field is required."))
    cleaned = normalise_personal_values(cleaned)
    indexes = personal_data_indexes(cleaned)
    lead = Lead(owner=None, team=None, status=LeadStatus.NEW, last_interaction_at=now)
    assign(lead, cleaned, CAPTURE_FIELDS)
    for field, index in indexes.items():
        setattr(lead, field, index)
    apply_name_keys(lead, lead.name)
    lead.consent = bool(consent)
    validate_instance(lead, exclude=["tenant"])
    outcome = score_facts(
        facts_of_new(
            source=lead.source,
            has_email=bool(lead.email_index),
            has_phone=bool(lead.phone_index),
            company=lead.company,
            title=lead.title,
            region=lead.region,
            message=message,
        )
    )[0]
    lead.score, lead.score_reasons, lead.priority = outcome.score, outcome.reasons, outcome.priority
    rule = rule_for(
        priority=lead.priority, region=lead.region, source=lead.source, product_line=product_line
    )
    intake = LeadIntake(
        channel=channel,
        source_ref=source_ref,
        web_form=web_form,
        product_line=product_line[:60],
        message=message[:5000],
        consent_text=consent_text[:500] if consent else "",
        consent_at=now if consent else None,
        consent_ip=consent_ip if consent else None,
        scored_by=outcome.scored_by,
        scoring_model_id=outcome.model_id,
        scored_at=now,
    )
    return _capture_locked(
        actor=actor, lead=lead, intake=intake, rule=rule, values=cleaned, indexes=indexes, now=now
    )


@transaction.atomic
def _capture_locked(
    *,
    actor: Membership | None,
    lead: Lead,
    intake: LeadIntake,
    rule: AssignmentRule | None,
    values: Mapping[str, Any],
    indexes: Mapping[str, str | None],
    now: datetime,
) -> CaptureResult:
    """The duplicate check and the writes, under the locks (identity, team, audit chain)."""
    company = company_key(lead.company)[0]
    mailbox = mailbox_key(lead.email or "")
    _advisory_locks(
        [
            f"e:{lead.email_index}" if lead.email_index else "",
            f"e:{mailbox}" if mailbox else "",
            f"p:{lead.phone_index}" if lead.phone_index else "",
            f"n:{''.join(sorted(name_tokens(lead.name)))}:{company}" if company else "",
        ]
    )
    match = find_duplicate(
        name=lead.name,
        company=lead.company,
        email_index=lead.email_index,
        phone_index=lead.phone_index,
        mailbox=mailbox,
    )
    if match is not None:
        return _attach(
            actor=actor,
            match=match,
            values=values,
            indexes=indexes,
            message=intake.message,
            channel=intake.channel,
            now=now,
        )
    lead.save()
    intake.lead = lead
    intake.save()
    # The team lock after the inserts (they lock nothing shared) and before the audit chain:
    # the serialised part is only the choice of owner and what records it.
    lock_team(rule.team_id if rule else None)
    assignment = assign_locked(lead=lead, rule=rule, actor=actor, now=now, audit=False)
    # One audit entry and event for the capture, with the owner (or queue) it got.
    record_written(
        actor=actor,
        instance=lead,
        action="created",
        changes=created_changes(lead),
        payload={
            "channel": intake.channel,
            "assignment": {
                "id": assignment.pk,
                "kind": assignment.kind,
                "member_id": assignment.member_id,
                "team_id": assignment.team_id,
            },
        },
    )
    return CaptureResult(True, lead, None, None, assignment)


def created_changes(lead: Lead) -> dict[str, list[Any]]:
    after = snapshot(lead, editable_field_names(Lead))
    return {k: [None, v] for k, v in after.items() if v not in (None, "", [], {})}


# --- leads created elsewhere --------------------------------------------------------------------


@transaction.atomic
def lead_process_new(*, lead_id: int, now: datetime | None = None) -> LeadAssignment | None:
    """Score a lead created outside capture (pages, the REST API, imports) and, when it has no
    owner, assign it by the rules. Captured leads were handled already and are left alone."""
    now = now or timezone.now()
    lead = Lead.objects.filter(
        pk=lead_id, deleted_at__isnull=True, status__in=OPEN_LEAD_STATUSES
    ).first()
    if lead is None:
        return None
    outcome = score_facts(facts_of([lead], now=now))[0]
    product_line = (
        LeadIntake.objects.filter(lead=lead).values_list("product_line", flat=True).first() or ""
    )
    rule = rule_for(
        priority=outcome.priority, region=lead.region, source=lead.source, product_line=product_line
    )
    lock_team(rule.team_id if rule else None)  # team, then lead, then audit chain
    current = Lead.objects.select_for_update().get(pk=lead.pk)
    apply_score(current, outcome, now=now)
    if current.owner_id is not None or rule is None:
        return None  # the creator chose the owner, or the tenant routes no such leads
    return assign_locked(lead=current, rule=rule, actor=None, now=now)


def lead_created_elsewhere(event: OutboxEvent) -> None:
    """Subscriber of `lead.created`: score and assign leads that did not come through capture."""
    if "assignment" in (event.payload or {}):
        return
    lead_process_new(lead_id=event.record_id)
