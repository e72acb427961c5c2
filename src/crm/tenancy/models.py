"""Tenants, the people in them, their teams and roles, API tokens and the audit log."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from crm.core.models import GlobalModel, TenantModel


class Role(models.TextChoices):
    ADMIN = "admin", _("Admin")
    MANAGER = "manager", _("Manager")
    SALES = "sales", _("Sales")
    MARKETING = "marketing", _("Marketing")
    SERVICE = "service", _("Service")
    VIEWER = "viewer", _("Viewer")


class Visibility(models.TextChoices):
    OWN = "own", _("Own records")
    TEAM = "team", _("Team records")
    ALL = "all", _("All records")


DEFAULT_VISIBILITY: dict[str, str] = {
    Role.ADMIN: Visibility.ALL,
    Role.MANAGER: Visibility.TEAM,
    Role.SALES: Visibility.OWN,
    Role.MARKETING: Visibility.ALL,
    Role.SERVICE: Visibility.ALL,
    Role.VIEWER: Visibility.ALL,
}


class Tenant(GlobalModel):
    """A company using the CRM. Every tenant-owned row points here."""

    global_reason: ClassVar[str] = "the tenant itself is the root of scoping"

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=60, unique=True)
    time_zone = models.CharField(max_length=64, default="Asia/Shanghai")
    currency = models.CharField(max_length=3, default="CNY")
    language = models.CharField(max_length=10, default="zh-hans")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class Team(TenantModel):
    name = models.CharField(max_length=120)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="team_unique_name"),
        ]

    def __str__(self) -> str:
        return self.name


class Membership(TenantModel):
    """A user's place in a tenant: the `actor` of every service call."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.SALES)
    visibility = models.CharField(max_length=10, choices=Visibility.choices, default=Visibility.OWN)
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="members"
    )
    capacity = models.PositiveIntegerField(default=50)
    skills = models.JSONField(default=list, blank=True)
    region = models.CharField(max_length=100, blank=True)
    is_active = models.BooleanField(default=True)
    display_name = models.CharField(max_length=150, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "user"], name="membership_unique_user"),
        ]

    def __str__(self) -> str:
        return self.display_name or self.user.get_username()

    @property
    def can_write(self) -> bool:
        return self.role != Role.VIEWER

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN


class ApiToken(TenantModel):
    """A random secret shown once; only its SHA-256 is stored, compared in constant time."""

    membership = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, db_index=True)
    token_hash = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(default=list)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)


class AuditHead(GlobalModel):
    """The last link of each tenant's audit chain; locked while a new link is appended."""

    global_reason: ClassVar[str] = "one row per tenant, keyed by the tenant itself"

    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, primary_key=True)
    seq = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64, default="0" * 64)


class AuditLog(TenantModel):
    """Append-only, hash-chained record of every write: who, when, what, before and after."""

    seq = models.BigIntegerField()
    actor = models.ForeignKey(
        Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=40)
    record_type = models.CharField(max_length=40)
    record_id = models.BigIntegerField()
    changes = models.JSONField(default=dict)
    at = models.DateTimeField()
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "seq"], name="audit_unique_seq"),
        ]
        indexes = [models.Index(fields=["tenant", "record_type", "record_id", "seq"])]


class LoginFailure(GlobalModel):
    """Failed sign-ins by username and address, for throttling (no tenant known before login)."""

    global_reason: ClassVar[str] = "recorded before a user (and so a tenant) is known"

    username = models.CharField(max_length=150, db_index=True)
    address = models.CharField(max_length=64, blank=True)
    at = models.DateTimeField(auto_now_add=True, db_index=True)
