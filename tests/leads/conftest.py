"""Fixtures of the lead-flow tests: a sales team with rules, members and their tokens."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from django.utils import translation

from crm.sales.assignment_admin import assignment_rule_create
from crm.tenancy.models import Membership, Role, Team
from crm.tenancy.services import membership_create, team_create, user_create
from tests.conftest import TenantWorld


@dataclass
class Flow:
    world: TenantWorld
    team: Team  # world.team_a: manager + sales + reps below
    reps: list[Membership]  # the team's sales members, world.sales first

    @property
    def manager(self) -> Membership:
        return self.world.manager


def add_rep(
    team: Team | None,
    name: str,
    *,
    capacity: int = 50,
    skills: tuple[str, ...] = (),
    region: str = "",
    email: str = "",
    role: str = Role.SALES,
) -> Membership:
    user = user_create(
        username=f"rep-{name}", email=email or f"{name}@example.com", password="pw-Secret-123"
    )
    return membership_create(
        actor=None,
        user=user,
        role=role,
        team=team,
        display_name=name,
        capacity=capacity,
        skills=skills,
        region=region,
    )


@pytest.fixture(autouse=True)
def english() -> Iterator[None]:
    """Messages written by services (assignment reasons, notifications) in English."""
    with translation.override("en"):
        yield


@pytest.fixture
def flow(world: TenantWorld) -> Flow:
    """Every lead goes to team A (one catch-all rule); team A has three sales reps."""
    assignment_rule_create(actor=world.admin, team_id=world.team_a.pk, values={"name": "all"})
    for member in (world.admin, world.manager, world.sales):
        member.user.email = f"{member.display_name}@acme.example"
        member.user.save(update_fields=["email"])
    rep2 = add_rep(world.team_a, "wang")
    rep3 = add_rep(world.team_a, "li")
    return Flow(world, world.team_a, [world.sales, rep2, rep3])


@pytest.fixture
def empty_team(world: TenantWorld) -> Team:
    return team_create(actor=None, name="Empty 空队")
