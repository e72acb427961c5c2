"""API schemas for members, teams and API tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from ninja import Field, Schema

from crm.core.api import (
    Count,
    Id,
    InSchema,
    ListParams,
    Name100,
    Name120,
    Search,
    Str60,
    Str100,
    Str150,
    optional,
    page_of,
)
from crm.tenancy.models import Role, Visibility

Scope = Literal["read", "write", "pii"]


class MemberOut(Schema):
    id: int
    username: str
    display_name: str
    role: Role
    visibility: Visibility
    team_id: int | None
    capacity: int
    skills: list[Any]
    region: str
    is_active: bool
    created_at: datetime

    @staticmethod
    def resolve_username(obj: Any) -> str:
        return str(obj.user.get_username())


class MemberFilter(ListParams):
    search: Search = ""


class MemberPatch(InSchema):
    """Admins only. The role sets the default visibility unless visibility is given too."""

    role: Role = optional()
    visibility: Visibility = optional()
    team_id: Id | None = Field(None)
    capacity: Count = optional()
    skills: list[Str60] = optional(max_length=50)
    region: Str100 = optional()
    is_active: bool = optional()
    display_name: Str150 = optional()


class TeamOut(Schema):
    id: int
    name: str
    created_at: datetime


class TeamIn(InSchema):
    name: Name120


class TokenOut(Schema):
    id: int
    name: str
    prefix: str = Field(description="The first characters of the secret, to recognise it.")
    scopes: list[str]
    membership_id: int
    last_used_at: datetime | None
    revoked_at: datetime | None
    expires_at: datetime | None
    created_at: datetime


class TokenCreatedOut(TokenOut):
    secret: str = Field(description="Shown once, in this response only; store it now.")


class TokenIn(InSchema):
    name: Name100
    scopes: list[Scope] = Field(["read", "write"], min_length=1, max_length=3)


class PingOut(Schema):
    ok: bool


MemberPage = page_of(MemberOut)
TeamPage = page_of(TeamOut)
TokenPage = page_of(TokenOut)
