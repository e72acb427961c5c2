"""Writes of crm.reports: report schedules, and sending the reports that are due.

**Delivery.** The outbox (crm.events.mail / OutboxEmail) stores subject, text and HTML bodies
and headers, but no attachments, so a scheduled report is not attached: each period's file is
written once to the tenant's file storage, recorded as a :class:`ReportDelivery`, and the email
carries the report's table as text plus a signed link to download the file. The link only opens
for a signed-in member of the tenant who is a recipient or the schedule's owner, and expires
after REPORT_LINK_DAYS (default 30) days.

**Exactly once per period.** The due schedule's row is locked, the period is the last complete
week (Monday to Sunday) or month before "now" in the tenant's time zone, and the delivery row is
unique per (schedule, period start); the email is stored in the same transaction with that
delivery's dedupe key. A second worker, or a run after a crash, finds the delivery and only
moves `next_run_at` on.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMessage
from django.db import transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from crm.core.context import current_tenant_id
from crm.core.errors import NotFoundError, ValidationFailedError
from crm.core.writes import field_error, snapshot
from crm.events.crud import hard_delete, save_changes, save_new
from crm.events.mail import outbox_store
from crm.integrations import files
from crm.reports.export import file_name, report_file
from crm.reports.models import FileFormat, Frequency, ReportDelivery, ReportSchedule
from crm.reports.periods import tenant_zone
from crm.reports.selectors import (
    REPORT_KINDS,
    Report,
    filters_from,
    report_build,
)
from crm.sales.models import Pipeline
from crm.tenancy.models import Membership, Team, Tenant
from crm.tenancy.permissions import require_write

SEND_HOUR = 7  # local time at which a due report goes out
MAX_RECIPIENTS = 50
LINK_SALT = "crm.reports.delivery"
SCHEDULE_FIELDS = ("name", "report_kind", "filters", "frequency", "file_format", "recipient_ids")
STORED_FILTERS = ("owner_id", "team_id", "pipeline_id", "category", "source", "kind")
TEXT_ROWS = 50  # rows of the report written into the email's text


def link_days() -> int:
    return int(getattr(settings, "REPORT_LINK_DAYS", os.environ.get("CRM_REPORT_LINK_DAYS", 30)))


def base_url() -> str:
    configured = getattr(settings, "BASE_URL", "") or os.environ.get("CRM_BASE_URL", "")
    return (configured or "http://127.0.0.1:8000").rstrip("/")


# --- periods ------------------------------------------------------------------------------------


def _local(moment: datetime) -> datetime:
    return timezone.localtime(moment, tenant_zone())


def next_run_after(frequency: str, moment: datetime) -> datetime:
    """The first send time strictly after `moment`: Monday (weekly) or the 1st (monthly) at
    SEND_HOUR, tenant time."""
    local = _local(moment)
    zone = tenant_zone()
    if frequency == Frequency.WEEKLY:
        day = local.date() - timedelta(days=local.weekday())
        candidate = datetime.combine(day, time(SEND_HOUR), tzinfo=zone)
        while candidate <= moment:
            candidate = datetime.combine(
                candidate.date() + timedelta(days=7), time(SEND_HOUR), tzinfo=zone
            )
        return candidate
    first = local.date().replace(day=1)
    candidate = datetime.combine(first, time(SEND_HOUR), tzinfo=zone)
    while candidate <= moment:
        first = (first + timedelta(days=32)).replace(day=1)
        candidate = datetime.combine(first, time(SEND_HOUR), tzinfo=zone)
    return candidate


def period_before(frequency: str, moment: datetime) -> tuple[date, date]:
    """The last complete week (Monday to Sunday) or calendar month before `moment`."""
    today = _local(moment).date()
    if frequency == Frequency.WEEKLY:
        monday = today - timedelta(days=today.weekday())
        return monday - timedelta(days=7), monday - timedelta(days=1)
    end = today.replace(day=1) - timedelta(days=1)
    return end.replace(day=1), end


# --- schedules ----------------------------------------------------------------------------------


def _check_stored_filters(kind: str, raw: Any) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise field_error("filters", _("Filters must be an object."))
    unknown = sorted(set(raw) - set(STORED_FILTERS))
    if unknown:
        raise field_error(f"filters.{unknown[0]}", _("This report cannot be filtered by this."))
    try:
        parsed = filters_from(raw, kind=kind)
    except ValidationFailedError as exc:
        name, messages = next(iter(exc.fields.items()), ("", [exc.message]))
        raise field_error(f"filters.{name}".rstrip("."), messages[0]) from exc
    stored = {k: v for k, v in parsed.as_json().items() if k in STORED_FILTERS}
    for name, model in (("owner_id", Membership), ("team_id", Team), ("pipeline_id", Pipeline)):
        if name in stored and not model._default_manager.filter(pk=stored[name]).exists():
            raise field_error(f"filters.{name}", _("No such record."))
    return stored


def _check_recipients(owner: Membership, ids: Sequence[Any] | None) -> list[int]:
    if not ids:
        return [owner.pk]
    try:
        wanted = list(dict.fromkeys(int(i) for i in ids))
    except (TypeError, ValueError) as exc:
        raise field_error("recipient_ids", _("Choose members of your company.")) from exc
    if len(wanted) > MAX_RECIPIENTS:
        raise field_error("recipient_ids", _("At most 50 recipients."))
    found = set(
        Membership.objects.filter(pk__in=wanted, is_active=True).values_list("pk", flat=True)
    )
    if found != set(wanted):
        raise field_error("recipient_ids", _("Choose active members of your company."))
    return wanted


def _validate(schedule: ReportSchedule) -> None:
    if schedule.report_kind not in REPORT_KINDS:
        raise field_error("report_kind", _("Unknown report."))
    if schedule.frequency not in Frequency.values:
        raise field_error("frequency", _("Choose weekly or monthly."))
    if schedule.file_format not in FileFormat.values:
        raise field_error("file_format", _("Choose CSV or XLSX."))
    if not str(schedule.name).strip():
        raise field_error("name", _("This field is required."))
    schedule.filters = _check_stored_filters(schedule.report_kind, schedule.filters or {})
    schedule.recipient_ids = _check_recipients(schedule.owner, schedule.recipient_ids)


def _require_manageable(actor: Membership, schedule: ReportSchedule) -> None:
    require_write(actor)
    if schedule.owner_id != actor.pk and not actor.is_admin:
        raise NotFoundError("No such report schedule.")


@transaction.atomic
def schedule_create(*, actor: Membership, values: Mapping[str, Any]) -> ReportSchedule:
    """A schedule owned by the actor; its figures are those the actor may see."""
    require_write(actor)
    unknown = set(values) - set(SCHEDULE_FIELDS) - {"active"}
    if unknown:
        raise field_error(sorted(unknown)[0], _("This field cannot be set."))
    schedule = ReportSchedule(owner=actor, **values)
    _validate(schedule)
    schedule.next_run_at = next_run_after(schedule.frequency, timezone.now())
    return save_new(actor, schedule)


@transaction.atomic
def schedule_update(
    *, actor: Membership, schedule: ReportSchedule, values: Mapping[str, Any]
) -> ReportSchedule:
    _require_manageable(actor, schedule)
    before = snapshot(schedule, (*SCHEDULE_FIELDS, "active", "next_run_at"))
    for name, value in values.items():
        if name not in (*SCHEDULE_FIELDS, "active"):
            raise field_error(name, _("This field cannot be set."))
        setattr(schedule, name, value)
    _validate(schedule)
    if "frequency" in values or values.get("active"):
        schedule.next_run_at = next_run_after(schedule.frequency, timezone.now())
    save_changes(actor, schedule, before)
    return schedule


@transaction.atomic
def schedule_delete(*, actor: Membership, schedule: ReportSchedule) -> None:
    _require_manageable(actor, schedule)
    for delivery in ReportDelivery.objects.filter(schedule=schedule):
        hard_delete(actor, delivery)
    hard_delete(actor, schedule)


# --- sending ------------------------------------------------------------------------------------


def delivery_path(delivery: ReportDelivery) -> str:
    token = signing.dumps({"t": delivery.tenant_id, "d": delivery.pk}, salt=LINK_SALT)
    return reverse("reports:delivery_download", args=[token])


def delivery_link(delivery: ReportDelivery) -> str:
    return base_url() + delivery_path(delivery)


def delivery_from_token(token: str) -> ReportDelivery:
    """The delivery a link names, if it is genuine, not expired and of the current tenant."""
    try:
        data = signing.loads(token, salt=LINK_SALT, max_age=timedelta(days=link_days()))
    except signing.BadSignature as exc:
        raise NotFoundError("No such report.") from exc
    if not isinstance(data, dict) or data.get("t") != current_tenant_id():
        raise NotFoundError("No such report.")
    delivery = ReportDelivery.objects.filter(pk=data.get("d")).first()
    if delivery is None:
        raise NotFoundError("No such report.")
    return delivery


def delivery_for_member(*, actor: Membership, token: str) -> ReportDelivery:
    """Recipients and the owner (and admins) may download; for anyone else it does not exist."""
    delivery = delivery_from_token(token)
    owner_id = (
        ReportSchedule.objects.filter(pk=delivery.schedule_id)
        .values_list("owner_id", flat=True)
        .first()
    )
    if actor.pk not in delivery.recipient_ids and actor.pk != owner_id and not actor.is_admin:
        raise NotFoundError("No such report.")
    return delivery


def _text_table(report: Report) -> str:
    lines = []
    for row in report.rows[:TEXT_ROWS]:
        cells = [f"{c.label}: {_plain(row.get(c.key))}" for c in report.columns]
        lines.append(" · ".join(cells))
    if len(report.rows) > TEXT_ROWS:
        lines.append(_("… and %(n)s more rows in the file.") % {"n": len(report.rows) - TEXT_ROWS})
    totals = dict(report.totals)
    lines.append(
        _("Total")
        + ": "
        + " · ".join(
            f"{c.label}: {_plain(totals.get(c.key))}" for c in report.columns[1:] if c.key in totals
        )
    )
    return "\n".join(lines)


def _plain(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.1f}%"
    return str(value)


def _send(schedule: ReportSchedule, now: datetime) -> ReportDelivery | None:
    start, end = period_before(schedule.frequency, now)
    if ReportDelivery.objects.filter(schedule=schedule, period_start=start).exists():
        return None
    owner = schedule.owner
    filters = filters_from({**schedule.filters, "start": start, "end": end})
    report = report_build(actor=owner, kind=schedule.report_kind, filters=filters)
    content = report_file(report, schedule.file_format)
    relative, path = files.new_path("reports", f".{schedule.file_format}")
    path.write_bytes(content)
    recipients = list(
        Membership.objects.filter(pk__in=schedule.recipient_ids, is_active=True).select_related(
            "user"
        )
    )
    delivery = save_new(
        None,
        ReportDelivery(
            schedule=schedule,
            period_start=start,
            period_end=end,
            file_path=relative,
            file_name=file_name(report, schedule.file_format),
            file_format=schedule.file_format,
            recipient_ids=[m.pk for m in recipients],
            rows=len(report.rows),
        ),
    )
    addresses = sorted({m.user.email for m in recipients if m.user.email})
    if addresses:
        tenant = Tenant.objects.get(pk=current_tenant_id())
        body = "\n\n".join(
            [
                _("%(report)s for %(start)s to %(end)s, as %(owner)s sees it.")
                % {"report": report.title, "start": start, "end": end, "owner": owner},
                _text_table(report),
                _("Download the %(format)s file (valid for %(days)s days, sign-in required):")
                % {"format": schedule.file_format.upper(), "days": link_days()}
                + "\n"
                + delivery_link(delivery),
            ]
        )
        message = EmailMessage(
            subject=f"[{tenant.name}] {schedule.name} · {start} to {end}"[:200],
            body=body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=addresses,
        )
        outbox_store(message, dedupe_key=f"report:{delivery.pk}")
    return delivery


def schedule_send_due(*, schedule_id: int, now: datetime | None = None) -> ReportDelivery | None:
    """Send one schedule if it is due; returns the delivery made now (None if none was)."""
    now = now or timezone.now()
    with transaction.atomic():
        schedule = (
            ReportSchedule.objects.select_for_update()
            .select_related("owner__user", "owner__tenant")
            .filter(pk=schedule_id, active=True, next_run_at__lte=now)
            .first()
        )
        if schedule is None:
            return None
        if not schedule.owner.is_active:
            ReportSchedule.objects.filter(pk=schedule.pk).update(active=False)
            return None
        tenant = schedule.owner.tenant
        with translation.override(tenant.language or settings.LANGUAGE_CODE):
            delivery = _send(schedule, now)
        changes: dict[str, Any] = {"next_run_at": next_run_after(schedule.frequency, now)}
        if delivery is not None:
            changes["last_sent_at"] = now
        ReportSchedule.objects.filter(pk=schedule.pk).update(**changes)
        return delivery


def schedules_send_due(*, now: datetime | None = None) -> int:
    """Send every due schedule of the current tenant; returns how many reports went out."""
    now = now or timezone.now()
    due = ReportSchedule.objects.filter(active=True, next_run_at__lte=now).order_by("next_run_at")
    sent = 0
    for schedule_id in due.values_list("pk", flat=True)[:500]:
        if schedule_send_due(schedule_id=schedule_id, now=now) is not None:
            sent += 1
    return sent
