"""The web app's own writes: member preferences, chosen list columns and saved views (its own
tables), and bulk actions, which apply one of the apps' services to each chosen record.

Every other write a page makes calls a domain app's services, as the API does: the tenant
profile, invitations and team names are in crm.tenancy.services, the undo of a deleted account
or contact in crm.customers.services, of an activity or task in crm.activities.services, of a
lead, opportunity or order in crm.sales.services.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import models, transaction
from django.utils.translation import gettext as _

from crm.core.errors import DomainError, NotFoundError
from crm.core.timezones import time_zone_names
from crm.core.writes import field_error, snapshot
from crm.events.crud import save_changes, save_new
from crm.tenancy.models import Membership
from crm.web.models import ListColumns, SavedView, UserPreference

# --- member preferences -------------------------------------------------------------------------


def _valid_time_zone(name: str) -> str:
    name = name.strip()
    if name and name not in time_zone_names():
        raise field_error("time_zone", _("Unknown time zone."))
    return name


@transaction.atomic
def preference_set_time_zone(*, actor: Membership, time_zone: str) -> UserPreference:
    time_zone = _valid_time_zone(time_zone)
    pref = UserPreference.objects.filter(membership=actor).first()
    if pref is None:
        return save_new(actor, UserPreference(membership=actor, time_zone=time_zone))
    before = snapshot(pref, ["time_zone"])
    pref.time_zone = time_zone
    save_changes(actor, pref, before)
    return pref


@transaction.atomic
def list_columns_set(
    *, actor: Membership, list_name: str, columns: Iterable[str], allowed: Iterable[str]
) -> ListColumns:
    allowed_list = list(allowed)
    chosen = [c for c in dict.fromkeys(columns) if c in allowed_list]
    if not chosen:
        raise field_error("columns", _("Choose at least one column."))
    row, _created = ListColumns.objects.update_or_create(
        membership=actor, list_name=list_name, defaults={"columns": chosen}
    )
    return row


@transaction.atomic
def saved_view_save(*, actor: Membership, list_name: str, name: str, query: str) -> SavedView:
    name = name.strip()
    if not name:
        raise field_error("name", _("This field is required."))
    if len(name) > 80:
        raise field_error("name", _("At most 80 characters."))
    if len(query) > 1000:
        raise field_error("query", _("This view has too many filters to save."))
    view = SavedView.objects.filter(membership=actor, list_name=list_name, name=name).first()
    if view is None:
        return save_new(
            actor, SavedView(membership=actor, list_name=list_name, name=name, query=query)
        )
    before = snapshot(view, ["query"])
    view.query = query
    save_changes(actor, view, before)
    return view


@transaction.atomic
def saved_view_delete(*, actor: Membership, view: SavedView) -> None:
    if view.membership_id != actor.pk:
        raise NotFoundError("No such view.")
    view.delete()


# --- records ------------------------------------------------------------------------------------


@transaction.atomic
@dataclass
class BulkResult:
    done: int = 0
    failed: list[str] = field(default_factory=list)


def bulk_apply(
    *,
    records: Iterable[models.Model],
    action: Callable[[models.Model], Any],
) -> BulkResult:
    """Apply one service call to each record, each in its own transaction; collect refusals."""
    result = BulkResult()
    for record in records:
        try:
            with transaction.atomic():
                action(record)
            result.done += 1
        except DomainError as exc:
            result.failed.append(f"{record}: {exc.message}")
    return result
