"""The admin's settings writes in crm.tenancy.services: the company profile, renaming a team and
inviting a member (the pages in tests/web/test_settings.py call these same functions)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import translation

from crm.core.errors import PermissionDeniedError, ValidationFailedError
from crm.events.models import OutboxEmail, OutboxEvent
from crm.tenancy.models import AuditLog, Membership, Team, Tenant
from crm.tenancy.services import member_invite, team_rename, tenant_profile_update
from tests.conftest import TenantWorld

PROFILE = {"name": "Acme 新名", "time_zone": "Asia/Tokyo", "currency": "usd", "language": "en"}


def _profile(tenant_id: int) -> tuple[str, str, str, str]:
    tenant = Tenant.objects.get(pk=tenant_id)
    return tenant.name, tenant.time_zone, tenant.currency, tenant.language


def test_the_admin_saves_the_company_profile_with_an_audit_row(world: TenantWorld) -> None:
    old_name = world.tenant.name
    tenant = tenant_profile_update(actor=world.admin, values=PROFILE)
    assert tenant.currency == "USD"  # upper-cased
    assert _profile(world.tenant.pk) == ("Acme 新名", "Asia/Tokyo", "USD", "en")
    audit = AuditLog.objects.filter(record_type="tenant", record_id=world.tenant.pk).last()
    assert audit is not None and (audit.action, audit.actor_id) == ("updated", world.admin.pk)
    assert audit.changes["name"] == [old_name, "Acme 新名"]
    assert OutboxEvent.objects.filter(name="tenant.updated", record_id=world.tenant.pk).exists()


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"time_zone": "Mars/Olympus"}, "time_zone", "Unknown time zone."),
        ({"time_zone": ""}, "time_zone", "This field is required."),
        ({"language": "xx"}, "language", "Unknown language."),
        ({"currency": "1A2"}, "currency", "Enter a three-letter currency code."),
        ({"currency": "EURO"}, "currency", "Enter a three-letter currency code."),
        ({"slug": "stolen"}, "slug", "This field cannot be set."),
    ],
)
def test_a_bad_profile_names_the_field_and_changes_nothing(
    world: TenantWorld, values: dict[str, str], field: str, message: str
) -> None:
    before = _profile(world.tenant.pk), AuditLog.objects.count()
    with translation.override("en"), pytest.raises(ValidationFailedError) as caught:
        tenant_profile_update(actor=world.admin, values=values)
    assert caught.value.fields == {field: [message]}
    assert (_profile(world.tenant.pk), AuditLog.objects.count()) == before
    assert Tenant.objects.get(pk=world.tenant.pk).slug == "acme"


def test_the_profile_errors_are_translated(world: TenantWorld) -> None:
    with translation.override("zh-hans"), pytest.raises(ValidationFailedError) as caught:
        tenant_profile_update(actor=world.admin, values={"currency": "1A2"})
    assert caught.value.fields["currency"] != ["Enter a three-letter currency code."]


def test_only_an_admin_changes_settings(world: TenantWorld) -> None:
    before = _profile(world.tenant.pk)
    for member in (world.manager, world.sales, world.viewer):
        with pytest.raises(PermissionDeniedError):
            tenant_profile_update(actor=member, values=PROFILE)
        with pytest.raises(PermissionDeniedError):
            team_rename(actor=member, team=world.team_a, name="被改名")
        with pytest.raises(PermissionDeniedError):
            member_invite(
                actor=member,
                username="sneaky",
                email="sneaky@example.com",
                role="admin",
                team=None,
                display_name="",
                base_url="https://crm.example.com/",
            )
    assert _profile(world.tenant.pk) == before
    assert Team.objects.get(pk=world.team_a.pk).name == "East 华东"
    assert not get_user_model().objects.filter(username="sneaky").exists()


def test_renaming_a_team(world: TenantWorld) -> None:
    team = team_rename(actor=world.admin, team=world.team_a, name="  华东区 ")
    assert Team.objects.get(pk=world.team_a.pk).name == team.name == "华东区"
    audit = AuditLog.objects.filter(record_type="team", record_id=team.pk).last()
    assert audit is not None and audit.action == "updated"
    assert audit.changes["name"] == ["East 华东", "华东区"]
    with translation.override("en"), pytest.raises(ValidationFailedError) as caught:
        team_rename(actor=world.admin, team=world.team_a, name=world.team_b.name)
    assert caught.value.fields == {"name": ["A team with this name exists."]}
    assert Team.objects.get(pk=world.team_a.pk).name == "华东区"


def test_an_invited_member_chooses_a_password_from_the_mailed_link(
    world: TenantWorld, settings: Any
) -> None:
    settings.EMAIL_BACKEND = "crm.events.mail.OutboxEmailBackend"  # Django's tests use locmem
    with translation.override("en"):
        member = member_invite(
            actor=world.admin,
            username=" newbie ",
            email=" newbie@example.com ",
            role="sales",
            team=world.team_a,
            display_name=" 新人 ",
            base_url="http://testserver/",
        )
    assert Membership.objects.get(pk=member.pk).display_name == "新人"
    assert (member.role, member.team_id, member.user.get_username()) == (
        "sales",
        world.team_a.pk,
        "newbie",
    )
    assert not member.user.has_usable_password()
    assert AuditLog.objects.filter(record_type="membership", record_id=member.pk).exists()
    mail = OutboxEmail.objects.get(to=["newbie@example.com"])
    assert mail.subject == f"You are invited to {world.tenant.name}"
    assert "newbie" in mail.body
    link = re.search(r"http://testserver(/reset/\S+/)", mail.body)
    assert link is not None

    client = Client()
    form = client.get(link.group(1), follow=True)
    assert form.status_code == 200 and 'name="new_password1"' in form.content.decode()
    done = client.post(
        form.redirect_chain[-1][0],
        {"new_password1": "Chosen-pw-4821", "new_password2": "Chosen-pw-4821"},
    )
    assert done.status_code == 302
    assert get_user_model().objects.get(pk=member.user.pk).check_password("Chosen-pw-4821")


def test_an_invitation_needs_an_email_and_a_free_username(
    world: TenantWorld, settings: Any
) -> None:
    settings.EMAIL_BACKEND = "crm.events.mail.OutboxEmailBackend"
    invite = {
        "actor": world.admin,
        "role": "sales",
        "team": None,
        "display_name": "",
        "base_url": "http://testserver/",
    }
    with translation.override("en"):
        with pytest.raises(ValidationFailedError) as caught:
            member_invite(username="nomail", email="  ", **invite)
        assert caught.value.fields == {"email": ["This field is required."]}
        with pytest.raises(ValidationFailedError) as caught:
            member_invite(username="acme-sales", email="x@example.com", **invite)
        assert caught.value.fields == {"username": ["This username is taken."]}
    assert not get_user_model().objects.filter(username="nomail").exists()
    assert not OutboxEmail.objects.exists()
