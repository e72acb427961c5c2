"""Privacy requests (PIPL / GDPR): a person's data exported, a person erased, consent, retention.

* Export: everything about one contact (the contact, its company, activities, tasks,
  opportunities, orders with lines, leads converted into it, consent history, audit entries)
  as JSON plus one CSV per section, in a zip.
* Erasure: personal data is removed or replaced everywhere it is stored in clear or encrypted
  (the contact, activities and tasks about it, leads converted into it or with its email or
  phone, merge snapshots, duplicate candidates, consent records, the cells of import rows
  that failed with the person's email, phone or ID number, earlier privacy exports of the
  person); the rows themselves stay so that counts, sums and histories (orders, revenue,
  activity volumes) are kept. The erasure is audited without any of the erased values. Copies
  in import files and export files go when those expire (crm.integrations.expiry).
* Consent per channel with source, time and wording (ConsentRecord), mirrored on the contact.
* Retention: contacts with no activity, order or change for N years are anonymised the same
  way; `dry_run` reports how many and which ids first.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.activities.models import Activity, Task
from crm.core.context import tenant_context
from crm.core.errors import ConflictError
from crm.core.mailbox import mailbox_key
from crm.core.writes import field_error
from crm.customers.models import Channel, Contact
from crm.customers.services import apply_name_keys, contact_update
from crm.events.services import record_written
from crm.integrations import files
from crm.integrations.models import (
    ConsentRecord,
    DuplicateCandidate,
    ImportRowError,
    JobStatus,
    MergeRecord,
    PrivacyKind,
    PrivacyRequest,
    RetentionPolicy,
)
from crm.sales.models import Lead, Opportunity, Order, OrderLine
from crm.tenancy.models import AuditLog, Membership, Tenant
from crm.tenancy.permissions import require_admin

ERASED = "[erased]"


# --- consent ------------------------------------------------------------------------------------


@transaction.atomic
def consent_record(
    *,
    actor: Membership | None,
    contact: Contact,
    channel: str,
    granted: bool,
    source: str,
    wording: str = "",
    at: datetime | None = None,
) -> ConsentRecord:
    """Record consent given or withdrawn on one channel; the contact's flag follows."""
    if channel not in Channel.values:
        raise field_error("channel", _("Choose email, sms, phone or wechat."))
    source = source.strip()
    if not source or len(source) > 100:
        raise field_error("source", _("Say where the consent came from (up to 100 characters)."))
    if len(wording) > 5000:
        raise field_error("wording", _("The wording can have at most 5,000 characters."))
    record = ConsentRecord(
        contact=contact,
        channel=channel,
        granted=granted,
        source=source,
        wording=wording,
        at=at or timezone.now(),
        recorded_by=actor,
    )
    record.save()
    latest = (
        ConsentRecord.objects.filter(contact=contact, channel=channel)
        .order_by("-at", "-id")
        .first()
    )
    flag = f"consent_{channel}"
    if latest is not None and getattr(contact, flag) != latest.granted:
        if actor is not None:
            contact_update(actor=actor, contact=contact, values={flag: latest.granted})
        else:
            setattr(contact, flag, latest.granted)
            contact.save(update_fields=[flag, "updated_at"])
    record_written(
        actor=actor,
        instance=record,
        action="granted" if granted else "withdrawn",
        changes={
            "contact": [None, contact.pk],
            "channel": [None, channel],
            "source": [None, source],
        },
    )
    return record


# --- subject export -----------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, (int, float, bool, str)) or value is None:
        return value
    return str(value)


def _rows(queryset: Any, fields: list[str]) -> list[dict[str, Any]]:
    return [{f: _plain(getattr(obj, f)) for f in fields} for obj in queryset]


def subject_data(contact: Contact) -> dict[str, list[dict[str, Any]]]:
    """Everything stored about one person, section by section."""
    data: dict[str, list[dict[str, Any]]] = {}
    data["contact"] = _rows(
        [contact],
        [
            "id",
            "name",
            "title",
            "email",
            "phone",
            "id_number",
            "wechat",
            "city",
            "preferred_channel",
            "consent_email",
            "consent_sms",
            "consent_phone",
            "consent_wechat",
            "external_id",
            "created_at",
            "updated_at",
        ],
    )
    if contact.account_id:
        data["company"] = _rows([contact.account], ["id", "name", "industry", "city", "website"])
    data["activities"] = _rows(
        Activity.objects.filter(record_type="contact", record_id=contact.pk).order_by("at"),
        ["id", "kind", "subject", "body", "at", "outcome", "duration_minutes"],
    )
    data["tasks"] = _rows(
        Task.objects.filter(record_type="contact", record_id=contact.pk).order_by("id"),
        ["id", "title", "notes", "due_at", "status", "completed_at"],
    )
    data["opportunities"] = _rows(
        Opportunity.objects.filter(contact=contact).order_by("id"),
        ["id", "name", "amount", "currency", "expected_close_date", "created_at"],
    )
    orders = Order.objects.filter(contact=contact).order_by("ordered_at")
    data["orders"] = _rows(orders, ["id", "number", "ordered_at", "status", "total", "currency"])
    data["order_lines"] = _rows(
        OrderLine.objects.filter(order__contact=contact).order_by("order_id", "id"),
        ["id", "order_id", "description", "category", "quantity", "unit_price", "amount"],
    )
    data["leads"] = _rows(
        _leads_of(contact),
        ["id", "name", "company", "email", "phone", "source", "status", "created_at"],
    )
    data["consents"] = _rows(
        ConsentRecord.objects.filter(contact=contact).order_by("at"),
        ["channel", "granted", "source", "wording", "at"],
    )
    data["history"] = _rows(
        AuditLog.objects.filter(record_type="contact", record_id=contact.pk).order_by("seq"),
        ["at", "action", "actor_label", "changes"],
    )
    return data


def _leads_of(contact: Contact) -> Any:
    q = Q(converted_contact=contact)
    if contact.email_index:
        # their mailbox in any spelling: a+news@x.com, a@x.com, a+crm@x.com are one person's
        q |= Q(email_index=contact.email_index)
        if mailbox := mailbox_key(contact.email):
            q |= Q(email_index=mailbox) | Q(email_alias_index=mailbox)
    if contact.phone_index:
        q |= Q(phone_index=contact.phone_index)
    return Lead.objects.filter(q).order_by("id")


def _zip(data: dict[str, list[dict[str, Any]]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("person.json", json.dumps(data, ensure_ascii=False, indent=2, default=str))
        for section, rows in data.items():
            if not rows:
                continue
            text = io.StringIO()
            text.write("\ufeff")
            writer = csv.DictWriter(text, fieldnames=list(rows[0]), lineterminator="\r\n")
            writer.writeheader()
            for row in rows:
                writer.writerow(
                    {
                        k: json.dumps(v, ensure_ascii=False) if isinstance(v, dict | list) else v
                        for k, v in row.items()
                    }
                )
            archive.writestr(f"{section}.csv", text.getvalue())
    return buffer.getvalue()


@transaction.atomic
def privacy_export(*, actor: Membership, contact: Contact, note: str = "") -> PrivacyRequest:
    """Export everything about a person into a zip (JSON + CSV) kept with the request."""
    require_admin(actor)
    relative, path = files.new_path("privacy", ".zip")
    data = subject_data(contact)
    path.write_bytes(_zip(data))
    request = PrivacyRequest(
        kind=PrivacyKind.EXPORT,
        status=JobStatus.DONE,
        contact=contact,
        subject_ref=f"contact #{contact.pk}",
        requested_by=actor,
        note=note[:500],
        summary={k: len(v) for k, v in data.items()},
        file_path=relative,
        completed_at=timezone.now(),
    )
    request.save()
    record_written(
        actor=actor,
        instance=request,
        action="exported",
        changes={"subject": [None, request.subject_ref], "sections": [None, request.summary]},
    )
    return request


# --- erasure ------------------------------------------------------------------------------------


def _anonymise_contact(contact: Contact) -> None:
    placeholder = f"{ERASED} #{contact.pk}"
    contact.name = placeholder
    for name in (
        "title",
        "email",
        "phone",
        "id_number",
        "wechat",
        "city",
        "external_id",
        "preferred_channel",
    ):
        setattr(contact, name, "")
    for name in ("email_index", "phone_index", "id_number_index"):
        setattr(contact, name, "")
    contact.email_alias_index = None
    for channel in Channel.values:
        setattr(contact, f"consent_{channel}", False)
    apply_name_keys(contact, "")
    contact.deleted_at = contact.deleted_at or timezone.now()
    contact.save()
    contact.tags.clear()


def erase_contact(contact: Contact, *, recent_copies: bool = True) -> dict[str, int]:
    """Remove or replace a person's data everywhere; returns what was touched, by table.

    `recent_copies`: also look through the failed import rows still holding their cells (a
    few days' worth). Retention passes False: a person inactive for years is not in last
    week's failed rows, and reading them once per anonymised contact would be slow.
    """
    leads = list(_leads_of(contact).values_list("id", flat=True))
    summary = {
        "activities": Activity.objects.filter(record_type="contact", record_id=contact.pk).update(
            subject=ERASED, body="", outcome=""
        ),
        "tasks": Task.objects.filter(record_type="contact", record_id=contact.pk).update(
            title=ERASED, notes=""
        ),
        "leads": Lead.objects.filter(pk__in=leads).update(
            name=ERASED,
            company="",
            title="",
            email="",
            email_index="",
            email_alias_index=None,
            phone="",
            phone_index="",
            notes="",
            name_key="",
            pinyin_key="",
            initials_key="",
        ),
        "consents": ConsentRecord.objects.filter(contact=contact).delete()[0],
        "merge_snapshots": MergeRecord.objects.filter(record_type="contact")
        .filter(Q(survivor_id=contact.pk) | Q(merged_id=contact.pk))
        .update(survivor_before="", survivor_after=""),
        "duplicate_candidates": DuplicateCandidate.objects.filter(record_type="contact")
        .filter(Q(left_id=contact.pk) | Q(right_id=contact.pk))
        .delete()[0],
        "import_rows": _forget_import_rows(contact) if recent_copies else 0,
        "privacy_files": _forget_privacy_exports(contact),
        "orders_kept": Order.objects.filter(contact=contact).count(),
    }
    _anonymise_contact(contact)
    summary["contact"] = 1
    return summary


def _identifiers(contact: Contact) -> tuple[set[str], set[str]]:
    """The person's email, ID number and external ID as a cell would hold them (lower case),
    and their phone as its last 11 digits."""
    texts = {
        str(value).strip().lower()
        for value in (contact.email, contact.id_number, contact.external_id)
        if value and str(value).strip()
    }
    digits = "".join(ch for ch in contact.phone or "" if ch.isdigit())[-11:]
    return texts, ({digits} if len(digits) >= 7 else set())


def _forget_import_rows(contact: Contact) -> int:
    """Empty the cells of failed or skipped import rows that name this person.

    Only rows still holding their cells are read: they are deleted within FILE_RETENTION_DAYS
    anyway, so this is a few days' failed rows, not the whole history.
    """
    texts, phones = _identifiers(contact)
    if not texts and not phones:
        return 0
    hits = []
    rows = ImportRowError.objects.exclude(values=[]).values_list("id", "values")
    for pk, cells in rows.iterator(chunk_size=1000):
        for cell in cells or []:
            text = str(cell).strip().lower()
            digits = "".join(ch for ch in text if ch.isdigit())[-11:]
            if text in texts or (digits and digits in phones):
                hits.append(pk)
                break
    for start in range(0, len(hits), 500):
        ImportRowError.objects.filter(pk__in=hits[start : start + 500]).update(values=[])
    return len(hits)


def _forget_privacy_exports(contact: Contact) -> int:
    """Earlier privacy exports of this person: their zips hold everything that is erased now."""
    removed = 0
    exports = PrivacyRequest.objects.filter(
        kind=PrivacyKind.EXPORT, contact=contact, file_deleted_at__isnull=True
    ).exclude(file_path="")
    for request in exports:
        files.remove(request.file_path)
        PrivacyRequest.objects.filter(pk=request.pk).update(file_deleted_at=timezone.now())
        removed += 1
    return removed


@transaction.atomic
def privacy_erase(*, actor: Membership, contact: Contact, note: str = "") -> PrivacyRequest:
    """Erase a person. Orders, amounts and activity counts stay, tied to an anonymous contact."""
    require_admin(actor)
    contact = Contact.objects.select_for_update().get(pk=contact.pk)
    if contact.name.startswith(ERASED):
        raise ConflictError(_("This person was already erased."))
    summary = erase_contact(contact)
    request = PrivacyRequest(
        kind=PrivacyKind.ERASE,
        status=JobStatus.DONE,
        contact=contact,
        subject_ref=f"contact #{contact.pk}",
        requested_by=actor,
        note=note[:500],
        summary=summary,
        completed_at=timezone.now(),
    )
    request.save()
    # The trace names what was erased and how much, never the erased values.
    record_written(
        actor=actor,
        instance=contact,
        action="erased",
        changes={"privacy_request": [None, request.pk], "touched": summary},
    )
    return request


# --- retention ----------------------------------------------------------------------------------


def inactive_contacts(years: int) -> Any:
    """Contacts with no change, activity or order for `years` years (and not erased yet)."""
    cutoff = timezone.now() - timedelta(days=365 * years + years // 4)
    recent_activity = Activity.objects.filter(
        record_type="contact", record_id=OuterRef("pk"), at__gte=cutoff
    )
    recent_order = Order.objects.filter(contact=OuterRef("pk"), ordered_at__gte=cutoff)
    return (
        Contact.objects.filter(updated_at__lt=cutoff)
        .filter(Q(last_activity_at__isnull=True) | Q(last_activity_at__lt=cutoff))
        .exclude(name__startswith=ERASED)
        .exclude(Exists(recent_activity))
        .exclude(Exists(recent_order))
    )


@transaction.atomic
def retention_set(*, actor: Membership, inactive_years: int | None) -> RetentionPolicy:
    require_admin(actor)
    if inactive_years is not None and not 1 <= inactive_years <= 100:
        raise field_error("inactive_years", _("Choose between 1 and 100 years, or none."))
    policy, _created = RetentionPolicy.objects.get_or_create()
    before = policy.inactive_years
    policy.inactive_years = inactive_years
    policy.save(update_fields=["inactive_years", "updated_at"])
    record_written(
        actor=actor,
        instance=policy,
        action="updated",
        changes={"inactive_years": [before, inactive_years]},
    )
    return policy


def retention_run(
    *, actor: Membership | None, dry_run: bool = True, limit: int = 100
) -> dict[str, Any]:
    """Anonymise inactive contacts per the tenant's policy; a dry run only counts them."""
    if actor is not None:
        require_admin(actor)
    policy = RetentionPolicy.objects.first()
    if policy is None or policy.inactive_years is None:
        raise ConflictError(_("Set a retention period first."))
    qs = inactive_contacts(policy.inactive_years)
    if dry_run:
        ids = list(qs.order_by("id").values_list("id", flat=True)[:limit])
        return {"dry_run": True, "would_anonymise": qs.count(), "sample_ids": ids}
    erased = 0
    for pk in qs.order_by("id").values_list("id", flat=True).iterator(chunk_size=1000):
        with transaction.atomic():
            contact = Contact.objects.select_for_update().get(pk=pk)
            summary = erase_contact(contact, recent_copies=False)
            record_written(
                actor=actor,
                instance=contact,
                action="erased",
                changes={"retention_years": [None, policy.inactive_years], "touched": summary},
            )
        erased += 1
    result = {"dry_run": False, "anonymised": erased}
    RetentionPolicy.objects.filter(pk=policy.pk).update(
        last_run_at=timezone.now(), last_run_summary=result
    )
    if erased:
        request = PrivacyRequest(
            kind=PrivacyKind.ERASE,
            status=JobStatus.DONE,
            subject_ref=f"retention: {erased} contacts",
            requested_by=actor,
            note=_("Retention: inactive for %s years") % policy.inactive_years,
            summary=result,
            completed_at=timezone.now(),
        )
        request.save()
    return result


def retention_run_all() -> None:
    """The nightly job: every tenant with a retention period (operator code, all tenants)."""
    for tenant_id in RetentionPolicy.all_tenants.filter(inactive_years__isnull=False).values_list(
        "tenant_id", flat=True
    ):
        if not Tenant.objects.filter(pk=tenant_id, is_active=True).exists():
            continue
        with tenant_context(tenant_id):
            retention_run(actor=None, dry_run=False)
