"""API: members of the tenant, teams, and the caller's API tokens."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Path, Query, Router, Status

from crm.core.api import Id, ListParams, actor, created, no_content, paginated, require_scopes
from crm.core.api import responses as r
from crm.tenancy import selectors, services
from crm.tenancy.models import Membership, Team
from crm.tenancy.schemas import (
    MemberFilter,
    MemberOut,
    MemberPage,
    MemberPatch,
    TeamIn,
    TeamOut,
    TeamPage,
    TokenCreatedOut,
    TokenIn,
    TokenOut,
    TokenPage,
)

router = Router()


@router.get("/members", response=r({200: MemberPage}), operation_id="member_list", tags=["members"])
def member_list(request: HttpRequest, filters: Query[MemberFilter]) -> dict[str, Any]:
    return paginated(selectors.membership_list(**filters.selector_kwargs()), filters)


@router.get(
    "/members/{member_id}",
    response=r({200: MemberOut}),
    operation_id="member_get",
    tags=["members"],
)
def member_get(request: HttpRequest, member_id: Path[Id]) -> Membership:
    return selectors.membership_get(membership_id=member_id)


@router.patch(
    "/members/{member_id}",
    response=r({200: MemberOut}),
    operation_id="member_update",
    tags=["members"],
)
def member_update(request: HttpRequest, member_id: Path[Id], payload: MemberPatch) -> Membership:
    member = selectors.membership_get(membership_id=member_id)
    return services.membership_update(
        actor=actor(request), membership=member, values=payload.given()
    )


@router.get("/teams", response=r({200: TeamPage}), operation_id="team_list", tags=["teams"])
def team_list(request: HttpRequest, filters: Query[ListParams]) -> dict[str, Any]:
    return paginated(selectors.team_list(), filters)


@router.post("/teams", response=r({201: TeamOut}), operation_id="team_create", tags=["teams"])
def team_create(request: HttpRequest, payload: TeamIn) -> Status[Team]:
    return created(services.team_create(actor=actor(request), name=payload.name))


@router.get("/tokens", response=r({200: TokenPage}), operation_id="token_list", tags=["tokens"])
def token_list(request: HttpRequest, filters: Query[ListParams]) -> dict[str, Any]:
    return paginated(selectors.api_token_list(membership=actor(request)), filters)


@router.post(
    "/tokens", response=r({201: TokenCreatedOut}), operation_id="token_create", tags=["tokens"]
)
def token_create(request: HttpRequest, payload: TokenIn) -> Status[dict[str, Any]]:
    """Create a token for yourself; its secret is in this response only."""
    require_scopes(request, payload.scopes)
    token, secret = services.api_token_create(
        actor=actor(request), name=payload.name, scopes=payload.scopes
    )
    return created({**TokenOut.model_validate(token).model_dump(), "secret": secret})


@router.delete(
    "/tokens/{token_id}", response=r({204: None}), operation_id="token_revoke", tags=["tokens"]
)
def token_revoke(request: HttpRequest, token_id: Path[Id]) -> Status[None]:
    """Revoke one of your tokens (admins: any token of the tenant); it stops working at once."""
    services.api_token_revoke(actor=actor(request), token_id=token_id)
    return no_content()
