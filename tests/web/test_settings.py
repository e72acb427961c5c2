"""Admin settings: tenant profile, users and invitations, teams, pipelines and stages, tokens."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.test import Client

from crm.events.models import OutboxEmail
from crm.sales.models import Pipeline, Stage
from crm.tenancy.models import ApiToken, Membership, Team, Tenant
from tests.web.conftest import client_for


def test_only_admins_reach_the_settings(world: Any) -> None:
    for member in (world.manager, world.sales, world.viewer):
        assert client_for(member).get("/settings/members/").status_code == 403
        assert client_for(member).post("/settings/teams/", {"name": "x"}).status_code == 403
    assert not Team.objects.filter(name="x").exists()


def test_tenant_profile(world: Any, admin_client_a: Client) -> None:
    response = admin_client_a.post(
        "/settings/",
        {"name": "Acme 新名", "time_zone": "Asia/Tokyo", "currency": "usd", "language": "en"},
    )
    assert response.status_code == 302
    tenant = Tenant.objects.get(pk=world.tenant.pk)
    assert (tenant.name, tenant.time_zone, tenant.currency, tenant.language) == (
        "Acme 新名",
        "Asia/Tokyo",
        "USD",
        "en",
    )
    bad = admin_client_a.post(
        "/settings/",
        {"name": "x", "time_zone": "Asia/Tokyo", "currency": "1A2", "language": "en"},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert "Enter a three-letter currency code." in bad.content.decode()


def test_inviting_a_user_mails_a_link_to_choose_a_password(
    world: Any, admin_client_a: Client, settings: Any
) -> None:
    settings.EMAIL_BACKEND = "crm.events.mail.OutboxEmailBackend"  # Django's tests use locmem
    response = admin_client_a.post(
        "/settings/members/",
        {
            "username": "newbie",
            "email": "newbie@example.com",
            "role": "sales",
            "team": world.team_a.pk,
            "display_name": "新人",
        },
    )
    assert response.status_code == 302
    member = Membership.objects.get(user__username="newbie")
    assert (member.role, member.team_id, member.display_name) == ("sales", world.team_a.pk, "新人")
    assert not member.user.has_usable_password()
    mail = OutboxEmail.objects.get(to=["newbie@example.com"])
    assert "/reset/" in mail.body and "newbie" in mail.body
    taken = admin_client_a.post(
        "/settings/members/",
        {"username": "newbie", "email": "x@example.com", "role": "sales"},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert "This username is taken." in taken.content.decode()
    assert get_user_model().objects.filter(username="newbie").count() == 1


def test_changing_a_members_role_and_team(world: Any, admin_client_a: Client) -> None:
    admin_client_a.post(
        f"/settings/members/{world.sales.pk}/",
        {"display_name": "销售一", "role": "manager", "team": world.team_b.pk, "is_active": "on"},
    )
    member = Membership.objects.get(pk=world.sales.pk)
    assert (member.role, member.team_id, member.visibility) == ("manager", world.team_b.pk, "team")


def test_teams_pipelines_and_stages(world: Any, admin_client_a: Client) -> None:
    admin_client_a.post("/settings/teams/", {"name": "华南"})
    team = Team.objects.get(name="华南")
    admin_client_a.post(f"/settings/teams/{team.pk}/", {"name": "华南区"})
    assert Team.objects.get(pk=team.pk).name == "华南区"
    created = admin_client_a.post("/settings/pipelines/", {"name": "渠道"})
    pipeline = Pipeline.objects.get(name="渠道")
    assert created["Location"] == f"/settings/pipelines/{pipeline.pk}/"
    admin_client_a.post(
        f"/settings/pipelines/{pipeline.pk}/stages/",
        {"new-name": "接洽", "new-order": "0", "new-probability": "20"},
    )
    stage = Stage.objects.get(pipeline=pipeline)
    admin_client_a.post(
        f"/settings/stages/{stage.pk}/",
        {
            f"s{stage.pk}-name": "初步接洽",
            f"s{stage.pk}-order": "1",
            f"s{stage.pk}-probability": "30",
        },
    )
    stage.refresh_from_db()
    assert (stage.name, stage.order, stage.probability) == ("初步接洽", 1, 30)
    admin_client_a.post(
        f"/settings/stages/{stage.pk}/",
        {
            f"s{stage.pk}-name": "x",
            f"s{stage.pk}-order": "1",
            f"s{stage.pk}-probability": "30",
            f"s{stage.pk}-is_won": "on",
            f"s{stage.pk}-is_lost": "on",
        },
    )
    assert Stage.objects.get(pk=stage.pk).name == "初步接洽"  # refused: won and lost
    admin_client_a.post(f"/settings/stages/{stage.pk}/", {"delete": "1"})
    assert not Stage.objects.filter(pk=stage.pk).exists()


def test_api_tokens_are_shown_once_and_can_be_revoked(world: Any, admin_client_a: Client) -> None:
    page = admin_client_a.post("/settings/tokens/", {"name": "集成", "scopes": ["read", "write"]})
    html = page.content.decode()
    token = ApiToken.objects.get(name="集成")
    assert f"{token.prefix}" in html and 'id="new-token"' in html
    assert 'id="new-token"' not in admin_client_a.get("/settings/tokens/").content.decode()
    admin_client_a.post(f"/settings/tokens/{token.pk}/revoke/")
    token.refresh_from_db()
    assert token.revoked_at is not None
