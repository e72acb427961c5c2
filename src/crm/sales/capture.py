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
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.html import escape
from django.utils.translation import gettext as _
from rapidfuzz import fuzz

from crm.activities.models import Activity, ActivityKind
from crm.core.context import current_tenant_id, tenant_context
from crm.core.errors import DomainError, ValidationFailedError
from crm.core.normalise import company_key, name_tokens
from crm.core.writes import editable_field_names, field_error, snapshot, validate_instance
from crm.customers.models import Contact
from crm.customers.services import (
    apply_name_keys,
    mailbox_key,
    normalise_personal_values,
    personal_data_indexes,
)
from crm.events.crud import assign, save_changes, save_new
from crm.events.models import OutboxEvent
from crm.events.services import notification_create, record_written
from crm.sales.assignment import assign_locked, lock_team, rule_for, team_managers
from crm.sales.lead_models import (
    OPEN_LEAD_STATUSES,
    AssignmentKind,
    AssignmentRule,
    LeadAssignment,
    LeadChannel,
    LeadIntake,
    LeadSource,
    WebForm,
    WebhookReceipt,
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
from crm.tenancy.permissions import require_admin, require_write

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
    *, name: str, company: str, email_index: str, phone_index: str, email_alias_index: str = ""
) -> DuplicateMatch | None:
    """The existing lead or contact this capture is about, if any (see the module doc).

    `email_alias_index`: the key of the email's mailbox (crm.customers.services.mailbox_key:
    a+news@x.com -> a@x.com), tried after the email itself, as the duplicate scan does: as a
    plain address on record, then as the mailbox of an alias on record (a+news@x.com stored,
    a@x.com or a+crm@x.com given).
    """
    open_leads = Lead.objects.filter(deleted_at__isnull=True, status__in=OPEN_LEAD_STATUSES)
    live_contacts = Contact.objects.filter(deleted_at__isnull=True)
    alias_index = email_alias_index if email_alias_index != email_index else ""
    for how, field, index in (
        ("email", "email_index", email_index),
        ("email", "email_index", alias_index),
        ("email", "email_alias_index", email_alias_index),
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
    alias_index = mailbox_key(lead.email or "")
    _advisory_locks(
        [
            f"e:{lead.email_index}" if lead.email_index else "",
            f"e:{alias_index}" if alias_index else "",
            f"p:{lead.phone_index}" if lead.phone_index else "",
            f"n:{''.join(sorted(name_tokens(lead.name)))}:{company}" if company else "",
        ]
    )
    match = find_duplicate(
        name=lead.name,
        company=lead.company,
        email_index=lead.email_index,
        phone_index=lead.phone_index,
        email_alias_index=alias_index,
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


# --- inbound webhooks ---------------------------------------------------------------------------

WEBHOOK_WINDOW_SECONDS = 300
MAX_IDEMPOTENCY_KEY = 200
SIGNATURE_PREFIX = "sha256="


@dataclass(frozen=True)
class WebhookOutcome:
    status: int
    body: dict[str, Any]
    replayed: bool = False


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    """The signature a sender puts in X-CRM-Signature: sha256=HMAC(secret, "<ts>." + body)."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return SIGNATURE_PREFIX + mac.hexdigest()


def _error(
    status: int, code: str, message: str, fields: dict[str, list[str]] | None = None
) -> WebhookOutcome:
    return WebhookOutcome(status, {"code": code, "message": message, "fields": fields or {}})


def webhook_receive(
    *,
    source_key: str,
    timestamp: str | None,
    signature: str | None,
    idempotency_key: str | None,
    body: bytes,
    now: datetime | None = None,
) -> WebhookOutcome:
    """Verify a signed inbound request and capture its lead once per Idempotency-Key.

    Unknown source → 404; missing/bad signature or a timestamp outside ±5 minutes → 401; no
    Idempotency-Key or a body that is not a JSON object → 400: in all of these nothing is
    stored. A replay (same key, same body) answers the first result again; the same key with
    another body → 409.
    """
    now = now or timezone.now()
    source = (
        LeadSource.all_tenants.filter(
            key=source_key, is_active=True, tenant__is_active=True
        ).first()
        if source_key
        else None
    )
    if source is None:
        return _error(404, "not_found", _("No such webhook."))
    if not timestamp or not signature:
        return _error(401, "unauthenticated", _("The request is not signed."))
    expected = webhook_signature(source.secret, timestamp, body)
    if not hmac.compare_digest(expected.encode(), signature.strip().encode()):
        return _error(401, "unauthenticated", _("The signature does not match."))
    try:
        sent_at = int(timestamp)
    except ValueError:
        return _error(401, "unauthenticated", _("The timestamp is not a number."))
    if abs(now.timestamp() - sent_at) > WEBHOOK_WINDOW_SECONDS:
        return _error(401, "expired", _("The timestamp is outside the 5-minute window."))
    key = (idempotency_key or "").strip()
    if not key or len(key) > MAX_IDEMPOTENCY_KEY:
        return _error(
            400, "bad_request", _("An Idempotency-Key header of up to 200 characters is required.")
        )
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        payload = None
    if not isinstance(payload, dict):
        return _error(400, "bad_request", _("The body must be a JSON object."))
    digest = hashlib.sha256(body).hexdigest()
    with tenant_context(source.tenant_id):
        try:
            return _webhook_capture(source, key, digest, payload, now)
        except IntegrityError:
            # Another request with this key committed first (PostgreSQL blocks on the unique
            # index until then): answer what it answered.
            return _replay(source, key, digest)


def _replay(source: LeadSource, key: str, digest: str) -> WebhookOutcome:
    receipt = WebhookReceipt.objects.get(source=source, idempotency_key=key)
    if receipt.body_sha256 != digest:
        return _error(409, "conflict", _("This Idempotency-Key was used with another body."))
    return WebhookOutcome(receipt.status_code, receipt.response, replayed=True)


@transaction.atomic
def _webhook_capture(
    source: LeadSource, key: str, digest: str, payload: dict[str, Any], now: datetime
) -> WebhookOutcome:
    if WebhookReceipt.objects.filter(source=source, idempotency_key=key).exists():
        return _replay(source, key, digest)
    # The receipt is written first: a concurrent request with the same key waits on it.
    receipt = WebhookReceipt.objects.create(
        source=source, idempotency_key=key, body_sha256=digest, status_code=202, response={}
    )
    values = {k: str(payload[k])[:200] for k in CAPTURE_FIELDS if payload.get(k) not in (None, "")}
    values["source"] = source.name
    try:
        with transaction.atomic():
            result = lead_capture(
                actor=None,
                values=values,
                channel=LeadChannel.WEBHOOK,
                product_line=str(payload.get("product_line") or source.product_line)[:60],
                message=str(payload.get("message") or "")[:5000],
                consent=payload.get("consent") is True,
                consent_text=str(payload.get("consent_text") or "")[:500],
                source_ref=source,
                now=now,
            )
        receipt.status_code = 201 if result.created else 200
        receipt.response = result.as_dict()
        receipt.lead = result.lead
    except DomainError as exc:
        receipt.status_code = exc.status
        receipt.response = {"code": exc.code, "message": exc.message, "fields": exc.fields}
    receipt.save(update_fields=["status_code", "response", "lead", "updated_at"])
    return WebhookOutcome(receipt.status_code, receipt.response)


# --- public web forms ---------------------------------------------------------------------------

FORM_FIELDS = ("name", "company", "title", "email", "phone", "region", "message")
HONEYPOT_FIELD = "website"


@dataclass(frozen=True)
class FormOutcome:
    ok: bool
    errors: dict[str, list[str]]
    result: CaptureResult | None = None
    rate_limited: bool = False


def webform_get(*, key: str) -> WebForm | None:
    """The active form with this public key (any tenant: the key names it)."""
    return (
        WebForm.all_tenants.filter(key=key, is_active=True, tenant__is_active=True)
        .select_related("tenant")
        .first()
    )


def webform_fields(form: WebForm) -> list[str]:
    chosen = [f for f in form.fields if f in FORM_FIELDS]
    return ["name", *[f for f in chosen if f != "name"]]


def _rate_limited(form: WebForm, address: str) -> bool:
    key = f"crm:webform:{form.pk}:{address}"
    if cache.add(key, 1, timeout=3600):
        return form.rate_limit_per_hour < 1
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=3600)
        count = 1
    return count > form.rate_limit_per_hour


def webform_submit(
    *, form: WebForm, data: Mapping[str, str], address: str | None, now: datetime | None = None
) -> FormOutcome:
    """A public form post: honeypot, rate limit per address, required fields, consent.

    A filled honeypot answers like a success and stores nothing, so bots learn nothing.
    """
    if data.get(HONEYPOT_FIELD, "").strip():
        return FormOutcome(True, {})
    if _rate_limited(form, address or "unknown"):
        return FormOutcome(
            False,
            {"__all__": [_("Too many submissions. Please try again later.")]},
            rate_limited=True,
        )
    fields = webform_fields(form)
    errors: dict[str, list[str]] = {}
    for name in ("name", *[f for f in form.required if f in fields]):
        if not str(data.get(name, "")).strip():
            errors.setdefault(name, []).append(_("This field is required."))
    consent = str(data.get("consent", "")).lower() in {"on", "1", "true", "yes"}
    if form.consent_required and not consent:
        errors["consent"] = [_("Please agree so that we may contact you.")]
    if errors:
        return FormOutcome(False, errors)
    values = {
        f: str(data.get(f, "")).strip()[:200] for f in fields if f != "message" and data.get(f)
    }
    values["source"] = form.source
    with tenant_context(form.tenant_id):
        try:
            result = lead_capture(
                actor=None,
                values=values,
                channel=LeadChannel.WEBFORM,
                product_line=form.product_line,
                message=str(data.get("message", "")).strip()[:5000] if "message" in fields else "",
                consent=consent,
                consent_text=form.consent_text,
                consent_ip=address,
                web_form=form,
                now=now,
            )
        except ValidationFailedError as exc:
            return FormOutcome(False, exc.fields or {"__all__": [exc.message]})
    return FormOutcome(True, {}, result)


# --- admin: sources and forms -------------------------------------------------------------------


def _public_key() -> str:
    return secrets.token_urlsafe(18).replace("_", "").replace("-", "")[:24].lower()


@transaction.atomic
def lead_source_create(
    *, actor: Membership, name: str, product_line: str = ""
) -> tuple[LeadSource, str]:
    """A webhook sender; returns it with its shared secret (shown to the admin to copy)."""
    require_admin(actor)
    if not name.strip():
        raise field_error("name", _("This field is required."))
    secret = secrets.token_urlsafe(32)
    source = LeadSource(
        name=name.strip()[:60], key=_public_key(), secret=secret, product_line=product_line[:60]
    )
    save_new(actor, source)
    return source, secret


@transaction.atomic
def web_form_create(
    *,
    actor: Membership,
    name: str,
    fields: Sequence[str],
    required: Sequence[str] = (),
    consent_text: str = "",
    consent_required: bool = True,
    success_message: str = "",
    source: str = "webform",
    product_line: str = "",
    rate_limit_per_hour: int = 10,
) -> WebForm:
    require_admin(actor)
    unknown = [f for f in [*fields, *required] if f not in FORM_FIELDS]
    if unknown:
        raise field_error("fields", _("Unknown field: %s") % ", ".join(unknown))
    form = WebForm(
        name=name,
        key=_public_key(),
        fields=list(dict.fromkeys(["name", *fields])),
        required=[f for f in dict.fromkeys(required) if f in ["name", *fields]],
        consent_text=consent_text,
        consent_required=consent_required,
        success_message=success_message,
        source=source,
        product_line=product_line,
        rate_limit_per_hour=rate_limit_per_hour,
    )
    return save_new(actor, form)


def web_form_snippet(form: WebForm, base_url: str) -> str:
    """The HTML an admin pastes into their site."""
    url = f"{base_url.rstrip('/')}/forms/{form.key}/"
    return (
        f'<iframe src="{url}" title="{escape(form.name)}" loading="lazy" '
        'width="100%" height="640" frameborder="0"></iframe>'
    )


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
