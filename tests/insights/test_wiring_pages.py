"""The insight pages: Customer 360, at-risk list with bulk follow-up, segments, playbook; a
manager works with them, a viewer may look but not write, another tenant gets 404."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from crm.activities.models import Task
from crm.core.context import tenant_context
from crm.insights.models import InsightRun, InsightSettings
from crm.insights.services import insights_recompute
from crm.tenancy.models import Membership
from tests.conftest import TenantWorld
from tests.insights.test_wiring_data import NOW, Shop, build_shop

Path(settings.STATIC_ROOT).mkdir(parents=True, exist_ok=True)


def client_for(member: Membership) -> Client:
    client = Client(headers={"Accept-Language": "en"})
    client.force_login(member.user)
    return client


def json_block(html: str, block_id: str) -> dict:
    found = re.search(
        rf'<script id="{block_id}" type="application/json">(.*?)</script>', html, re.S
    )
    assert found, block_id
    return json.loads(found.group(1))


@pytest.fixture
def shop(world: TenantWorld) -> Shop:
    shop = build_shop(world.sales)
    assert insights_recompute(now=NOW).status == "succeeded"
    return shop


def test_customer_360_for_a_manager(world: TenantWorld, shop: Shop) -> None:
    contact = shop.contacts["steady-1"]
    response = client_for(world.manager).get(f"/insights/customers/{contact.pk}/")

    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="customer-name">c-steady-1' in html
    assert 'data-testid="stage">Loyal<' in html
    assert "Thank and reward: VIP perks, early access" in html
    assert 'data-testid="categories">tea, cups<' in html
    assert "Check-in" in html  # the timeline, from the activities app
    assert f'href="/contacts/{contact.pk}/"' in html
    assert 'data-action="recompute"' in html
    chart = json_block(html, "palive-data")
    assert chart["now"] == 10
    days = [p[0] for p in chart["points"]]
    probs = [p[1] for p in chart["points"]]
    assert days[0] == 0 and days[-1] >= 364
    assert probs == sorted(probs, reverse=True) and probs[0] > probs[-1]
    assert "<script>" not in html.replace('<script id="palive-data"', "")  # no inline code

    lapsed = client_for(world.manager).get(f"/insights/customers/{shop.contacts['lapsed-1'].pk}/")
    assert "No purchase for 520 days" in lapsed.content.decode()


def test_a_contact_without_insight_and_hidden_or_foreign_contacts(
    world: TenantWorld, other_world: TenantWorld, shop: Shop
) -> None:
    assert shop.prospect is not None
    ok = client_for(world.sales).get(f"/insights/customers/{shop.prospect.pk}/")
    assert ok.status_code == 200
    contact = shop.contacts["steady-1"]
    assert client_for(world.sales2).get(f"/insights/customers/{contact.pk}/").status_code == 404
    with tenant_context(other_world.tenant.pk):
        stranger = client_for(other_world.admin)
    response = stranger.get(f"/insights/customers/{contact.pk}/")
    assert response.status_code == 404
    assert "c-steady-1" not in response.content.decode()


def test_at_risk_list_and_bulk_follow_up_tasks(world: TenantWorld, shop: Shop) -> None:
    manager = client_for(world.manager)
    html = manager.get("/insights/?stage=lost").content.decode()
    lost = ["lapsed-1", "lapsed-2", "lapsed-3", "lapsed-4", "once-3"]
    for name in lost:
        assert f'data-contact="{shop.contacts[name].pk}"' in html
    assert 'name="contact_ids"' in html

    chosen = [shop.contacts["lapsed-1"].pk, shop.contacts["lapsed-2"].pk]
    confirm = manager.post("/insights/follow-up/", {"contact_ids": chosen})
    assert confirm.status_code == 200
    assert "c-lapsed-1" in confirm.content.decode() and not Task.objects.exists()

    done = manager.post("/insights/follow-up/", {"contact_ids": chosen, "confirm": "yes"})

    assert done.status_code == 302
    tasks = Task.objects.filter(record_type="contact").order_by("record_id")
    assert [t.record_id for t in tasks] == sorted(chosen)
    assert {t.assignee_id for t in tasks} == {world.sales.pk}  # each customer's owner


def test_segments_page_has_the_chart_and_the_table(world: TenantWorld, shop: Shop) -> None:
    html = client_for(world.manager).get("/insights/segments/").content.decode()

    chart = json_block(html, "segments-data")
    assert sum(p["customers"] for p in chart["points"]) == 14  # buyers; the prospect has none
    assert 'data-testid="segments"' in html and "no purchase yet" in html
    assert 'id="segments-chart"' in html


def test_playbook_page_saves_settings_and_previews(world: TenantWorld, shop: Shop) -> None:
    manager = client_for(world.manager)
    page = manager.get("/insights/playbook/").content.decode()
    assert "The playbook is off" in page and "c-lapsed-1" in page  # default threshold 0.6

    form = {
        "churn_label_days": "",
        "playbook_enabled": "on",
        "at_risk_threshold": "0.995",
        "cooldown_days": "14",
        "coupon_value": "30",
        "coupon_valid_days": "10",
        "task_due_days": "1",
        "max_per_run": "50",
        "email_subject": "Hi {name}",
        "email_body": "Your coupon: {coupon_code}",
    }
    assert manager.post("/insights/playbook/", form).status_code == 302
    saved = InsightSettings.objects.get()
    assert (saved.playbook_enabled, saved.cooldown_days, saved.email_subject) == (
        True,
        14,
        "Hi {name}",
    )
    html = manager.get("/insights/playbook/").content.decode()
    assert "The playbook is on" in html and "Nobody right now." in html

    bad = manager.post("/insights/playbook/", {**form, "email_body": "{unknown}"})
    assert bad.status_code == 200 and "{coupon_code}" in bad.content.decode()
    assert InsightSettings.objects.get().email_body == "Your coupon: {coupon_code}"


def test_a_viewer_may_look_but_not_write(world: TenantWorld, shop: Shop) -> None:
    viewer = client_for(world.viewer)
    contact = shop.contacts["lapsed-1"]
    for url in ("/insights/", "/insights/segments/", "/insights/playbook/"):
        assert viewer.get(url).status_code == 200, url
    page = viewer.get(f"/insights/customers/{contact.pk}/").content.decode()
    assert 'data-action="recompute"' not in page
    assert 'name="contact_ids"' not in viewer.get("/insights/?stage=lost").content.decode()

    assert viewer.post("/insights/recompute/").status_code == 403
    assert viewer.post("/insights/follow-up/", {"contact_ids": [contact.pk]}).status_code == 403
    assert viewer.post("/insights/playbook/", {"cooldown_days": "1"}).status_code == 403
    assert InsightRun.objects.count() == 1 and not Task.objects.exists()
    assert not InsightSettings.objects.filter(cooldown_days=1).exists()


def test_the_recompute_button_and_the_navigation(
    world: TenantWorld, shop: Shop, django_capture_on_commit_callbacks
) -> None:
    manager = client_for(world.manager)
    with django_capture_on_commit_callbacks(execute=True):
        response = manager.post("/insights/recompute/", {"next": "/insights/segments/"})
    assert response.status_code == 302 and response["Location"] == "/insights/segments/"
    assert list(InsightRun.objects.order_by("id").values_list("trigger", "status")) == [
        ("nightly", "succeeded"),
        ("page", "succeeded"),
    ]
    assert 'href="/insights/"' in manager.get("/").content.decode()
    assert 'href="/insights/"' not in client_for(world.sales).get("/").content.decode()
