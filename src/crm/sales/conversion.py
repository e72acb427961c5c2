"""Lead conversion: contact (+ account) + opportunity in one transaction, undoable that day.

The lead's activities and tasks are re-linked to the new contact (so its timeline carries the
history); the lead itself stays, marked converted and pointing at the contact and account, with
its own audit trail. A LeadConversion row records what was created and moved so that
:func:`lead_conversion_undo` can put everything back within UNDO_WINDOW: the moved (and any
later) activities and tasks return to the lead, the records the conversion created are
soft-deleted, and the lead gets its previous status back.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.activities.models import Activity, Task
from crm.core.errors import ConflictError, PermissionDeniedError
from crm.core.normalise import name_key
from crm.core.writes import snapshot
from crm.customers.models import Account, Contact
from crm.customers.services import account_create, contact_create
from crm.events.crud import resolve, save_changes, soft_delete
from crm.events.services import record_written
from crm.sales.lead_models import LeadConversion
from crm.sales.models import Lead, LeadStatus, Opportunity
from crm.sales.services import opportunity_create
from crm.tenancy.models import Membership
from crm.tenancy.permissions import can_see_owner, require_write

UNDO_WINDOW = timedelta(hours=24)


def _require_editable(actor: Membership, lead: Lead) -> None:
    require_write(actor)
    if not can_see_owner(actor, lead.owner):
        raise PermissionDeniedError(_("You cannot change this record."))


def _relink(
    record_type: str, record_id: int, to_type: str, to_id: int
) -> tuple[list[int], list[int]]:
    activity_ids = list(
        Activity.objects.filter(record_type=record_type, record_id=record_id).values_list(
            "pk", flat=True
        )
    )
    task_ids = list(
        Task.objects.filter(record_type=record_type, record_id=record_id).values_list(
            "pk", flat=True
        )
    )
    Activity.objects.filter(pk__in=activity_ids).update(record_type=to_type, record_id=to_id)
    Task.objects.filter(pk__in=task_ids).update(record_type=to_type, record_id=to_id)
    return activity_ids, task_ids


@transaction.atomic
def lead_convert(
    *,
    actor: Membership,
    lead: Lead,
    account_id: int | None = None,
    create_account: bool = True,
    contact_id: int | None = None,
    create_opportunity: bool = True,
    opportunity: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> LeadConversion:
    """Convert a lead. An existing account / contact can be named instead of creating them;
    without one, an account with the same (folded) name as the lead's company is reused."""
    _require_editable(actor, lead)
    now = now or timezone.now()
    current = Lead.objects.select_for_update().get(pk=lead.pk)
    if current.deleted_at is not None:
        raise ConflictError(_("This lead was deleted."))
    if current.status == LeadStatus.CONVERTED:
        raise ConflictError(_("This lead is already converted."))
    owner_id = current.owner_id or actor.pk

    account: Account | None = resolve(Account, account_id, "account_id")
    created_account = False
    if account is None and create_account and current.company.strip():
        account = (
            Account.objects.filter(
                name_key=name_key(current.company)[:200], deleted_at__isnull=True
            )
            .order_by("id")
            .first()
        )
        if account is None:
            account = account_create(
                actor=actor,
                values={
                    "name": current.company,
                    "region": current.region,
                    "source": current.source,
                },
                owner_id=owner_id,
            )
            created_account = True

    contact: Contact | None = resolve(Contact, contact_id, "contact_id")
    created_contact = contact is None
    if contact is None:
        contact = contact_create(
            actor=actor,
            values={
                "name": current.name,
                "title": current.title,
                "email": current.email,
                "phone": current.phone,
                "consent_email": bool(current.consent and current.email),
                "consent_phone": bool(current.consent and current.phone),
            },
            account_id=account.pk if account else None,
            owner_id=owner_id,
        )

    deal: Opportunity | None = None
    if create_opportunity:
        values = dict(opportunity or {})
        values.setdefault("name", current.company or current.name)
        deal = opportunity_create(
            actor=actor,
            values=values,
            account_id=account.pk if account else None,
            contact_id=contact.pk,
            lead_id=current.pk,
            owner_id=owner_id,
        )

    activity_ids, task_ids = _relink("lead", current.pk, "contact", contact.pk)
    before = snapshot(current, ["status", "converted_contact", "converted_account", "converted_at"])
    previous_status = current.status
    current.status = LeadStatus.CONVERTED
    current.converted_contact = contact
    current.converted_account = account
    current.converted_at = now
    save_changes(actor, current, before, action="converted")
    conversion = LeadConversion.objects.create(
        lead=current,
        contact=contact,
        account=account,
        opportunity=deal,
        created_contact=created_contact,
        created_account=created_account,
        previous_status=previous_status,
        moved_activity_ids=activity_ids,
        moved_task_ids=task_ids,
        by=actor,
        at=now,
    )
    record_written(
        actor=actor,
        instance=conversion,
        action="created",
        changes={
            "contact": [None, contact.pk],
            "account": [None, account.pk if account else None],
            "opportunity": [None, deal.pk if deal else None],
            "moved_activities": [None, len(activity_ids)],
            "moved_tasks": [None, len(task_ids)],
        },
    )
    lead.refresh_from_db()
    return conversion


@transaction.atomic
def lead_conversion_undo(
    *, actor: Membership, conversion: LeadConversion, now: datetime | None = None
) -> LeadConversion:
    """Undo a conversion within UNDO_WINDOW: everything goes back onto the lead."""
    now = now or timezone.now()
    locked = LeadConversion.objects.select_for_update().select_related("lead").get(pk=conversion.pk)
    lead = locked.lead
    _require_editable(actor, lead)
    if locked.undone_at is not None:
        raise ConflictError(_("This conversion was already undone."))
    if now - locked.at > UNDO_WINDOW:
        raise ConflictError(_("A conversion can only be undone within a day."))
    later = LeadConversion.objects.filter(lead=lead, pk__gt=locked.pk, undone_at__isnull=True)
    if later.exists():
        raise ConflictError(_("A later conversion of this lead must be undone first."))

    if locked.contact_id is not None:
        if locked.created_contact:
            _relink("contact", locked.contact_id, "lead", lead.pk)
        else:
            Activity.objects.filter(pk__in=locked.moved_activity_ids).update(
                record_type="lead", record_id=lead.pk
            )
            Task.objects.filter(pk__in=locked.moved_task_ids).update(
                record_type="lead", record_id=lead.pk
            )
    if locked.opportunity_id is not None:
        _relink("opportunity", locked.opportunity_id, "lead", lead.pk)
        deal = Opportunity.objects.filter(pk=locked.opportunity_id, deleted_at__isnull=True).first()
        if deal is not None:
            soft_delete(actor, deal)
    if locked.created_contact and locked.contact_id is not None:
        contact = Contact.objects.filter(pk=locked.contact_id, deleted_at__isnull=True).first()
        if contact is not None:
            soft_delete(actor, contact)
    if locked.created_account and locked.account_id is not None:
        account = Account.objects.filter(pk=locked.account_id, deleted_at__isnull=True).first()
        in_use = (
            Contact.objects.filter(account_id=locked.account_id, deleted_at__isnull=True).exists()
            or Opportunity.objects.filter(
                account_id=locked.account_id, deleted_at__isnull=True
            ).exists()
        )
        if account is not None and not in_use:
            soft_delete(actor, account)

    before = snapshot(lead, ["status", "converted_contact", "converted_account", "converted_at"])
    lead.status = locked.previous_status
    lead.converted_contact = None
    lead.converted_account = None
    lead.converted_at = None
    save_changes(actor, lead, before, action="conversion_undone")
    locked.undone_at = now
    locked.save(update_fields=["undone_at", "updated_at"])
    record_written(actor=actor, instance=locked, action="undone", changes={})
    return locked
