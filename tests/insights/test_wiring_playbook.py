"""The churn playbook: coupons, retention emails through the outbox to a real SMTP server,
follow-up tasks, the cool-down, the dry-run preview and single use of coupons."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from pytest_django.fixtures import Settings as SettingsWrapper

from crm.activities.models import Task
from crm.core.context import tenant_context
from crm.core.errors import ValidationFailedError
from crm.customers.services import contact_update
from crm.events.delivery import deliver_due
from crm.events.models import OutboxEmail
from crm.insights.models import ActionKind, Coupon, PlaybookAction
from crm.insights.playbook import CODE_ALPHABET, playbook_preview, playbook_run
from crm.insights.selectors import settings_get
from crm.insights.services import coupon_redeem, insight_settings_update, insights_recompute
from crm.insights.tasks import insights_playbook_daily
from tests.conftest import TenantWorld
from tests.events.smtp import SmtpServer
from tests.insights.test_wiring_data import NOW, Shop, build_shop
from tests.operations.datadir import free_port

LAPSED = ["lapsed-1", "lapsed-2", "lapsed-3", "lapsed-4"]
TEMPLATE = {
    "playbook_enabled": True,
    "at_risk_threshold": 0.5,
    "cooldown_days": 30,
    "coupon_value": Decimal("88.00"),
    "coupon_valid_days": 14,
    "email_subject": "{name}, a gift from {company}",
    "email_body": "Hello {name}, use {coupon_code} ({coupon_value} {currency}) by {valid_until}.",
}


@pytest.fixture
def smtp(settings: SettingsWrapper) -> Iterator[SmtpServer]:
    """A real SMTP server on a free port; the mail settings point at it."""
    server = SmtpServer(free_port())
    settings.EMAIL_BACKEND = "crm.events.mail.OutboxEmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = server.port
    server.start()
    yield server
    server.stop()


@pytest.fixture
def shop(world: TenantWorld) -> Shop:
    shop = build_shop(world.sales)
    # this customer never agreed to email: coupon and task, but no email
    contact_update(
        actor=world.sales, contact=shop.contacts["lapsed-4"], values={"consent_email": False}
    )
    assert insights_recompute(now=NOW).status == "succeeded"
    insight_settings_update(actor=world.manager, values=TEMPLATE)
    return shop


def test_playbook_twice_in_a_day_and_again_after_the_cool_down(
    world: TenantWorld, shop: Shop, smtp: SmtpServer
) -> None:
    lapsed_ids = {shop.contacts[name].pk for name in LAPSED}

    # the dry run shows who would be contacted and why, and changes nothing
    preview = playbook_preview(actor=world.manager, now=NOW)
    assert {c.contact_id for c in preview.candidates} == lapsed_ids
    assert {c.name: c.will_email for c in preview.candidates} == {
        "c-lapsed-1": True,
        "c-lapsed-2": True,
        "c-lapsed-3": True,
        "c-lapsed-4": False,
    }
    assert all(c.churn_risk >= 0.5 and c.reasons for c in preview.candidates)
    assert not Coupon.objects.exists() and not PlaybookAction.objects.exists()

    first = playbook_run(now=NOW)
    again = playbook_run(now=NOW + timedelta(hours=6))  # the same day: nobody twice
    late = playbook_run(now=NOW + timedelta(days=29, hours=23))  # still inside the cool-down
    after = playbook_run(now=NOW + timedelta(days=31))  # the cool-down is over

    assert (first.coupons, first.emails, first.tasks) == (4, 3, 4)
    assert (again.coupons, again.emails, again.tasks) == (0, 0, 0)
    assert (late.coupons, late.emails, late.tasks) == (0, 0, 0)
    assert (after.coupons, after.emails, after.tasks) == (4, 3, 4)

    coupons = list(Coupon.objects.order_by("id"))
    codes = [c.code for c in coupons]
    assert len(codes) == 8 == len(set(codes))
    assert all(len(c) == 16 and set(c) <= set(CODE_ALPHABET) for c in codes)
    assert {c.contact_id for c in coupons} == lapsed_ids
    assert {(c.value, c.currency) for c in coupons} == {(Decimal("88.00"), "CNY")}
    assert coupons[0].valid_until == NOW + timedelta(days=14)

    tasks = Task.objects.filter(record_type="contact", record_id__in=lapsed_ids)
    assert tasks.count() == 8
    assert {t.assignee_id for t in tasks} == {world.sales.pk}  # the customers' owner
    assert PlaybookAction.objects.filter(kind=ActionKind.SKIPPED).count() == 2  # no consent

    # the outbox delivers to a real SMTP server: six emails, one per customer and round
    report = deliver_due()
    assert report.sent == 6
    assert len(smtp.inbox.messages) == 6
    received = sorted(str(m["To"]) for m in smtp.inbox.messages)
    assert received == sorted(2 * [f"c.{name}@example.com" for name in LAPSED[:3]])
    mail = next(m for m in smtp.inbox.messages if str(m["To"]) == "c.lapsed-1@example.com")
    assert str(mail["Subject"]) == "c-lapsed-1, a gift from Acme 艾克米"
    body = mail.get_content()
    sent_codes = {c.code for c in coupons if c.contact_id == shop.contacts["lapsed-1"].pk}
    assert any(code in body for code in sent_codes)
    assert "88.00 CNY" in body
    assert deliver_due(now=timezone.now() + timedelta(hours=1)).claimed == 0
    assert len(smtp.inbox.messages) == 6


def test_a_coupon_is_used_once(world: TenantWorld, shop: Shop) -> None:
    playbook_run(now=NOW)
    coupon = Coupon.objects.first()
    assert coupon is not None

    used = coupon_redeem(actor=world.sales, code=coupon.code.lower(), now=NOW + timedelta(days=1))

    assert used.redeemed_at == NOW + timedelta(days=1)
    with pytest.raises(ValidationFailedError):
        coupon_redeem(actor=world.sales, code=coupon.code, now=NOW + timedelta(days=2))
    expired = Coupon.objects.exclude(pk=coupon.pk).first()
    assert expired is not None
    with pytest.raises(ValidationFailedError):
        coupon_redeem(actor=world.sales, code=expired.code, now=NOW + timedelta(days=15))
    assert Coupon.objects.filter(redeemed_at__isnull=False).count() == 1


def test_the_daily_job_runs_only_where_the_playbook_is_on(
    world: TenantWorld, other_world: TenantWorld, shop: Shop
) -> None:
    with tenant_context(other_world.tenant.pk):
        build_shop(other_world.sales, "b")
        insights_recompute(now=NOW)  # playbook left off in tenant B

    assert insights_playbook_daily.call_local() == [world.tenant.pk, other_world.tenant.pk]

    # today is long after NOW: the lapsed customers of A are still at risk and get contacted
    assert Coupon.objects.count() == 4
    assert OutboxEmail.objects.filter(tenant=world.tenant).count() == 3
    with tenant_context(other_world.tenant.pk):
        assert not Coupon.objects.exists() and not PlaybookAction.objects.exists()
    assert not OutboxEmail.objects.filter(tenant=other_world.tenant).exists()


def test_a_bad_template_is_refused_and_nothing_changes(world: TenantWorld, shop: Shop) -> None:
    with pytest.raises(ValidationFailedError) as error:
        insight_settings_update(
            actor=world.manager, values={"email_body": "Hi {first_name}", "cooldown_days": 5}
        )
    assert "email_body" in error.value.fields
    assert playbook_preview(actor=world.manager, now=NOW).candidates  # settings unchanged
    assert settings_get().cooldown_days == 30
