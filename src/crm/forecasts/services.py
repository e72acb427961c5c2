"""Writes of crm.forecasts: quotas (managers for their team, admins for everyone)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from crm.core.errors import PermissionDeniedError
from crm.core.writes import field_error, snapshot
from crm.events.crud import hard_delete, resolve, save_changes, save_new
from crm.forecasts.models import Quota
from crm.forecasts.selectors import overlapping_quota
from crm.tenancy.models import Membership, Role
from crm.tenancy.permissions import can_see_owner

QUOTA_FIELDS = ("amount", "currency")


def require_quota_editor(actor: Membership, member: Membership | None = None) -> None:
    """Admins set anyone's quota; managers those of the members they can see (their team)."""
    if actor.role not in (Role.ADMIN, Role.MANAGER):
        raise PermissionDeniedError(_("Only a manager or an admin can change quotas."))
    if member is not None and actor.role == Role.MANAGER and not can_see_owner(actor, member):
        raise PermissionDeniedError(_("You can only set quotas for your own team."))


@transaction.atomic
def quota_set(
    *,
    actor: Membership,
    member_id: int,
    period_start: date,
    period_end: date,
    amount: Decimal,
    currency: str | None = None,
) -> tuple[Quota, bool]:
    """Set a member's quota for a period (both dates inclusive); returns (quota, created).

    The same member and period updates the existing quota; a period that overlaps another of
    the member's quotas is refused, so prorating never counts a day twice.
    """
    require_quota_editor(actor)
    member = resolve(Membership, member_id, "member_id")
    assert member is not None
    require_quota_editor(actor, member)
    if period_end < period_start:
        raise field_error("period_end", _("The period ends before it starts."))
    existing = (
        Quota.objects.select_for_update()
        .filter(member=member, period_start=period_start, period_end=period_end)
        .first()
    )
    clash = overlapping_quota(
        member_id=member.pk,
        start=period_start,
        end=period_end,
        exclude=Q(pk=existing.pk) if existing else None,
    )
    if clash is not None:
        raise field_error(
            "period_start",
            _("This member already has a quota from %(start)s to %(end)s.")
            % {"start": clash.period_start, "end": clash.period_end},
        )
    if existing is not None:
        before = snapshot(existing, QUOTA_FIELDS)
        existing.amount = amount
        if currency:
            existing.currency = currency
        save_changes(actor, existing, before)
        return existing, False
    quota = Quota(
        member=member,
        period_start=period_start,
        period_end=period_end,
        amount=amount,
        currency=currency or actor.tenant.currency or "CNY",
    )
    return save_new(actor, quota), True


@transaction.atomic
def quota_delete(*, actor: Membership, quota: Quota) -> None:
    require_quota_editor(actor, quota.member)
    hard_delete(actor, quota)
