"""Scoring leads in the database: facts from the tables, rules or the tenant's model, reasons.

The numbers are computed by the pure module ``crm.sales.scoring``; this module gathers facts,
stores scores with their reasons and priority band, trains the per-tenant model and records it.
A score is derived data (like a search key): rescoring does not write an audit row per lead.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.activities.models import Activity
from crm.core.writes import field_error, snapshot
from crm.events.services import record_written
from crm.sales import scoring
from crm.sales.lead_models import LeadIntake, LeadSettings, ScoringModel
from crm.sales.models import Lead, LeadStatus
from crm.tenancy.models import Membership
from crm.tenancy.permissions import require_admin

INQUIRY = "inquiry"  # Activity.outcome of an inquiry attached to a lead or contact
SETTINGS_FIELDS = (
    "weights",
    "source_values",
    "high_from",
    "medium_from",
    "min_closed_leads",
    "task_escalate_after_minutes",
)
BATCH = 2000


# --- settings -----------------------------------------------------------------------------------


def lead_settings() -> LeadSettings:
    """The tenant's lead settings, created with the defaults on first use."""
    found = LeadSettings.objects.first()
    if found is not None:
        return found
    row, _created = LeadSettings.objects.get_or_create()
    return row


def rule_weights(settings: LeadSettings) -> scoring.RuleWeights:
    return scoring.RuleWeights(weights=settings.weights, source_values=settings.source_values)


@transaction.atomic
def lead_settings_update(*, actor: Membership, values: Mapping[str, Any]) -> LeadSettings:
    """Admins edit the rule weights, source values, bands and thresholds."""
    require_admin(actor)
    settings = lead_settings()
    before = snapshot(settings, SETTINGS_FIELDS)
    for name, value in values.items():
        if name not in SETTINGS_FIELDS:
            raise field_error(name, _("This field cannot be set."))
        setattr(settings, name, value)
    try:
        rule_weights(settings)
    except (ValueError, TypeError, AttributeError) as exc:
        raise field_error("weights", str(exc)) from exc
    if not settings.high_from > settings.medium_from:
        raise field_error("high_from", _("The high band must start above the medium band."))
    from crm.events.crud import save_changes

    save_changes(actor, settings, before)
    return settings


# --- facts --------------------------------------------------------------------------------------


def _completeness(lead: Lead) -> dict[str, bool]:
    return {
        "has_email": bool(lead.email_index),
        "has_phone": bool(lead.phone_index),
        "has_company": bool(lead.company.strip()),
        "has_title": bool(lead.title.strip()),
        "has_region": bool(lead.region.strip()),
    }


def facts_of(leads: Sequence[Lead], *, now: datetime | None = None) -> scoring.Facts:
    """Facts of saved leads: two grouped queries for inquiries and member-logged contacts."""
    now = now or timezone.now()
    ids = [lead.pk for lead in leads]
    counts: dict[int, tuple[int, int]] = {}
    messages: dict[int, int] = {}
    for start in range(0, len(ids), BATCH):
        chunk = ids[start : start + BATCH]
        rows = (
            Activity.objects.filter(
                record_type="lead", record_id__in=chunk, deleted_at__isnull=True
            )
            .values("record_id")
            .annotate(
                inquiries=Count("id", filter=Q(outcome=INQUIRY)),
                contacts=Count("id", filter=Q(owner__isnull=False) & ~Q(outcome=INQUIRY)),
            )
        )
        for row in rows:
            counts[row["record_id"]] = (row["inquiries"], row["contacts"])
        for lead_id, message in LeadIntake.objects.filter(lead_id__in=chunk).values_list(
            "lead_id", "message"
        ):
            messages[lead_id] = len(message)
    rows_out = []
    for lead in leads:
        inquiries, contacts = counts.get(lead.pk, (0, 0))
        last = lead.last_interaction_at or lead.created_at or now
        rows_out.append(
            {
                "source": lead.source,
                **_completeness(lead),
                "inquiries": 1 + inquiries,  # the capture itself is the first inquiry
                "days_since_interaction": max(0.0, (now - last).total_seconds() / 86400.0),
                "contact_count": max(lead.contact_count, contacts),
                "message_length": messages.get(lead.pk, 0),
            }
        )
    return scoring.Facts.from_rows(rows_out)


def facts_of_new(
    *,
    source: str,
    has_email: bool,
    has_phone: bool,
    company: str,
    title: str,
    region: str,
    message: str,
) -> scoring.Facts:
    """Facts of a lead about to be created (its first inquiry, no contacts yet)."""
    return scoring.Facts.from_rows(
        [
            {
                "source": source,
                "has_email": has_email,
                "has_phone": has_phone,
                "has_company": bool(company.strip()),
                "has_title": bool(title.strip()),
                "has_region": bool(region.strip()),
                "inquiries": 1,
                "days_since_interaction": 0.0,
                "contact_count": 0,
                "message_length": len(message),
            }
        ]
    )


# --- scoring ------------------------------------------------------------------------------------


REASON_TEXTS = {
    "source": lambda v: _("Source: %(value)s") % {"value": v},
    "completeness": lambda v: _("%(value)d of 5 contact details given") % {"value": int(v)},
    "engagement": lambda v: _("%(value)d inquiries") % {"value": int(v)},
    "recency": lambda v: _("Last interaction %(value)d days ago") % {"value": int(v)},
    "contact_count": lambda v: _("Contacted %(value)d times") % {"value": int(v)},
    "message": lambda v: _("Message of %(value)d characters") % {"value": int(v)},
}


def reason_dicts(reasons: Iterable[scoring.Reason]) -> list[dict[str, Any]]:
    """Reasons as stored on the lead: code, signed impact in points, value, readable text."""
    out = []
    for reason in reasons:
        item = reason.as_dict()
        item["text"] = REASON_TEXTS[reason.code](reason.value)
        out.append(item)
    return out


def active_model() -> ScoringModel | None:
    return ScoringModel.objects.filter(is_active=True).order_by("-id").first()


@dataclass(frozen=True)
class ScoreOutcome:
    score: int
    probability: float
    priority: str
    reasons: list[dict[str, Any]]
    scored_by: str  # "rules" or "model"
    model_id: int | None


def score_facts(facts: scoring.Facts) -> list[ScoreOutcome]:
    """Score facts with the tenant's active model, or its rules when no model is active."""
    settings = lead_settings()
    model = active_model()
    if model is not None:
        result = scoring.score_with_model(scoring.ModelParams.from_dict(model.params), facts)
        by, model_id = "model", model.pk
    else:
        result = scoring.score_with_rules(facts, rule_weights(settings))
        by, model_id = "rules", None
    return [
        ScoreOutcome(
            score=int(result.score[i]),
            probability=float(result.probability[i]),
            priority=scoring.band(int(result.score[i]), settings.high_from, settings.medium_from),
            reasons=reason_dicts(result.reasons(i)),
            scored_by=by,
            model_id=model_id,
        )
        for i in range(len(result))
    ]


def apply_score(lead: Lead, outcome: ScoreOutcome, *, now: datetime | None = None) -> None:
    """Store a score on a saved lead and its intake row (no audit: derived data)."""
    now = now or timezone.now()
    lead.score, lead.score_reasons, lead.priority = (
        outcome.score,
        outcome.reasons,
        outcome.priority,
    )
    Lead.objects.filter(pk=lead.pk).update(
        score=outcome.score, score_reasons=outcome.reasons, priority=outcome.priority
    )
    LeadIntake.objects.update_or_create(
        lead=lead,
        defaults={
            "scored_by": outcome.scored_by,
            "scoring_model_id": outcome.model_id,
            "scored_at": now,
        },
    )


def lead_rescore(*, lead: Lead, now: datetime | None = None) -> ScoreOutcome:
    outcome = score_facts(facts_of([lead], now=now))[0]
    apply_score(lead, outcome, now=now)
    return outcome


def leads_rescore(*, now: datetime | None = None, batch: int = BATCH) -> int:
    """Rescore every open lead of the tenant (after training, or nightly for recency)."""
    now = now or timezone.now()
    done = 0
    last_id = 0
    open_statuses = (LeadStatus.NEW, LeadStatus.WORKING, LeadStatus.QUALIFIED)
    while True:
        leads = list(
            Lead.objects.filter(
                pk__gt=last_id, status__in=open_statuses, deleted_at__isnull=True
            ).order_by("pk")[:batch]
        )
        if not leads:
            return done
        outcomes = score_facts(facts_of(leads, now=now))
        with transaction.atomic():
            for lead, outcome in zip(leads, outcomes, strict=True):
                if (lead.score, lead.priority, lead.score_reasons) != (
                    outcome.score,
                    outcome.priority,
                    outcome.reasons,
                ):
                    apply_score(lead, outcome, now=now)
        done += len(leads)
        last_id = leads[-1].pk


# --- training -----------------------------------------------------------------------------------


def closed_leads() -> list[Lead]:
    """Leads with a known outcome: converted (1) or unqualified (0), oldest first."""
    return list(
        Lead.objects.filter(
            status__in=(LeadStatus.CONVERTED, LeadStatus.UNQUALIFIED), deleted_at__isnull=True
        ).order_by("created_at", "pk")
    )


@transaction.atomic
def scoring_model_train(
    *, actor: Membership | None = None, now: datetime | None = None
) -> ScoringModel | None:
    """Train the tenant's model when it has enough closed leads; record it with its metrics.

    The model becomes the active one only when its holdout AUC beats the rules' on the same
    holdout; otherwise every model is deactivated and the rules score. Returns None when there
    are too few closed leads (or a part of the split lacks converted or lost leads).
    """
    now = now or timezone.now()
    settings = lead_settings()
    leads = closed_leads()
    if len(leads) < max(settings.min_closed_leads, 40):
        return None
    facts = facts_of(leads, now=now)
    converted = np.array([1 if lead.status == LeadStatus.CONVERTED else 0 for lead in leads])
    order = np.array([lead.created_at.timestamp() for lead in leads])
    try:
        result = scoring.train_model(facts, converted, order, rule_weights(settings))
    except scoring.TrainingError:
        return None
    ScoringModel.objects.filter(is_active=True).update(is_active=False)
    model = ScoringModel.objects.create(
        trained_at=now,
        n_train=result.n_train,
        n_holdout=result.n_holdout,
        positives=result.positives,
        holdout_from=datetime.fromtimestamp(
            result.holdout_from, tz=timezone.get_current_timezone()
        ),
        params=result.params.as_dict(),
        auc=_finite(result.model.auc),
        brier=_finite(result.model.brier),
        calibration=result.model.calibration,
        calibration_error=_finite(result.model.expected_calibration_error),
        rules_auc=_finite(result.rules.auc),
        rules_brier=_finite(result.rules.brier),
        is_active=result.use_model,
    )
    record_written(
        actor=actor,
        instance=model,
        action="trained",
        changes={
            "auc": [None, round(model.auc, 4)],
            "rules_auc": [None, round(model.rules_auc, 4)],
            "is_active": [None, model.is_active],
        },
    )
    return model


def _finite(value: float) -> float:
    return value if math.isfinite(value) else 0.0
