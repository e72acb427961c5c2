"""Every write to tenants, users, memberships, invitations, teams and API tokens."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.contrib.auth.tokens import default_token_generator
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.text import slugify
from django.utils.translation import gettext as _

from crm.core.context import tenant_context
from crm.core.errors import NotFoundError
from crm.core.timezones import time_zone_names
from crm.core.writes import field_error, snapshot
from crm.events.crud import save_changes
from crm.events.services import record_written
from crm.tenancy.audit import audit_append
from crm.tenancy.models import DEFAULT_VISIBILITY, ApiToken, Membership, Role, Team, Tenant
from crm.tenancy.permissions import require_admin
from crm.tenancy.selectors import token_hash

# A public marker that makes leaked tokens easy to spot, not a secret.
TOKEN_PREFIX = "crm_"  # noqa: S105  # nosec B105
API_SCOPES = frozenset({"read", "write", "pii"})
TENANT_FIELDS = ("name", "time_zone", "currency", "language")


@transaction.atomic
def tenant_create(
    *,
    name: str,
    slug: str = "",
    time_zone: str = "Asia/Shanghai",
    currency: str = "CNY",
    language: str = "zh-hans",
) -> Tenant:
    """Operator action (the `createtenant` command); no actor exists yet."""
    slug = slug or slugify(name) or f"t{secrets.token_hex(3)}"
    if Tenant.objects.filter(slug=slug).exists():
        raise field_error("slug", _("A tenant with this slug exists."))
    tenant = Tenant.objects.create(
        name=name, slug=slug, time_zone=time_zone, currency=currency, language=language
    )
    with tenant_context(tenant.pk):
        audit_append(
            actor=None,
            action="created",
            record_type="tenant",
            record_id=tenant.pk,
            changes={"name": [None, name], "slug": [None, slug]},
        )
    return tenant


@transaction.atomic
def tenant_profile_update(*, actor: Membership, values: Mapping[str, Any]) -> Tenant:
    """The admin's company profile: name, time zone, currency and language."""
    require_admin(actor)
    tenant = Tenant.objects.select_for_update().get(pk=actor.tenant_id)
    before = snapshot(tenant, TENANT_FIELDS)
    for key, value in values.items():
        if key not in TENANT_FIELDS:
            raise field_error(key, _("This field cannot be set."))
        setattr(tenant, key, value)
    time_zone = tenant.time_zone.strip()
    if time_zone and time_zone not in time_zone_names():
        raise field_error("time_zone", _("Unknown time zone."))
    if not tenant.time_zone:
        raise field_error("time_zone", _("This field is required."))
    if tenant.language not in dict(settings.LANGUAGES):
        raise field_error("language", _("Unknown language."))
    tenant.currency = (tenant.currency or "").upper()
    if len(tenant.currency) != 3 or not tenant.currency.isalpha():
        raise field_error("currency", _("Enter a three-letter currency code."))
    save_changes(actor, tenant, before)
    return tenant


def user_create(*, username: str, email: str = "", password: str | None = None) -> AbstractBaseUser:
    user_model = get_user_model()
    if user_model.objects.filter(username=username).exists():
        raise field_error("username", _("This username is taken."))
    user = user_model(username=username, email=email)
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.save()
    return user


@transaction.atomic
def membership_create(
    *,
    actor: Membership | None,
    user: AbstractBaseUser,
    role: str = Role.SALES,
    team: Team | None = None,
    display_name: str = "",
    capacity: int = 50,
    skills: Iterable[str] = (),
    region: str = "",
) -> Membership:
    """Add a user to the tenant in context. `actor` None only from operator commands."""
    if actor is not None:
        require_admin(actor)
    if role not in Role.values:
        raise field_error("role", _("Unknown role."))
    if Membership.objects.filter(user=user).exists():
        raise field_error("user", _("This user is already a member."))
    membership = Membership.objects.create(
        user=user,
        role=role,
        visibility=DEFAULT_VISIBILITY[role],
        team=team,
        display_name=display_name,
        capacity=capacity,
        skills=list(skills),
        region=region,
    )
    record_written(
        actor=actor,
        instance=membership,
        action="created",
        changes={"user": [None, user.get_username()], "role": [None, role]},
    )
    return membership


@transaction.atomic
def membership_update(
    *, actor: Membership, membership: Membership, values: Mapping[str, Any]
) -> Membership:
    require_admin(actor)
    allowed = {
        "role",
        "visibility",
        "team_id",
        "capacity",
        "skills",
        "region",
        "is_active",
        "display_name",
    }
    before = snapshot(
        membership,
        ["role", "visibility", "team", "capacity", "skills", "region", "is_active", "display_name"],
    )
    for key, value in values.items():
        if key not in allowed:
            raise field_error(key, _("This field cannot be set."))
        if key == "team_id" and value is not None and not Team.objects.filter(pk=value).exists():
            raise field_error("team_id", _("No such team."))
        setattr(membership, key, value)
    if "role" in values and "visibility" not in values:
        membership.visibility = DEFAULT_VISIBILITY[membership.role]
    membership.save()
    after = snapshot(membership, before.keys())
    changes = {k: [before[k], v] for k, v in after.items() if before[k] != v}
    if changes:
        record_written(actor=actor, instance=membership, action="updated", changes=changes)
    return membership


@transaction.atomic
def team_create(*, actor: Membership | None, name: str) -> Team:
    if actor is not None:
        require_admin(actor)
    if Team.objects.filter(name=name).exists():
        raise field_error("name", _("A team with this name exists."))
    team = Team.objects.create(name=name)
    record_written(actor=actor, instance=team, action="created", changes={"name": [None, name]})
    return team


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


@transaction.atomic
def api_token_create(
    *,
    actor: Membership,
    name: str,
    scopes: Iterable[str] = ("read", "write"),
    membership: Membership | None = None,
) -> tuple[ApiToken, str]:
    """Create a token; returns it with its secret, which is shown once and never stored."""
    owner = membership or actor
    if owner.pk != actor.pk:
        require_admin(actor)
    scope_list = sorted(set(scopes))
    unknown = set(scope_list) - API_SCOPES
    if unknown:
        raise field_error("scopes", _("Unknown scope: %s") % ", ".join(sorted(unknown)))
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        membership=owner,
        name=name[:100],
        prefix=secret[:12],
        token_hash=token_hash(secret),
        scopes=scope_list,
    )
    record_written(
        actor=actor,
        instance=token,
        action="created",
        changes={"name": [None, token.name], "scopes": [None, scope_list]},
    )
    return token, secret


TOKEN_TOUCH_INTERVAL = timedelta(minutes=1)


def api_token_touch(token: ApiToken) -> None:
    """Stamp last_used_at at most once a minute: a conditional UPDATE, no audit row.

    Runs during authentication, before the tenant is set, hence the explicit manager on the
    token's own row.
    """
    now = timezone.now()
    if token.last_used_at is not None and now - token.last_used_at < TOKEN_TOUCH_INTERVAL:
        return
    stale = Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - TOKEN_TOUCH_INTERVAL)
    ApiToken.all_tenants.filter(stale, pk=token.pk).update(last_used_at=now)
    token.last_used_at = now


@transaction.atomic
def api_token_revoke(*, actor: Membership, token_id: int) -> ApiToken:
    token = ApiToken.objects.filter(pk=token_id).first()
    if token is None or (token.membership_id != actor.pk and not actor.is_admin):
        raise NotFoundError("No such token.")
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at", "updated_at"])
        record_written(actor=actor, instance=token, action="revoked", changes={})
    return token
