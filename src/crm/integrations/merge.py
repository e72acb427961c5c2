"""Merging two contacts (or two accounts, or two leads), and undoing a merge within 30 days.

The survivor takes, field by field, the chosen value (default: the most recently updated
record's value when it is not empty, else the other's). Everything linked to the merged
contact moves to the survivor: activities and tasks (generic record_type/record_id),
opportunities, orders, leads converted into it, consent records. The merged contact is
soft-deleted, not removed, so its own history stays; the MergeRecord remembers what moved
and what the survivor looked like before, so `merge_undo` can put every record back.

Accounts merge the same way (`account_merge`): their contacts, opportunities, orders, converted
leads, activities and tasks move to the surviving account; so do leads (`lead_merge`: their
activities, tasks and opportunities), as long as neither was converted yet. What differs per
record type is in a `Kind`: the fields chosen, the records that point at it, how it is updated
and deleted.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.activities.models import Activity, Task
from crm.activities.records import TimelineEntry
from crm.core.errors import ConflictError, PermissionDeniedError
from crm.core.writes import field_error
from crm.customers.models import Account, Contact
from crm.customers.services import (
    ACCOUNT_FIELDS,
    CONTACT_FIELDS,
    account_delete,
    account_update,
    contact_delete,
    contact_update,
)
from crm.events.crud import restore
from crm.events.services import record_written
from crm.integrations.models import (
    CandidateStatus,
    ConsentRecord,
    DuplicateCandidate,
    MergeRecord,
)
from crm.sales.models import Lead, Opportunity, Order
from crm.sales.services import LEAD_FIELDS, lead_delete, lead_update
from crm.tenancy.models import Membership
from crm.tenancy.permissions import can_see_owner, require_write
from crm.tenancy.selectors import audit_for_record

UNDO_DAYS = 30
# Fields chosen per merge; personal data is normalised and re-indexed by contact_update.
MERGE_FIELDS = (*[f for f in CONTACT_FIELDS if not f.startswith("consent_")], "account", "owner")
CHOICES = ("survivor", "merged")


ACCOUNT_MERGE_FIELDS = (*ACCOUNT_FIELDS, "owner")
LEAD_MERGE_FIELDS = (*LEAD_FIELDS, "owner")


def _value(record: Any, name: str) -> Any:
    if name in ("account", "owner"):
        return getattr(record, f"{name}_id")
    return getattr(record, name)


def _empty(value: Any) -> bool:
    return value is None or value == ""


@dataclass(frozen=True)
class Kind:
    """What a merge of one record type needs: its fields, what points at it, its writes."""

    record_type: str
    model: Any
    fields: tuple[str, ...]
    # kind of linked record -> (model, field that points at the merged record, extra filter)
    links: dict[str, tuple[Any, str, dict[str, Any]]]
    update: Callable[[Membership, Any, Mapping[str, Any]], None]
    delete: Callable[[Membership, Any], None]

    def linked(self, record_id: int) -> dict[str, Any]:
        return {
            kind: model.objects.filter(**extra, **{pointer: record_id})
            for kind, (model, pointer, extra) in self.links.items()
        }

    def state(self, record: Any) -> dict[str, Any]:
        state = {name: _value(record, name) for name in self.fields}
        state["tag_ids"] = sorted(record.tags.values_list("id", flat=True))
        return state


def _values(state: Mapping[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """The record's own fields of a state, empty text for None (as the forms send them)."""
    return {k: ("" if v is None else v) for k, v in state.items() if k in names}


def _update_contact(actor: Membership, contact: Any, state: Mapping[str, Any]) -> None:
    account_id = state.get("account")
    contact_update(
        actor=actor,
        contact=contact,
        values=_values(state, CONTACT_FIELDS),
        account_id=account_id,
        clear_account=account_id is None and "account" in state,
        owner_id=state.get("owner"),
        tag_ids=state.get("tag_ids"),
    )


def _update_account(actor: Membership, account: Any, state: Mapping[str, Any]) -> None:
    account_update(
        actor=actor,
        account=account,
        values=_values(state, ACCOUNT_FIELDS),
        owner_id=state.get("owner"),
        tag_ids=state.get("tag_ids"),
    )


def _update_lead(actor: Membership, lead: Any, state: Mapping[str, Any]) -> None:
    lead_update(
        actor=actor,
        lead=lead,
        values=_values(state, LEAD_FIELDS),
        owner_id=state.get("owner"),
        tag_ids=state.get("tag_ids"),
    )


CONTACT = Kind(
    "contact",
    Contact,
    MERGE_FIELDS,
    {
        "activity": (Activity, "record_id", {"record_type": "contact"}),
        "task": (Task, "record_id", {"record_type": "contact"}),
        "opportunity": (Opportunity, "contact_id", {}),
        "order": (Order, "contact_id", {}),
        "lead": (Lead, "converted_contact_id", {}),
        "consent": (ConsentRecord, "contact_id", {}),
    },
    _update_contact,
    lambda actor, contact: contact_delete(actor=actor, contact=contact),
)
ACCOUNT = Kind(
    "account",
    Account,
    ACCOUNT_MERGE_FIELDS,
    {
        "activity": (Activity, "record_id", {"record_type": "account"}),
        "task": (Task, "record_id", {"record_type": "account"}),
        "contact": (Contact, "account_id", {}),
        "opportunity": (Opportunity, "account_id", {}),
        "order": (Order, "account_id", {}),
        "lead": (Lead, "converted_account_id", {}),
    },
    _update_account,
    lambda actor, account: account_delete(actor=actor, account=account),
)
LEAD = Kind(
    "lead",
    Lead,
    LEAD_MERGE_FIELDS,
    {
        "activity": (Activity, "record_id", {"record_type": "lead"}),
        "task": (Task, "record_id", {"record_type": "lead"}),
        "opportunity": (Opportunity, "lead_id", {}),
    },
    _update_lead,
    lambda actor, lead: lead_delete(actor=actor, lead=lead),
)
KINDS = {kind.record_type: kind for kind in (CONTACT, ACCOUNT, LEAD)}


def default_choices(survivor: Any, merged: Any, kind: Kind = CONTACT) -> dict[str, str]:
    """Per field: the most recently updated record's value unless empty, then the other's."""
    newer, older = (
        ("survivor", "merged")
        if survivor.updated_at >= merged.updated_at
        else ("merged", "survivor")
    )
    by_side = {"survivor": survivor, "merged": merged}
    choices = {}
    for name in kind.fields:
        if not _empty(_value(by_side[newer], name)):
            choices[name] = newer
        elif not _empty(_value(by_side[older], name)):
            choices[name] = older
        else:
            choices[name] = "survivor"
    return choices


def contact_merge(
    *,
    actor: Membership,
    survivor: Contact,
    merged: Contact,
    choices: Mapping[str, str] | None = None,
) -> MergeRecord:
    """Merge `merged` into `survivor`; returns the record that allows undoing it for 30 days."""
    return _merge(CONTACT, actor, survivor, merged, choices)


def account_merge(
    *,
    actor: Membership,
    survivor: Account,
    merged: Account,
    choices: Mapping[str, str] | None = None,
) -> MergeRecord:
    """Merge account `merged` into `survivor`: its contacts, deals, orders and history move."""
    return _merge(ACCOUNT, actor, survivor, merged, choices)


def lead_merge(
    *,
    actor: Membership,
    survivor: Lead,
    merged: Lead,
    choices: Mapping[str, str] | None = None,
) -> MergeRecord:
    """Merge lead `merged` into `survivor`: its activities, tasks and deals move."""
    if survivor.converted_at is not None or merged.converted_at is not None:
        raise ConflictError(
            _("A converted lead cannot be merged: merge the contacts or accounts it became.")
        )
    return _merge(LEAD, actor, survivor, merged, choices)


def record_merge(
    *,
    actor: Membership,
    record_type: str,
    survivor: Any,
    merged: Any,
    choices: Mapping[str, str] | None = None,
) -> MergeRecord:
    """The merge of `record_type` ("contact", "account" or "lead"), for the pages and the API."""
    merges: dict[str, Callable[..., MergeRecord]] = {
        "contact": contact_merge,
        "account": account_merge,
        "lead": lead_merge,
    }
    return merges[record_type](actor=actor, survivor=survivor, merged=merged, choices=choices)


@transaction.atomic
def _merge(
    kind: Kind,
    actor: Membership,
    survivor: Any,
    merged: Any,
    choices: Mapping[str, str] | None,
) -> MergeRecord:
    require_write(actor)
    if survivor.pk == merged.pk:
        raise field_error("other_id", _("A record cannot be merged with itself."))
    locked = {
        r.pk: r
        for r in kind.model.objects.select_for_update().filter(pk__in=[survivor.pk, merged.pk])
    }
    survivor, merged = locked[survivor.pk], locked[merged.pk]
    if survivor.deleted_at is not None or merged.deleted_at is not None:
        raise ConflictError(_("One of these records was deleted or merged already."))
    for record in (survivor, merged):
        if not can_see_owner(actor, record.owner):
            raise PermissionDeniedError(_("You cannot change this record."))
    chosen = default_choices(survivor, merged, kind)
    for name, side in (choices or {}).items():
        if name not in kind.fields:
            raise field_error(f"fields.{name}", _("This field cannot be chosen."))
        if side not in CHOICES:
            raise field_error(f"fields.{name}", _("Choose survivor or merged."))
        chosen[name] = side
    before = kind.state(survivor)
    target = {
        name: _value(merged if chosen[name] == "merged" else survivor, name) for name in kind.fields
    }
    target["tag_ids"] = sorted(
        set(before["tag_ids"]) | set(merged.tags.values_list("id", flat=True))
    )
    kind.update(actor, survivor, target)
    survivor.refresh_from_db()
    after = kind.state(survivor)
    relinked: dict[str, list[int]] = {}
    for name, qs in kind.linked(merged.pk).items():
        ids = sorted(qs.values_list("id", flat=True))
        if ids:
            model, pointer, _extra = kind.links[name]
            model.objects.filter(pk__in=ids).update(**{pointer: survivor.pk})
            relinked[name] = ids
    kind.delete(actor, merged)
    DuplicateCandidate.objects.filter(
        record_type=kind.record_type,
        left_id__in=[survivor.pk, merged.pk],
        right_id__in=[survivor.pk, merged.pk],
    ).update(status=CandidateStatus.MERGED, reviewed_by=actor, reviewed_at=timezone.now())
    record = MergeRecord(
        record_type=kind.record_type,
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
    """Put both records and every moved record back as they were before the merge.

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
    kind = KINDS[record.record_type]
    survivor = kind.model.objects.filter(pk=record.survivor_id, deleted_at__isnull=True).first()
    merged = kind.model.objects.filter(pk=record.merged_id).first()
    if survivor is None or merged is None:
        raise ConflictError(_("One of the merged records no longer exists."))
    for one in (survivor, merged):
        if not can_see_owner(actor, one.owner):
            raise PermissionDeniedError(_("You cannot change this record."))
    before = json.loads(record.survivor_before)
    after = json.loads(record.survivor_after)
    current = kind.state(survivor)
    restored = {k: before[k] for k in before if current.get(k) == after.get(k)}
    kind.update(actor, survivor, restored)
    for name, ids in record.relinked.items():
        model, pointer, _extra = kind.links[name]
        model.objects.filter(pk__in=ids, **{pointer: survivor.pk}).update(**{pointer: merged.pk})
    if merged.deleted_at is not None:
        restore(actor, merged)
    DuplicateCandidate.objects.filter(
        record_type=kind.record_type,
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
    """Timeline entries of a survivor: each merge, and the history of the merged record."""
    if record_type not in KINDS:
        return []
    merged_label = {
        "contact": _("Merged contact #%s into this one"),
        "account": _("Merged account #%s into this one"),
        "lead": _("Merged lead #%s into this one"),
    }[record_type]
    entries = []
    for record in MergeRecord.objects.filter(
        record_type=record_type, survivor_id=record_id, undone_at__isnull=True
    ).order_by("-id")[:limit]:
        entries.append(
            TimelineEntry(
                record.created_at,
                "merge",
                merged_label % record.merged_id,
                ", ".join(f"{k}: {len(v)}" for k, v in record.relinked.items()),
                str(record.merged_by or ""),
                record.pk,
            )
        )
        for row in audit_for_record(record_type=record_type, record_id=record.merged_id)[:limit]:
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
