"""Writes the pages need beyond the apps' own services.

Member preferences, chosen columns and saved views are the web app's own tables. The rest are
thin compositions of the apps' services (bulk actions, restore after delete of accounts,
contacts, leads and opportunities, inviting a member, the tenant profile, renaming a team) kept
here until their apps grow them. Sending an email from a record lives in crm.activities.services;
the undo of a deleted activity, task or order in crm.activities / crm.sales services.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core.mail import EmailMessage
from django.db import models, transaction
from django.template.loader import render_to_string
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.translation import gettext as _

from crm.core.errors import DomainError, NotFoundError
from crm.core.writes import field_error, snapshot
from crm.events.crud import restore, save_changes, save_new
from crm.tenancy.models import Membership, Team, Tenant
from crm.tenancy.permissions import can_see_owner, require_admin, require_write
from crm.tenancy.services import membership_create, user_create
from crm.web.models import ListColumns, SavedView, UserPreference
from crm.web.timezones import time_zone_names

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
def record_restore(*, actor: Membership, record: models.Model) -> models.Model:
    """Undo a soft delete of a record the actor may edit (see selectors.deleted_record_get)."""
    require_write(actor)
    if not can_see_owner(actor, getattr(record, "owner", None)):
        raise NotFoundError("Not found.")
    restore(actor, record)
    return record


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


# --- admin settings -----------------------------------------------------------------------------

TENANT_FIELDS = ("name", "time_zone", "currency", "language")


@transaction.atomic
def tenant_profile_update(*, actor: Membership, values: Mapping[str, Any]) -> Tenant:
    require_admin(actor)
    tenant = Tenant.objects.select_for_update().get(pk=actor.tenant_id)
    before = snapshot(tenant, TENANT_FIELDS)
    for key, value in values.items():
        if key not in TENANT_FIELDS:
            raise field_error(key, _("This field cannot be set."))
        setattr(tenant, key, value)
    _valid_time_zone(tenant.time_zone)
    if not tenant.time_zone:
        raise field_error("time_zone", _("This field is required."))
    if tenant.language not in dict(settings.LANGUAGES):
        raise field_error("language", _("Unknown language."))
    tenant.currency = (tenant.currency or "").upper()
    if len(tenant.currency) != 3 or not tenant.currency.isalpha():
        raise field_error("currency", _("Enter a three-letter currency code."))
    save_changes(actor, tenant, before)
    return tenant


@transaction.atomic
def team_rename(*, actor: Membership, team: Team, name: str) -> Team:
    require_admin(actor)
    name = name.strip()
    if Team.objects.filter(name=name).exclude(pk=team.pk).exists():
        raise field_error("name", _("A team with this name exists."))
    before = snapshot(team, ["name"])
    team.name = name
    save_changes(actor, team, before)
    return team


@transaction.atomic
def member_invite(
    *,
    actor: Membership,
    username: str,
    email: str,
    role: str,
    team: Team | None,
    display_name: str,
    base_url: str,
) -> Membership:
    """Create the user without a password and mail them a link to choose one (via the outbox)."""
    require_admin(actor)
    if not email.strip():
        raise field_error("email", _("This field is required."))
    user = user_create(username=username.strip(), email=email.strip())
    membership = membership_create(
        actor=actor, user=user, role=role, team=team, display_name=display_name.strip()
    )
    context = {
        "tenant": actor.tenant.name,
        "inviter": str(actor),
        "username": user.get_username(),
        "link": base_url.rstrip("/")
        + f"/reset/{urlsafe_base64_encode(force_bytes(user.pk))}/"
        + f"{default_token_generator.make_token(user)}/",  # type: ignore[arg-type]
    }
    EmailMessage(
        subject=_("You are invited to %(tenant)s") % {"tenant": actor.tenant.name},
        body=render_to_string("web/email/invitation.txt", context),
        to=[email.strip()],
    ).send()
    return membership
