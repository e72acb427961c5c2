"""Merging two contacts, and undoing a merge within 30 days.

The survivor takes, field by field, the chosen value (default: the most recently updated
record's value when it is not empty, else the other's). Everything linked to the merged
contact moves to the survivor: activities and tasks (generic record_type/record_id),
opportunities, orders, leads converted into it, consent records. The merged contact is
soft-deleted, not removed, so its own history stays; the MergeRecord remembers what moved
and what the survivor looked like before, so `merge_undo` can put every record back.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.activities.models import Activity, Task
from crm.activities.records import TimelineEntry
from crm.core.errors import ConflictError, PermissionDeniedError
from crm.core.writes import field_error
from crm.customers.models import Contact
from crm.customers.services import CONTACT_FIELDS, contact_delete, contact_update
from crm.events.crud import restore
from crm.events.services import record_written
from crm.integrations.models import (
    CandidateStatus,
    ConsentRecord,
    DuplicateCandidate,
    MergeRecord,
)
from crm.sales.models import Lead, Opportunity, Order
from crm.tenancy.models import Membership
from crm.tenancy.permissions import can_see_owner, require_write
from crm.tenancy.selectors import audit_for_record

UNDO_DAYS = 30
# Fields chosen per merge; personal data is normalised and re-indexed by contact_update.
MERGE_FIELDS = (*[f for f in CONTACT_FIELDS if not f.startswith("consent_")], "account", "owner")
CHOICES = ("survivor", "merged")


def _value(contact: Contact, name: str) -> Any:
    if name in ("account", "owner"):
        return getattr(contact, f"{name}_id")
    return getattr(contact, name)


def _empty(value: Any) -> bool:
    return value is None or value == ""


def default_choices(survivor: Contact, merged: Contact) -> dict[str, str]:
    """Per field: the most recently updated record's value unless empty, then the other's."""
    newer, older = (
        ("survivor", "merged")
        if survivor.updated_at >= merged.updated_at
        else ("merged", "survivor")
    )
    by_side = {"survivor": survivor, "merged": merged}
    choices = {}
    for name in MERGE_FIELDS:
        if not _empty(_value(by_side[newer], name)):
            choices[name] = newer
        elif not _empty(_value(by_side[older], name)):
            choices[name] = older
        else:
            choices[name] = "survivor"
    return choices


def _relink_targets(merged_id: int) -> dict[str, Any]:
    return {
        "activity": Activity.objects.filter(record_type="contact", record_id=merged_id),
        "task": Task.objects.filter(record_type="contact", record_id=merged_id),
        "opportunity": Opportunity.objects.filter(contact_id=merged_id),
        "order": Order.objects.filter(contact_id=merged_id),
        "lead": Lead.objects.filter(converted_contact_id=merged_id),
        "consent": ConsentRecord.objects.filter(contact_id=merged_id),
    }


_POINTER = {
    "activity": "record_id",
    "task": "record_id",
    "opportunity": "contact_id",
    "order": "contact_id",
    "lead": "converted_contact_id",
    "consent": "contact_id",
}
_MODELS = {
    "activity": Activity,
    "task": Task,
    "opportunity": Opportunity,
    "order": Order,
    "lead": Lead,
    "consent": ConsentRecord,
}


def _state(contact: Contact) -> dict[str, Any]:
    state = {name: _value(contact, name) for name in MERGE_FIELDS}
    state["tag_ids"] = sorted(contact.tags.values_list("id", flat=True))
    return state


def _apply(actor: Membership, contact: Contact, state: Mapping[str, Any]) -> None:
    values = {k: ("" if v is None else v) for k, v in state.items() if k in CONTACT_FIELDS}
    account_id = state.get("account")
    contact_update(
        actor=actor,
        contact=contact,
        values=values,
        account_id=account_id,
        clear_account=account_id is None and "account" in state,
        owner_id=state.get("owner"),
        tag_ids=state.get("tag_ids"),
    )


@transaction.atomic
def contact_merge(
    *,
    actor: Membership,
    survivor: Contact,
    merged: Contact,
    choices: Mapping[str, str] | None = None,
) -> MergeRecord:
    """Merge `merged` into `survivor`; returns the record that allows undoing it for 30 days."""
    require_write(actor)
    if survivor.pk == merged.pk:
        raise field_error("other_id", _("A contact cannot be merged with itself."))
    locked = {
        c.pk: c for c in Contact.objects.select_for_update().filter(pk__in=[survivor.pk, merged.pk])
    }
    survivor, merged = locked[survivor.pk], locked[merged.pk]
    if survivor.deleted_at is not None or merged.deleted_at is not None:
        raise ConflictError(_("One of these contacts was deleted or merged already."))
    for contact in (survivor, merged):
        if not can_see_owner(actor, contact.owner):
            raise PermissionDeniedError(_("You cannot change this record."))
    chosen = default_choices(survivor, merged)
    for name, side in (choices or {}).items():
        if name not in MERGE_FIELDS:
            raise field_error(f"fields.{name}", _("This field cannot be chosen."))
        if side not in CHOICES:
            raise field_error(f"fields.{name}", _("Choose survivor or merged."))
        chosen[name] = side
    before = _state(survivor)
    target = {
        name: _value(merged if chosen[name] == "merged" else survivor, name)
        for name in MERGE_FIELDS
    }
    target["tag_ids"] = sorted(
        set(before["tag_ids"]) | set(merged.tags.values_list("id", flat=True))
    )
    _apply(actor, survivor, target)
    survivor.refresh_from_db()
    after = _state(survivor)
    relinked: dict[str, list[int]] = {}
    for kind, qs in _relink_targets(merged.pk).items():
        ids = sorted(qs.values_list("id", flat=True))
        if ids:
            _MODELS[kind].objects.filter(pk__in=ids).update(**{_POINTER[kind]: survivor.pk})
            relinked[kind] = ids
    contact_delete(actor=actor, contact=merged)
    DuplicateCandidate.objects.filter(
        record_type="contact",
        left_id__in=[survivor.pk, merged.pk],
        right_id__in=[survivor.pk, merged.pk],
    ).update(status=CandidateStatus.MERGED, reviewed_by=actor, reviewed_at=timezone.now())
    record = MergeRecord(
        record_type="contact",
        survivor_id=survivor.pk,
        merged_id=merged.pk,
        survivor_before=json.dumps(before, ensure_ascii=False),
        survivor_after=json.dumps(after, ensure_ascii=False),
        choices=chosen,
        relinked=relinked,
        merged_by=actor,
        undo_until=timezone.now() + timedelta(days=UNDO_DAYS),
    )
    record.save()
    record_written(
        actor=actor,
        instance=survivor,
        action="merged",
        changes={
            "merged_id": [None, merged.pk],
            "merge_record": [None, record.pk],
            "relinked": {k: len(v) for k, v in relinked.items()},
        },
        payload={"merged_id": merged.pk},
    )
    return record


@transaction.atomic
def merge_undo(*, actor: Membership, record: MergeRecord) -> MergeRecord:
    """Put both contacts and every moved record back as they were before the merge.

    Fields of the survivor edited after the merge keep their newer value; records added to the
    survivor after the merge stay with it.
    """
    require_write(actor)
    record = MergeRecord.objects.select_for_update().get(pk=record.pk)
    if record.undone_at is not None:
        raise ConflictError(_("This merge was already undone."))
    if record.undo_until < timezone.now():
        raise ConflictError(_("A merge can be undone for %s days only.") % UNDO_DAYS)
    if not record.survivor_before:
        raise ConflictError(_("This merge can no longer be undone (the person was erased)."))
    survivor = Contact.objects.filter(pk=record.survivor_id, deleted_at__isnull=True).first()
    merged = Contact.objects.filter(pk=record.merged_id).first()
    if survivor is None or merged is None:
        raise ConflictError(_("One of the merged contacts no longer exists."))
    for contact in (survivor, merged):
        if not can_see_owner(actor, contact.owner):
            raise PermissionDeniedError(_("You cannot change this record."))
    before = json.loads(record.survivor_before)
    after = json.loads(record.survivor_after)
    current = _state(survivor)
    restored = {k: before[k] for k in before if current.get(k) == after.get(k)}
    _apply(actor, survivor, restored)
    for kind, ids in record.relinked.items():
        _MODELS[kind].objects.filter(pk__in=ids, **{_POINTER[kind]: survivor.pk}).update(
            **{_POINTER[kind]: merged.pk}
        )
    if merged.deleted_at is not None:
        restore(actor, merged)
    DuplicateCandidate.objects.filter(
        record_type="contact",
        left_id__in=[survivor.pk, merged.pk],
        right_id__in=[survivor.pk, merged.pk],
    ).update(status=CandidateStatus.OPEN)
    record.undone_at = timezone.now()
    record.undone_by = actor
    record.save(update_fields=["undone_at", "undone_by", "updated_at"])
    record_written(
        actor=actor,
        instance=survivor,
        action="merge_undone",
        changes={"merged_id": [merged.pk, None], "merge_record": [record.pk, None]},
    )
    return record


def merged_history(
    actor: Membership, record_type: str, record_id: int, limit: int
) -> list[TimelineEntry]:
    """Timeline entries of a survivor: each merge, and the history of the merged contact."""
    if record_type != "contact":
        return []
    entries = []
    for record in MergeRecord.objects.filter(
        record_type="contact", survivor_id=record_id, undone_at__isnull=True
    ).order_by("-id")[:limit]:
        entries.append(
            TimelineEntry(
                record.created_at,
                "merge",
                _("Merged contact #%s into this one") % record.merged_id,
                ", ".join(f"{k}: {len(v)}" for k, v in record.relinked.items()),
                str(record.merged_by or ""),
                record.pk,
            )
        )
        for row in audit_for_record(record_type="contact", record_id=record.merged_id)[:limit]:
            entries.append(
                TimelineEntry(
                    row.at,
                    "audit",
                    f"#{record.merged_id} {row.action}",
                    ", ".join(sorted(row.changes)),
                    row.actor_label,
                    row.pk,
                )
            )
    return entries
