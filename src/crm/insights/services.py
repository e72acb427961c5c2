"""Every write of crm.insights: recompute runs, settings, bulk follow-up tasks, coupon use.

The recompute loads the tenant's contacts, orders and order lines with raw SQL straight into
numpy arrays (order days as integers: no model instance and no datetime object per row) and its
activity counts with aggregate queries, calls the pure
`compute.compute_customer_insights`, builds the rows to store column by column, and replaces
the tenant's `CustomerInsight` rows in one transaction (a raw DELETE and batched `executemany`
INSERTs). Anything that fails marks the run failed and, the transaction being rolled back,
leaves the previous results untouched. See docs/analytics.md, "Performance of the recompute".
"""

from __future__ import annotations

import gc
import logging
import math
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.activities.models import Activity
from crm.activities.services import task_create
from crm.core.context import current_tenant_id
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
STORE_BATCH = 5000
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


# Order days are read as whole UTC days since 1970-01-01 (the compute works on calendar days):
# an expression per database, so that no datetime object is made per row.
_DAY_SQL = {
    "sqlite": "CAST(julianday(substr(ordered_at, 1, 10)) - 2440587.5 AS INTEGER)",
    "postgresql": "((ordered_at AT TIME ZONE 'UTC')::date - DATE '1970-01-01')",
}
FETCH = 100_000
EPOCH = np.datetime64("1970-01-01", "D")


def _fetch(sql: str, params: list[Any], dtypes: tuple[Any, ...]) -> list[np.ndarray]:
    """A query's columns as numpy arrays, fetched in chunks (no Python object kept per row)."""
    parts: list[list[np.ndarray]] = []
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(FETCH):
            n = len(rows)
            parts.append(
                [
                    np.fromiter((row[i] for row in rows), dtype=dtype, count=n)
                    for i, dtype in enumerate(dtypes)
                ]
            )
    if not parts:
        return [np.empty(0, dtype=dtype) for dtype in dtypes]
    return [np.concatenate(column) for column in zip(*parts, strict=True)]


def _load(as_of: datetime) -> dict[str, Any]:
    """The tenant's data as arrays and frames: raw SQL and aggregates, no model instances.

    Counted orders: paid or shipped, not deleted, of a contact that is not deleted, up to
    ``as_of``; each of their lines counts with its amount, an order without lines with its total.
    Orders and lines are read with one plain scan each and joined on the order id in numpy
    (a join in SQLite costs several times more).
    """
    tenant_id = current_tenant_id()
    vendor = connection.vendor
    quote = connection.ops.quote_name
    contact_table = quote(Contact._meta.db_table)
    order_table = quote(Order._meta.db_table)
    line_table = quote(OrderLine._meta.db_table)
    # SQL below: table and column names from the models, values as parameters
    live = "tenant_id = %s AND deleted_at IS NULL"
    sql = f"SELECT id, preferred_channel FROM {contact_table} WHERE {live}"  # noqa: S608  # nosec B608
    contact_ids, channel = _fetch(
        sql,
        [tenant_id],
        (np.int64, object),
    )
    has_channel = channel != ""
    preferred = pd.Series(channel[has_channel], index=contact_ids[has_channel], dtype=object)

    statuses = ", ".join(f"'{s}'" for s in COUNTED_STATUSES)
    day_sql = _DAY_SQL.get(vendor, _DAY_SQL["postgresql"])
    # SQLite would walk the (tenant, ordered_at) index and fetch the rows in date order, all
    # over the file (3x slower than reading them in storage order): unary + keeps it off it.
    ordered_at = "+ordered_at" if vendor == "sqlite" else "ordered_at"
    counted = f"{live} AND {ordered_at} <= %s AND contact_id IS NOT NULL AND status IN ({statuses})"
    columns = f"id, contact_id, {day_sql}, CAST(total AS DOUBLE PRECISION)"
    sql = f"SELECT {columns} FROM {order_table} WHERE {counted}"  # noqa: S608  # nosec B608
    order_id, order_contact, order_day, order_total = _fetch(
        sql,
        [tenant_id, connection.ops.adapt_datetimefield_value(as_of)],
        (np.int64, np.int64, np.int64, np.float64),
    )
    keep = np.isin(order_contact, contact_ids)  # the contact is not deleted
    sort = np.argsort(order_id[keep], kind="stable")
    order_id, order_contact, order_day, order_total = (
        a[keep][sort] for a in (order_id, order_contact, order_day, order_total)
    )
    # SQLite stores decimals as numbers already; elsewhere the cast avoids a Decimal per line
    amount_sql = "amount" if vendor == "sqlite" else "CAST(amount AS DOUBLE PRECISION)"
    sql = f"SELECT order_id, {amount_sql}, category FROM {line_table} WHERE tenant_id = %s"  # noqa: S608  # nosec B608
    line_order, line_amount, line_category = _fetch(
        sql,
        [tenant_id],
        (np.int64, np.float64, object),
    )
    pos = np.searchsorted(order_id, line_order)
    pos[pos >= len(order_id)] = 0
    found = (order_id[pos] == line_order) if len(order_id) else np.zeros(len(pos), bool)
    pos = pos[found]
    has_lines = np.zeros(len(order_id), dtype=bool)
    has_lines[pos] = True
    lineless = ~has_lines
    codes, names = pd.factorize(line_category[found])
    del line_order, line_category
    category = np.concatenate([np.asarray(names, dtype=object), np.array([""], dtype=object)])
    lines = pd.DataFrame(
        {
            "customer_id": np.concatenate([order_contact[pos], order_contact[lineless]]),
            "date": (
                EPOCH
                + np.concatenate([order_day[pos], order_day[lineless]]).astype("timedelta64[D]")
            ).astype("datetime64[ns]"),
            "amount": np.concatenate([line_amount[found], order_total[lineless]]),
            # code -1 (the lineless orders) picks the appended ""
            "category": category[np.concatenate([codes, np.full(lineless.sum(), -1)])],
        }
    )

    since = as_of - timedelta(days=90)
    activities = Activity.objects.filter(record_type="contact", deleted_at__isnull=True)
    engagement = pd.Series(
        dict(
            activities.filter(at__gte=since, at__lte=as_of)
            .values("record_id")
            .annotate(n=Count("id"))
            .values_list("record_id", "n")
        ),
        dtype=float,
    )
    channel_rows = list(
        activities.filter(kind__in=("call", "email", "meeting", "visit"))
        .values("record_id", "kind")
        .annotate(n=Count("id"))
        .values_list("record_id", "kind", "n")
    )
    channels = pd.DataFrame(channel_rows, columns=["customer_id", "kind", "count"])
    return {
        "lines": lines,
        "customers": pd.Index(contact_ids),
        "engagement": engagement,
        "channels": channels,
        "preferred": preferred,
        "orders": len(order_id),
        "order_lines": len(pos),
    }


# --- storing the results --------------------------------------------------------------------

STORED_COLUMNS = (
    "created_at",
    "updated_at",
    "tenant_id",
    "contact_id",
    "run_id",
    "orders",
    "first_purchase_on",
    "last_purchase_on",
    "recency_days",
    "monetary",
    "r_score",
    "f_score",
    "m_score",
    "rfm_code",
    "stage",
    "p_alive",
    "expected_purchases_12m",
    "clv_12m",
    "churn_risk",
    "churn_reasons",
    "health",
    "engagement",
    "segment",
    "segment_name",
    "preferences",
    "actions",
    "computed_at",
    "model_version",
)


def _ints(values: pd.Series) -> list[int | None]:
    """Whole numbers as Python ints; missing values (NaN/None) as None."""
    floats = pd.to_numeric(values, errors="coerce").to_numpy(float)
    missing = np.isnan(floats)
    ints = np.where(missing, 0, floats).astype(np.int64).tolist()
    if not missing.any():
        return ints
    return [None if m else v for v, m in zip(ints, missing.tolist(), strict=True)]


def _floats(values: pd.Series, digits: int | None = None) -> list[float | None]:
    """Finite numbers as Python floats (rounded to ``digits``); NaN/inf as None."""
    floats = pd.to_numeric(values, errors="coerce").to_numpy(float)
    if digits is not None:
        floats = np.round(floats, digits)
    missing = ~np.isfinite(floats)
    out = floats.tolist()
    if not missing.any():
        return out
    return [None if m else v for v, m in zip(out, missing.tolist(), strict=True)]


def _dates(values: pd.Series) -> list[Any]:
    """Dates adapted for the database (each distinct day once); missing as None."""
    codes, uniques = pd.factorize(pd.to_datetime(values))
    adapted = [connection.ops.adapt_datefield_value(day.date()) for day in uniques]
    adapted.append(None)  # code -1 (missing) picks this
    return [adapted[c] for c in codes.tolist()]


def _texts(values: pd.Series, max_length: int) -> list[str]:
    return ["" if v is None or v != v else str(v)[:max_length] for v in values.tolist()]


def _json(values: Iterable[Any]) -> list[Any]:
    adapt = connection.ops.adapt_json_value
    return [adapt(v, None) for v in values]


def _actions(values: Iterable[Any]) -> list[Any]:
    """Next actions: a few distinct pairs (by stage), adapted once each."""
    adapt = connection.ops.adapt_json_value
    seen: dict[tuple[Any, ...], Any] = {}
    out = []
    for v in values:
        key = tuple(v)
        if key not in seen:
            seen[key] = adapt(list(v), None)
        out.append(seen[key])
    return out


def _stored_rows(frame: pd.DataFrame, run: InsightRun, now: datetime) -> list[tuple[Any, ...]]:
    """One tuple per customer in the order of STORED_COLUMNS, built column by column."""
    n = len(frame)
    stamp = connection.ops.adapt_datetimefield_value(now)
    has_scores = frame["r_score"].notna()
    monetary = _floats(frame["monetary"].fillna(0.0), 2)
    columns: list[list[Any]] = [
        [stamp] * n,
        [stamp] * n,
        [run.tenant_id] * n,
        frame.index.to_numpy(np.int64).tolist(),
        [run.pk] * n,
        _ints(frame["orders"]),
        _dates(frame["first_purchase"]),
        _dates(frame["last_purchase"]),
        _ints(frame["recency_days"]),
        [0.0 if m is None else m for m in monetary],
        _ints(frame["r_score"].where(has_scores)),
        _ints(frame["f_score"].where(has_scores)),
        _ints(frame["m_score"].where(has_scores)),
        _texts(frame["rfm_code"], 3),
        _texts(frame["stage"], 10),
        _floats(frame["p_alive"]),
        _floats(frame["expected_purchases"]),
        _floats(frame["clv"], 2),
        _floats(frame["churn_risk"]),
        _json(frame["churn_reasons"]),
        _floats(frame["health"]),
        _ints(frame["engagement"]),
        _ints(frame["segment"]),
        _texts(frame["segment_name"], 80),
        _json(frame["preferences"]),
        _actions(frame["actions"]),
        [stamp] * n,
        [MODEL_VERSION] * n,
    ]
    return list(zip(*columns, strict=True))


def _replace_rows(rows: list[tuple[Any, ...]], tenant_id: int) -> None:
    """Delete the tenant's insight rows and insert ``rows``: raw SQL, inside the caller's
    transaction (a failure rolls both back). ``executemany`` reuses one prepared statement on
    SQLite; on PostgreSQL psycopg pipelines the batch."""
    table = connection.ops.quote_name(CustomerInsight._meta.db_table)
    names = ", ".join(connection.ops.quote_name(c) for c in STORED_COLUMNS)
    marks = ", ".join(["%s"] * len(STORED_COLUMNS))
    insert = f"INSERT INTO {table} ({names}) VALUES ({marks})"  # noqa: S608  # nosec B608
    delete = f"DELETE FROM {table} WHERE tenant_id = %s"  # noqa: S608  # nosec B608
    with connection.cursor() as cursor:
        cursor.execute(delete, [tenant_id])
        for start in range(0, len(rows), STORE_BATCH):
            cursor.executemany(insert, rows[start : start + STORE_BATCH])


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
    and the previous results stay in place. ``run.metrics["timings"]`` holds the seconds of
    each phase: load, compute, prepare (rows for the database) and store (the transaction).
    """
    now = now or timezone.now()
    if run is None:
        run = InsightRun.objects.create(status=RunStatus.QUEUED, trigger="nightly")
    run.status, run.started_at, run.as_of = RunStatus.RUNNING, timezone.now(), now.date()
    run.save(update_fields=["status", "started_at", "as_of", "updated_at"])
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        timings[name] = round(time.perf_counter() - clock, 3)
        clock = time.perf_counter()

    # Millions of short-lived objects (rows, JSON values) would trigger full garbage
    # collections over an ever larger heap; cycles made meanwhile are collected afterwards.
    collecting = gc.isenabled()
    gc.disable()
    try:
        try:
            data = _load(now)
            settings = settings_get_or_create()
            lap("load")
            result = compute_customer_insights(
                data.pop("lines"),
                data["customers"],
                pd.Timestamp(now.astimezone(UTC).replace(tzinfo=None)),
                engagement=data["engagement"],
                channels=data["channels"],
                preferred_channel=data["preferred"],
                churn_label_days=settings.churn_label_days,
                months=months,
                monthly_discount_rate=monthly_discount_rate,
            )
            lap("compute")
            rows = _stored_rows(result.customers, run, now)
            metrics = _clean_metrics(result.metrics)
            del result
            lap("prepare")
            with transaction.atomic():
                # one writer per tenant at a time: a second run waits, then replaces this one's rows
                InsightSettings.objects.select_for_update().filter(pk=settings.pk).first()
                _replace_rows(rows, run.tenant_id)
                lap("store")
                run.status = RunStatus.SUCCEEDED
                run.customers = len(rows)
                run.orders = data["orders"]
                run.order_lines = data["order_lines"]
                run.model_version = MODEL_VERSION
                run.metrics = {**metrics, "timings": timings}
                run.finished_at = timezone.now()
                run.save()
            logger.info(
                "insight run %s: %d customers, %d order lines, %s",
                run.pk,
                run.customers,
                run.order_lines,
                " ".join(f"{k}={v:.1f}s" for k, v in timings.items()),
            )
        except Exception as exc:  # any failure must leave the previous results in place
            logger.exception("insight run %s failed", run.pk)
            run.status = RunStatus.FAILED
            run.error = f"{type(exc).__name__}: {exc}"[:2000]
            run.finished_at = timezone.now()
            run.save(update_fields=["status", "error", "finished_at", "updated_at"])
    finally:
        if collecting:
            gc.enable()
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
