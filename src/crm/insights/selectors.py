"""Every read of crm.insights, scoped to the tenant in context and to what the actor may see.

A customer's insight is visible exactly when the contact is (`visible_q` on the contact's
owner); another tenant's contact, a hidden one and one without an insight are all "not found".
"""

from __future__ import annotations

from typing import Any

import numpy as np
from django.db.models import Avg, Count, Max, Min, QuerySet, Sum
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm.core.errors import NotFoundError
from crm.insights.analytics import clv
from crm.insights.models import (
    Coupon,
    CustomerInsight,
    InsightRun,
    InsightSettings,
    PlaybookAction,
    RunStatus,
    Stage,
)
from crm.tenancy.models import Membership
from crm.tenancy.permissions import visible_q

ORDERINGS = {
    "churn_risk": "churn_risk",
    "-churn_risk": "-churn_risk",
    "clv_12m": "clv_12m",
    "-clv_12m": "-clv_12m",
    "health": "health",
    "-health": "-health",
    "recency_days": "recency_days",
    "-recency_days": "-recency_days",
}

REASON_TEXT = {
    "no_recent_purchase": gettext_lazy("No purchase for %(value)s days"),
    "low_p_alive": gettext_lazy("Low probability of still being a customer (%(value)s)"),
    "single_purchase": gettext_lazy("Bought only once"),
    "no_engagement": gettext_lazy("No calls, emails or meetings in 90 days"),
    "feature_days_since_last": gettext_lazy("Days since the last purchase (+%(pct)s pts)"),
    "feature_n_orders": gettext_lazy("Number of orders (+%(pct)s pts)"),
    "feature_monetary": gettext_lazy("Total spend (+%(pct)s pts)"),
    "feature_days_since_first": gettext_lazy("Time as a customer (+%(pct)s pts)"),
    "feature_avg_order": gettext_lazy("Average order value (+%(pct)s pts)"),
}

ACTION_TEXT = {
    "qualify_lead": gettext_lazy("Qualify the lead and book a first conversation"),
    "send_first_offer": gettext_lazy("Send an introductory offer"),
    "onboard": gettext_lazy("Welcome and onboard: make sure the first purchase went well"),
    "second_purchase_offer": gettext_lazy("Suggest a complementary second purchase"),
    "cross_sell": gettext_lazy("Recommend related products (cross-sell)"),
    "invite_loyalty": gettext_lazy("Invite to the loyalty programme"),
    "reward_loyalty": gettext_lazy("Thank and reward: VIP perks, early access"),
    "ask_referral": gettext_lazy("Ask for a referral or a review"),
    "personal_check_in": gettext_lazy("Personal check-in call from the account owner"),
    "win_back_offer": gettext_lazy("Targeted win-back offer"),
    "reactivation_campaign": gettext_lazy("Low-cost reactivation campaign"),
    "exit_survey": gettext_lazy("Ask why they left (short survey)"),
    "resolve_open_tickets": gettext_lazy("Resolve the open support tickets first"),
}


def reason_text(reason: dict[str, Any]) -> str:
    template = REASON_TEXT.get(str(reason.get("code")))
    if template is None:
        return str(reason.get("code", ""))
    value = reason.get("value", "")
    pct = round(float(value) * 100) if isinstance(value, int | float) else value
    return str(template) % {"value": value, "pct": pct}


def action_text(code: str) -> str:
    return str(ACTION_TEXT.get(code, code))


def insight_list(
    *,
    actor: Membership,
    stage: str = "",
    at_risk: bool | None = None,
    min_risk: float | None = None,
    segment: int | None = None,
    ordering: str = "-churn_risk",
) -> QuerySet[CustomerInsight]:
    """Stored insights of contacts the actor can see (deleted contacts left out)."""
    qs = CustomerInsight.objects.filter(
        visible_q(actor, "contact__owner"), contact__deleted_at__isnull=True
    )
    if stage:
        qs = qs.filter(stage=stage)
    if at_risk:
        qs = qs.filter(stage=Stage.AT_RISK)
    elif at_risk is False:
        qs = qs.exclude(stage=Stage.AT_RISK)
    if min_risk is not None:
        qs = qs.filter(churn_risk__gte=min_risk)
    if segment is not None:
        qs = qs.filter(segment=segment)
    return qs.select_related("contact", "contact__owner__user").order_by(
        ORDERINGS.get(ordering, "-churn_risk"), "contact_id"
    )


def insight_get(*, actor: Membership, contact_id: int) -> CustomerInsight:
    found = insight_list(actor=actor).filter(contact_id=contact_id).first()
    if found is None:
        raise NotFoundError(_("No insight for this customer yet."))
    return found


def segment_summary(*, actor: Membership) -> list[dict[str, Any]]:
    """Per segment of the visible customers: size, value, spend, risk, recency."""
    rows = (
        insight_list(actor=actor)
        .order_by()
        .values("segment")
        .annotate(
            name=Max("segment_name"),
            customers=Count("id"),
            clv_total=Sum("clv_12m"),
            spend_total=Sum("monetary"),
            mean_risk=Avg("churn_risk"),
            mean_recency=Avg("recency_days"),
            mean_orders=Avg("orders"),
            mean_health=Avg("health"),
            first=Min("contact_id"),
        )
        .order_by("segment")
    )
    out = []
    for row in rows:
        customers = int(row["customers"])
        clv_total = float(row["clv_total"] or 0)
        out.append(
            {
                "segment": int(row["segment"]),
                "name": str(row["name"] or ""),
                "customers": customers,
                "clv_12m_total": round(clv_total, 2),
                "clv_12m_mean": round(clv_total / customers, 2) if customers else 0.0,
                "spend_total": round(float(row["spend_total"] or 0), 2),
                "mean_churn_risk": round(float(row["mean_risk"] or 0), 4),
                "mean_recency_days": None
                if row["mean_recency"] is None
                else round(float(row["mean_recency"]), 1),
                "mean_orders": round(float(row["mean_orders"] or 0), 2),
                "mean_health": round(float(row["mean_health"] or 0), 1),
            }
        )
    return out


def run_list() -> QuerySet[InsightRun]:
    return InsightRun.objects.select_related("requested_by__user").order_by("-id")


def run_get(*, run_id: int) -> InsightRun:
    found = run_list().filter(pk=run_id).first()
    if found is None:
        raise NotFoundError(_("No such run."))
    return found


def run_latest(*, succeeded: bool = False) -> InsightRun | None:
    qs = run_list()
    if succeeded:
        qs = qs.filter(status=RunStatus.SUCCEEDED)
    return qs.first()


def settings_get() -> InsightSettings:
    found = InsightSettings.objects.first()
    return found if found is not None else InsightSettings()


def p_alive_curve(insight: CustomerInsight, run: InsightRun | None, days: int = 365) -> list[Any]:
    """P(alive) of this customer as a function of days since the last purchase (0..days), from
    the BG/NBD parameters of the run that computed it; [] when no model was fitted."""
    params = (run.metrics or {}).get("bgnbd") if run is not None else None
    if not params or insight.first_purchase_on is None or insight.last_purchase_on is None:
        return []
    x = max(insight.orders - 1, 0)
    t_x = (insight.last_purchase_on - insight.first_purchase_on).days / 7.0
    steps = np.arange(0, days + 1, 7, dtype=float)
    probs = clv.bgnbd_p_alive(
        (params["r"], params["alpha"], params["a"], params["b"]), x, t_x, t_x + steps / 7.0
    )
    return [[int(d), round(float(p), 4)] for d, p in zip(steps, probs, strict=True)]


def playbook_log(*, contact_id: int | None = None, limit: int = 100) -> QuerySet[PlaybookAction]:
    qs = PlaybookAction.objects.select_related("contact", "coupon").order_by("-at", "-id")
    if contact_id is not None:
        qs = qs.filter(contact_id=contact_id)
    return qs[:limit]


def coupons_of(*, contact_id: int) -> QuerySet[Coupon]:
    return Coupon.objects.filter(contact_id=contact_id).order_by("-id")
