"""The churn-prevention playbook: coupon, retention email and follow-up task for customers whose
churn risk crossed the tenant's threshold, at most once per cool-down period.

Candidates are read from the stored insights (the nightly recompute keeps them fresh): churn
risk >= `at_risk_threshold`, at least one purchase, contact not deleted, and no playbook action
for the contact within `cooldown_days` before `now`. For each (highest risk first, at most
`max_per_run`):

1. a single-use coupon with a random 16-character code (80 bits; unique constraint);
2. the retention email from the tenant's template, through the mail outbox (only when the
   contact has an email address and email consent; otherwise the log says why);
3. a follow-up task for the contact's owner (or the first active admin when there is none).

Each step is logged as a `PlaybookAction`; the run holds a lock on the tenant's settings row,
so two workers running it at once cannot contact the same customer twice.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings as django_settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from crm.activities.services import task_create
from crm.core.context import current_tenant_id
from crm.core.errors import DomainError
from crm.customers.models import Contact
from crm.events.mail import outbox_store
from crm.insights.models import (
    ActionKind,
    Coupon,
    CustomerInsight,
    InsightSettings,
    PlaybookAction,
)
from crm.insights.selectors import reason_text, settings_get
from crm.insights.services import settings_get_or_create
from crm.tenancy.models import Membership, Role, Tenant
from crm.tenancy.permissions import visible_q

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read over the phone
CODE_LENGTH = 16  # 32 ** 16 = 2 ** 80


def coupon_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


@dataclass(frozen=True)
class Candidate:
    contact_id: int
    name: str
    owner: str
    churn_risk: float
    stage: str
    reasons: list[str]
    will_email: bool
    email_note: str


@dataclass
class PlaybookReport:
    dry_run: bool
    enabled: bool
    candidates: list[Candidate] = field(default_factory=list)
    coupons: int = 0
    emails: int = 0
    tasks: int = 0
    skipped: int = 0


def _email_note(contact: Contact) -> tuple[bool, str]:
    if not contact.email:
        return False, _("no email address")
    if not contact.consent_email:
        return False, _("no consent to email")
    return True, ""


def _candidate_insights(
    settings: InsightSettings, now: datetime, actor: Membership | None = None
) -> list[CustomerInsight]:
    since = now - timedelta(days=settings.cooldown_days)
    recent = PlaybookAction.objects.filter(at__gt=since, at__lte=now).values("contact_id")
    qs = CustomerInsight.objects.filter(
        churn_risk__gte=settings.at_risk_threshold,
        orders__gt=0,
        contact__deleted_at__isnull=True,
    ).exclude(contact_id__in=recent)
    if actor is not None:
        qs = qs.filter(visible_q(actor, "contact__owner"))
    return list(
        qs.select_related("contact", "contact__owner__user").order_by("-churn_risk", "contact_id")[
            : settings.max_per_run
        ]
    )


def _candidate(insight: CustomerInsight) -> Candidate:
    contact = insight.contact
    will_email, note = _email_note(contact)
    return Candidate(
        contact_id=contact.pk,
        name=contact.name,
        owner=str(contact.owner or ""),
        churn_risk=round(insight.churn_risk, 4),
        stage=insight.stage,
        reasons=[reason_text(r) for r in insight.churn_reasons or []],
        will_email=will_email,
        email_note=note,
    )


def playbook_preview(*, actor: Membership, now: datetime | None = None) -> PlaybookReport:
    """Dry run: who would be contacted now, and why (only customers the actor can see)."""
    now = now or timezone.now()
    settings = settings_get()  # a read: the defaults until someone saves settings
    report = PlaybookReport(dry_run=True, enabled=settings.playbook_enabled)
    report.candidates = [_candidate(i) for i in _candidate_insights(settings, now, actor)]
    return report


def _task_actor(contact: Contact) -> Membership | None:
    owner = contact.owner
    if owner is not None and owner.is_active and owner.can_write:
        return owner
    return Membership.objects.filter(role=Role.ADMIN, is_active=True).select_related("user").first()


def render_template(text: str, values: dict[str, Any]) -> str:
    return text.format(**values)


def _contact_one(
    insight: CustomerInsight,
    settings: InsightSettings,
    tenant: Tenant,
    now: datetime,
    report: PlaybookReport,
) -> None:
    contact = insight.contact
    risk = insight.churn_risk
    reason = "; ".join(reason_text(r) for r in insight.churn_reasons or [])[:300]
    coupon = Coupon.objects.create(
        code=coupon_code(),
        contact=contact,
        value=settings.coupon_value,
        currency=tenant.currency,
        valid_until=now + timedelta(days=settings.coupon_valid_days),
    )
    report.coupons += 1
    log = PlaybookAction.objects.create
    log(
        contact=contact,
        kind=ActionKind.COUPON,
        at=now,
        churn_risk=risk,
        reason=reason,
        coupon=coupon,
    )
    will_email, note = _email_note(contact)
    if will_email:
        values = {
            "name": contact.name,
            "company": tenant.name,
            "coupon_code": coupon.code,
            "coupon_value": f"{Decimal(coupon.value):.2f}",
            "currency": coupon.currency,
            "valid_until": formats.date_format(timezone.localtime(coupon.valid_until).date()),
            "owner": str(contact.owner or tenant.name),
        }
        stored = outbox_store(
            EmailMessage(
                subject=render_template(settings.email_subject, values),
                body=render_template(settings.email_body, values),
                from_email=django_settings.DEFAULT_FROM_EMAIL,
                to=[str(contact.email)],
            ),
            dedupe_key=f"playbook:{coupon.code}",
        )
        report.emails += 1
        log(
            contact=contact,
            kind=ActionKind.EMAIL,
            at=now,
            churn_risk=risk,
            coupon=coupon,
            message_id=stored.message_id,
        )
    else:
        log(contact=contact, kind=ActionKind.SKIPPED, at=now, churn_risk=risk, reason=note)
    actor = _task_actor(contact)
    if actor is None:
        log(
            contact=contact,
            kind=ActionKind.SKIPPED,
            at=now,
            churn_risk=risk,
            reason=_("no active owner or admin for the follow-up task"),
        )
        return
    task = task_create(
        actor=actor,
        values={
            "title": _("Retention call: %(name)s (churn risk %(risk)s%%)")
            % {"name": contact.name, "risk": round(risk * 100)},
            "notes": _("Coupon %(code)s sent by the churn playbook. Reasons: %(reasons)s")
            % {"code": coupon.code, "reasons": reason or "-"},
            "due_at": now + timedelta(days=settings.task_due_days),
        },
        record_type="contact",
        record_id=contact.pk,
    )
    report.tasks += 1
    log(contact=contact, kind=ActionKind.TASK, at=now, churn_risk=risk, task_id=task.pk)


def playbook_run(*, now: datetime | None = None, force: bool = False) -> PlaybookReport:
    """Run the playbook for the tenant in context (the daily job; `force` ignores "off")."""
    now = now or timezone.now()
    current = settings_get_or_create()
    report = PlaybookReport(dry_run=False, enabled=current.playbook_enabled)
    if not (current.playbook_enabled or force):
        return report
    tenant = Tenant.objects.get(pk=current_tenant_id())
    with transaction.atomic():
        settings = InsightSettings.objects.select_for_update().get(pk=current.pk)
        for insight in _candidate_insights(settings, now):
            report.candidates.append(_candidate(insight))
            step = PlaybookReport(dry_run=False, enabled=True)
            try:
                with transaction.atomic():
                    _contact_one(insight, settings, tenant, now, step)
                report.coupons += step.coupons
                report.emails += step.emails
                report.tasks += step.tasks
            except DomainError as exc:
                report.skipped += 1
                PlaybookAction.objects.create(
                    contact=insight.contact,
                    kind=ActionKind.SKIPPED,
                    at=now,
                    churn_risk=insight.churn_risk,
                    reason=str(exc.message)[:300],
                )
    return report
