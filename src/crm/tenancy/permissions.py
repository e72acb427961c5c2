"""Record visibility (own / team / all) and write permission, applied in selectors and services."""

from __future__ import annotations

from django.db.models import Q
from django.utils.translation import gettext as _

from crm.core.errors import NotFoundError, PermissionDeniedError
from crm.tenancy.models import Membership, Visibility


def visible_q(actor: Membership, owner_field: str = "owner") -> Q:
    """Rows this member may see. Unowned rows are visible to team/all, and to nobody else."""
    if actor.visibility == Visibility.ALL:
        return Q()
    if actor.visibility == Visibility.TEAM and actor.team_id is not None:
        return (
            Q(**{f"{owner_field}__team_id": actor.team_id})
            | Q(**{owner_field: actor.pk})
            | Q(**{f"{owner_field}__isnull": True})
        )
    return Q(**{owner_field: actor.pk})


def can_see_owner(actor: Membership, owner: Membership | None) -> bool:
    if actor.visibility == Visibility.ALL:
        return True
    if owner is None:
        return actor.visibility == Visibility.TEAM
    if owner.pk == actor.pk:
        return True
    return actor.visibility == Visibility.TEAM and owner.team_id == actor.team_id is not None


def require_write(actor: Membership) -> None:
    if not actor.can_write:
        raise PermissionDeniedError(_("Your role can only read records."))


def require_editable(actor: Membership, owner: Membership | None) -> None:
    """The actor may write and can see the record's owner (the same rule for every record)."""
    require_write(actor)
    if not can_see_owner(actor, owner):
        raise PermissionDeniedError(_("You cannot change this record."))


def require_restorable(actor: Membership, owner: Membership | None) -> None:
    """For an undo of a delete: a role that may write, and a record it could see (one it cannot
    see is "not found", as everywhere else)."""
    require_write(actor)
    if not can_see_owner(actor, owner):
        raise NotFoundError("Not found.")


def require_admin(actor: Membership) -> None:
    if not actor.is_admin:
        raise PermissionDeniedError(_("Only an admin can do this."))
