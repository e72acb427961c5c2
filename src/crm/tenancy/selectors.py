"""Reads for tenants, memberships and tokens."""

from __future__ import annotations

import hashlib
import hmac

from django.db.models import Q, QuerySet
from django.utils import timezone

from crm.core.errors import NotFoundError
from crm.tenancy.models import ApiToken, AuditLog, Membership, Team, Tenant, Visibility


def membership_for_session(*, user_id: int, membership_id: int | None) -> Membership | None:
    """The membership a signed-in user acts as: the one chosen in the session, else the first.

    Operator code: runs before a tenant is known, so it reads across tenants by user.
    """
    memberships = Membership.all_tenants.select_related("tenant", "team", "user").filter(
        user_id=user_id, is_active=True, tenant__is_active=True
    )
    if membership_id is not None:
        chosen = memberships.filter(pk=membership_id).first()
        if chosen is not None:
            return chosen
    return memberships.order_by("id").first()


def token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def api_token_authenticate(secret: str) -> ApiToken | None:
    """Find a live token by the SHA-256 of its secret (constant-time compare of the digest)."""
    digest = token_hash(secret)
    token = (
        ApiToken.all_tenants.select_related("membership__user", "membership__tenant", "membership")
        .filter(token_hash=digest, revoked_at__isnull=True)
        .first()
    )
    if token is None or not hmac.compare_digest(token.token_hash, digest):
        return None
    if token.expires_at is not None and token.expires_at <= timezone.now():
        return None
    membership = token.membership
    if not membership.is_active or not membership.user.is_active:
        return None
    if not membership.tenant.is_active:
        return None
    return token


def tenant_get_by_slug(slug: str) -> Tenant:
    tenant = Tenant.objects.filter(slug=slug).first()
    if tenant is None:
        raise NotFoundError("No such tenant.")
    return tenant


def membership_list(*, search: str = "") -> QuerySet[Membership]:
    qs = Membership.objects.select_related("user", "team").order_by("id")
    if search:
        text = search[:100]
        qs = qs.filter(Q(display_name__icontains=text) | Q(user__username__icontains=text))
    return qs


def visible_members(actor: Membership) -> QuerySet[Membership]:
    """Active members whose records the actor may see, for owner pickers (visible_q's rule)."""
    if actor.visibility == Visibility.ALL:
        scope = Q()
    elif actor.visibility == Visibility.TEAM and actor.team_id is not None:
        scope = Q(team_id=actor.team_id) | Q(pk=actor.pk)
    else:
        scope = Q(pk=actor.pk)
    return (
        Membership.objects.filter(scope, is_active=True)
        .select_related("user", "team")
        .order_by("display_name", "id")
    )


def membership_get(*, membership_id: int) -> Membership:
    membership = membership_list().filter(pk=membership_id).first()
    if membership is None:
        raise NotFoundError("No such member.")
    return membership


def team_list() -> QuerySet[Team]:
    return Team.objects.order_by("name")


def api_token_list(*, membership: Membership) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(membership=membership).order_by("-id")


def audit_for_record(*, record_type: str, record_id: int) -> QuerySet[AuditLog]:
    return AuditLog.objects.filter(record_type=record_type, record_id=record_id).order_by("-seq")
