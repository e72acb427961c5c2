"""Fixtures shared by the whole suite: two tenants, members in each role, API clients."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from django.core.cache import cache

from crm.core.context import tenant_context
from crm.tenancy.models import Membership, Role, Team, Tenant


@dataclass
class TenantWorld:
    tenant: Tenant
    admin: Membership
    manager: Membership
    sales: Membership
    sales2: Membership
    viewer: Membership
    team_a: Team
    team_b: Team


def build_world(name: str, slug: str) -> TenantWorld:
    from crm.operations.setup import tenant_setup
    from crm.tenancy.services import membership_create, team_create, user_create

    tenant = tenant_setup(name=name, slug=slug)
    with tenant_context(tenant.pk):
        team_a = team_create(actor=None, name="East 华东")
        team_b = team_create(actor=None, name="North 华北")

        def member(username: str, role: str, team: Team | None) -> Membership:
            user = user_create(username=f"{slug}-{username}", password="pw-Secret-123")
            return membership_create(
                actor=None, user=user, role=role, team=team, display_name=username
            )

        return TenantWorld(
            tenant=tenant,
            admin=member("admin", Role.ADMIN, None),
            manager=member("manager", Role.MANAGER, team_a),
            sales=member("sales", Role.SALES, team_a),
            sales2=member("sales2", Role.SALES, team_b),
            viewer=member("viewer", Role.VIEWER, None),
            team_a=team_a,
            team_b=team_b,
        )


@pytest.fixture
def world(db: None) -> Iterator[TenantWorld]:
    """Tenant A with members in each role; the test body runs with tenant A in context."""
    w = build_world("Acme 艾克米", "acme")
    with tenant_context(w.tenant.pk):
        yield w


@pytest.fixture
def other_world(db: None) -> TenantWorld:
    """Tenant B, created outside any context; use tenant_context(other_world.tenant.pk)."""
    with tenant_context(None):
        return build_world("Beta 贝塔", "beta")


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    """Rate-limit counters and cached results live in the cache, which outlives each test's
    database; ids repeat from test to test, so every test starts with an empty cache."""
    cache.clear()
    yield
    cache.clear()
