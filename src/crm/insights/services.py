"""Every write of crm.insights: recompute runs, settings, bulk follow-up tasks, coupon use.

The recompute loads the tenant's orders, lines and activities with `values_list` (no ORM object
per row), calls the pure `compute.compute_customer_insights`, and replaces the tenant's
`CustomerInsight` rows in one transaction. Anything that fails marks the run failed and leaves
the previous results untouched.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pandas as pd
from django.db import transaction
from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.activities.models import Activity
from crm.activities.services import task_create
from crm.core.errors import PermissionDeniedError, ValidationFailedError
from crm.core.writes import field_error
from crm.customers.models import Contact
from crm.events.crud import save_changes
from crm.insights.compute import MODEL_VERSION, compute_customer_insights
from crm.insights.models import (
    Coupon,
    CustomerInsight,
    InsightRun,
    InsightSettings,
    RunStatus,
)
from crm.sales.models import Order, OrderLine, OrderStatus
from crm.tenancy.models import Membership, Role
from crm.tenancy.permissions import require_write

logger = logging.getLogger(__name__)

COUNTED_STATUSES = (OrderStatus.PAID, OrderStatus.SHIPPED)
INSIGHT_MANAGERS = frozenset({Role.ADMIN, Role.MANAGER, Role.MARKETING})
BATCH = 2000
SETTINGS_FIELDS = (
    "churn_label_days",
    "playbook_enabled",
    "at_risk_threshold",
    "cooldown_days",
    "coupon_value",
    "coupon_valid_days",
    "task_due_days",
    "max_per_run",
    "email_subject",
    "email_body",
)


def require_insight_manager(actor: Membership) -> None:
    """Settings and bulk actions: admins, managers and marketing with write access."""
    require_write(actor)
    if actor.role not in INSIGHT_MANAGERS:
        raise PermissionDeniedError(_("Only admins, managers and marketing can do this."))


def settings_get_or_create() -> InsightSettings:
    found = InsightSettings.objects.first()
    if found is not None:
        return found
    return InsightSettings.objects.get_or_create()[0]


# --- recompute ----------------------------------------------------------------------------------


def insight_run_request(*, actor: Membership | None, trigger: str = "manual") -> InsightRun:
    """Record a queued run (the on-demand button and the API) and queue its job after commit.

    A run already queued or running for the tenant is returned instead of a second one.
    """
    if actor is not None:
        require_write(actor)
    pending = InsightRun.objects.filter(
        status__in=(RunStatus.QUEUED, RunStatus.RUNNING),
        created_at__gte=timezone.now() - timedelta(hours=1),
    ).first()
    if pending is not None:
        return pending
    run = InsightRun.objects.create(status=RunStatus.QUEUED, trigger=trigger, requested_by=actor)
    from crm.insights import tasks  # tasks call services: imported here, not at the top

    transaction.on_commit(lambda: tasks.recompute_enqueue(run))
    return run


def _load(as_of: datetime) -> dict[str, Any]:
    """The tenant's data as frames, read with values_list in a few queries."""
    contacts = list(
        Contact.objects.filter(deleted_at__isnull=True).values_list("pk", "preferred_channel")
    )
    contact_ids = pd.Index([c[0] for c in contacts], dtype="int64")
    preferred = pd.Series({c[0]: c[1] for c in contacts if c[1]}, dtype=object)
    orders = Order.objects.filter(
        contact_id__isnull=False,
        contact__deleted_at__isnull=True,
        status__in=COUNTED_STATUSES,
        ordered_at__lte=as_of,
    )
    order_rows = list(orders.values_list("pk", "contact_id", "ordered_at", "total"))
    line_rows = list(
        OrderLine.objects.filter(order__in=orders).values_list("order_id", "amount", "category")
    )
    order_frame = pd.DataFrame(order_rows, columns=["order_id", "customer_id", "date", "total"])
    line_frame = pd.DataFrame(line_rows, columns=["order_id", "amount", "category"])
    # orders without lines count with their total
    lineless = order_frame[~order_frame["order_id"].isin(line_frame["order_id"])]
    line_frame = pd.concat(
        [
            line_frame,
            pd.DataFrame(
                {"order_id": lineless["order_id"], "amount": lineless["total"], "category": ""}
            ),
        ],
        ignore_index=True,
    )
    lines = line_frame.merge(order_frame[["order_id", "customer_id", "date"]], on="order_id")
    lines["date"] = pd.to_datetime(lines["date"], utc=True).dt.tz_localize(None)
    lines["amount"] = lines["amount"].astype(float)
    lines["category"] = lines["category"].fillna("").astype(str)
    since = as_of - timedelta(days=90)
    recent = Activity.objects.filter(record_type="contact", at__gte=since, at__lte=as_of)
    engagement = pd.Series(
        dict(recent.values("record_id").annotate(n=Count("id")).values_list("record_id", "n")),
        dtype=float,
    )
    channel_rows = list(
        Activity.objects.filter(
            record_type="contact", kind__in=("call", "email", "meeting", "visit")
        )
        .values("record_id", "kind")
        .annotate(n=Count("id"))
        .values_list("record_id", "kind", "n")
    )
    channels = pd.DataFrame(channel_rows, columns=["customer_id", "kind", "count"])
    return {
        "lines": lines[["customer_id", "date", "amount", "category"]],
        "customers": contact_ids,
        "engagement": engagement,
        "channels": channels,
        "preferred": preferred,
        "orders": len(order_rows),
        "order_lines": len(line_rows),
    }


def _none_if_nan(value: Any) -> Any:
    if value is None:
        return None
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        return value
    return value


def _money(value: Any) -> Decimal | None:
    value = _none_if_nan(value)
    return None if value is None else Decimal(str(round(float(value), 2)))


def _rows(frame: pd.DataFrame, run: InsightRun, now: datetime) -> Iterable[CustomerInsight]:
    for cid, row in zip(frame.index, frame.itertuples(index=False), strict=True):
        score = _none_if_nan(row.r_score)
        yield CustomerInsight(
            tenant_id=run.tenant_id,
            contact_id=int(cid),
            run=run,
            orders=int(row.orders),
            first_purchase_on=_none_if_nan(row.first_purchase),
            last_purchase_on=_none_if_nan(row.last_purchase),
            recency_days=None if _none_if_nan(row.recency_days) is None else int(row.recency_days),
            monetary=_money(row.monetary) or Decimal("0"),
            r_score=None if score is None else int(row.r_score),
            f_score=None if score is None else int(row.f_score),
            m_score=None if score is None else int(row.m_score),
            rfm_code=_none_if_nan(row.rfm_code) or "",
            stage=str(row.stage),
            p_alive=_none_if_nan(row.p_alive),
            expected_purchases_12m=_none_if_nan(row.expected_purchases),
            clv_12m=_money(row.clv),
            churn_risk=float(row.churn_risk),
            churn_reasons=row.churn_reasons,
            health=float(row.health),
            engagement=int(row.engagement),
            segment=int(row.segment),
            segment_name=str(row.segment_name)[:80],
            preferences=row.preferences,
            actions=list(row.actions),
            computed_at=now,
            model_version=MODEL_VERSION,
        )


def _clean_metrics(value: Any) -> Any:
    """JSON-safe metrics: NaN/inf become null, numpy numbers plain numbers, keys strings."""
    if isinstance(value, Mapping):
        return {str(k): _clean_metrics(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean_metrics(v) for v in value]
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def insights_recompute(
    *,
    run: InsightRun | None = None,
    now: datetime | None = None,
    months: int = 12,
    monthly_discount_rate: float = 0.01,
) -> InsightRun:
    """Recompute every customer's insights of the tenant in context (see module docstring).

    Never raises for a failure of the computation: the run is marked failed with the error
    and the previous results stay in place.
    """
    now = now or timezone.now()
    if run is None:
        run = InsightRun.objects.create(status=RunStatus.QUEUED, trigger="nightly")
    run.status, run.started_at, run.as_of = RunStatus.RUNNING, timezone.now(), now.date()
    run.save(update_fields=["status", "started_at", "as_of", "updated_at"])
    try:
        data = _load(now)
        settings = settings_get_or_create()
        result = compute_customer_insights(
            data["lines"],
            data["customers"],
            pd.Timestamp(now.astimezone(UTC).replace(tzinfo=None)),
            engagement=data["engagement"],
            channels=data["channels"],
            preferred_channel=data["preferred"],
            churn_label_days=settings.churn_label_days,
            months=months,
            monthly_discount_rate=monthly_discount_rate,
        )
        with transaction.atomic():
            # one writer per tenant at a time: a second run waits, then replaces this one's rows
            InsightSettings.objects.select_for_update().filter(pk=settings.pk).first()
            CustomerInsight.objects.all().delete()
            rows = list(_rows(result.customers, run, now))
            for start in range(0, len(rows), BATCH):
                CustomerInsight.objects.bulk_create(rows[start : start + BATCH])
            run.status = RunStatus.SUCCEEDED
            run.customers = len(rows)
            run.orders = data["orders"]
            run.order_lines = data["order_lines"]
            run.model_version = MODEL_VERSION
            run.metrics = _clean_metrics(result.metrics)
            run.finished_at = timezone.now()
            run.save()
    except Exception as exc:  # any failure must leave the previous results in place
        logger.exception("insight run %s failed", run.pk)
        run.status = RunStatus.FAILED
        run.error = f"{type(exc).__name__}: {exc}"[:2000]
        run.finished_at = timezone.now()
        run.save(update_fields=["status", "error", "finished_at", "updated_at"])
    return run


# --- settings -----------------------------------------------------------------------------------


@transaction.atomic
def insight_settings_update(*, actor: Membership, values: Mapping[str, Any]) -> InsightSettings:
    require_insight_manager(actor)
    current = settings_get_or_create()
    settings = InsightSettings.objects.select_for_update().get(pk=current.pk)
    before = {name: getattr(settings, name) for name in SETTINGS_FIELDS}
    for name, value in values.items():
        if name not in SETTINGS_FIELDS:
            raise field_error(name, _("This field cannot be set."))
        setattr(settings, name, value)
    _check_template(settings.email_subject, "email_subject")
    _check_template(settings.email_body, "email_body")
    save_changes(actor, settings, before)
    return settings


TEMPLATE_FIELDS = (
    "name",
    "company",
    "coupon_code",
    "coupon_value",
    "currency",
    "valid_until",
    "owner",
)


def _check_template(text: str, field: str) -> None:
    try:
        text.format(**dict.fromkeys(TEMPLATE_FIELDS, ""))
    except (KeyError, IndexError, ValueError) as exc:
        raise ValidationFailedError(
            _("The template is not valid."),
            fields={
                field: [
                    _("Use only the placeholders %(names)s, in braces.")
                    % {"names": ", ".join(f"{{{n}}}" for n in TEMPLATE_FIELDS)}
                ]
            },
        ) from exc


# --- follow-up tasks and coupons ---------------------------------------------------------------


def followup_tasks_create(
    *, actor: Membership, contact_ids: Iterable[int], due: date | None = None
) -> list[int]:
    """One follow-up task per chosen at-risk customer, for the customer's owner (or the actor).

    Contacts the actor cannot see are skipped, as are contacts without a stored insight.
    """
    require_insight_manager(actor)
    from crm.insights.selectors import insight_list

    ids = sorted({int(i) for i in contact_ids})[:500]
    insights = list(insight_list(actor=actor).filter(contact_id__in=ids))
    due_at = timezone.now() + timedelta(days=2) if due is None else _end_of(due)
    created: list[int] = []
    with transaction.atomic():
        for insight in insights:
            contact = insight.contact
            owner = contact.owner if contact.owner and contact.owner.is_active else None
            task = task_create(
                actor=actor,
                values={
                    "title": _("Follow up with %(name)s (churn risk %(risk)s%%)")
                    % {"name": contact.name, "risk": round(insight.churn_risk * 100)},
                    "notes": _("Created from the at-risk customers list."),
                    "due_at": due_at,
                },
                record_type="contact",
                record_id=contact.pk,
                assignee_id=owner.pk if owner else None,
            )
            created.append(task.pk)
    return created


def _end_of(day: date) -> datetime:
    return timezone.make_aware(datetime(day.year, day.month, day.day, 18, 0))


def coupon_redeem(*, actor: Membership, code: str, now: datetime | None = None) -> Coupon:
    """Use a coupon once: a conditional update, so two redemptions cannot both succeed."""
    require_write(actor)
    now = now or timezone.now()
    updated = Coupon.objects.filter(
        code=code.strip().upper(), redeemed_at__isnull=True, valid_until__gte=now
    ).update(redeemed_at=now)
    coupon = Coupon.objects.filter(code=code.strip().upper()).first()
    if coupon is None or not updated:
        raise ValidationFailedError(
            _("This coupon is unknown, expired or already used."),
            fields={"code": [_("This coupon is unknown, expired or already used.")]},
        )
    return coupon


__all__ = [
    "coupon_redeem",
    "followup_tasks_create",
    "insight_run_request",
    "insight_settings_update",
    "insights_recompute",
    "settings_get_or_create",
]
