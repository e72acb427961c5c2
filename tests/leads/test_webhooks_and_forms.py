"""Inbound webhooks (signature, window, idempotency) and the public web form."""

from __future__ import annotations

import json
import time

import pytest
from django.core.cache import cache
from django.test import Client

from crm.core.context import tenant_context
from crm.sales.capture_channels import (
    lead_source_create,
    web_form_create,
    web_form_snippet,
    webhook_signature,
)
from crm.sales.lead_models import LeadIntake, WebhookReceipt
from crm.sales.models import Lead

pytestmark = pytest.mark.urls("tests.leads.urls")


@pytest.fixture
def source(flow):
    found, secret = lead_source_create(actor=flow.world.admin, name="官网", product_line="erp")
    return found, secret


def post_hook(
    key: str,
    secret: str,
    payload: object,
    *,
    ts: int | None = None,
    idem: str | None = "k-1",
    signature: str | None = None,
    raw: bytes | None = None,
):
    body = raw if raw is not None else json.dumps(payload).encode()
    stamp = str(int(time.time()) if ts is None else ts)
    headers = {
        "X-CRM-Timestamp": stamp,
        "X-CRM-Signature": signature or webhook_signature(secret, stamp, body),
    }
    if idem is not None:
        headers["Idempotency-Key"] = idem
    with tenant_context(None):  # a webhook arrives without any tenant; the source names it
        return Client().post(
            f"/hooks/leads/{key}/", body, content_type="application/json", headers=headers
        )


def test_signed_webhook_creates_one_lead_in_the_sources_tenant(flow, source) -> None:
    src, secret = source
    response = post_hook(
        src.key,
        secret,
        {"name": "周七", "email": "zq@example.com", "message": "需要报价", "ignored": 1},
    )
    assert response.status_code == 201, response.content
    lead = Lead.objects.get()
    assert response.json()["lead_id"] == lead.pk and lead.source == "官网"
    intake = LeadIntake.objects.get(lead=lead)
    assert intake.channel == "webhook" and intake.source_ref == src and intake.product_line == "erp"
    assert lead.owner in flow.reps


def test_replay_returns_the_first_result_and_never_creates_twice(flow, source) -> None:
    src, secret = source
    payload = {"name": "吴八", "phone": "13900139000"}
    first = post_hook(src.key, secret, payload, idem="order-77")
    replay = post_hook(src.key, secret, payload, idem="order-77")
    assert first.status_code == replay.status_code == 201
    assert replay.json() == first.json() and replay["Idempotent-Replayed"] == "true"
    assert Lead.objects.count() == 1 and WebhookReceipt.objects.count() == 1
    # The same key with another body is a client error, not a second lead.
    clash = post_hook(src.key, secret, {"name": "other"}, idem="order-77")
    assert clash.status_code == 409 and Lead.objects.count() == 1
    # A new key for the same person is a duplicate inquiry: attached, not a second lead.
    again = post_hook(src.key, secret, payload, idem="order-78")
    assert again.status_code == 200 and again.json()["duplicate_of"]["match"] == "phone"
    assert Lead.objects.count() == 1


@pytest.mark.parametrize(
    "tamper",
    ["body", "signature", "secret", "missing-signature"],
)
def test_tampered_requests_get_401_and_nothing_is_stored(flow, source, tamper) -> None:
    src, secret = source
    body = json.dumps({"name": "钱九"}, ensure_ascii=False).encode()
    stamp = str(int(time.time()))
    good = webhook_signature(secret, stamp, body)
    headers = {"X-CRM-Timestamp": stamp, "X-CRM-Signature": good, "Idempotency-Key": "t-1"}
    if tamper == "body":
        body = body.replace("钱九".encode(), "孙十".encode())
    elif tamper == "signature":
        headers["X-CRM-Signature"] = good[:-2] + ("00" if not good.endswith("00") else "11")
    elif tamper == "secret":
        headers["X-CRM-Signature"] = webhook_signature("not-the-secret", stamp, body)
    else:
        del headers["X-CRM-Signature"]
    with tenant_context(None):
        response = Client().post(
            f"/hooks/leads/{src.key}/", body, content_type="application/json", headers=headers
        )
    assert response.status_code == 401
    assert response.json()["code"] == "unauthenticated"
    assert Lead.objects.count() == 0 and WebhookReceipt.objects.count() == 0


@pytest.mark.parametrize("skew", [-305, 305, -3600])  # a few seconds of slack for slow runs
def test_expired_or_future_timestamps_get_401(flow, source, skew) -> None:
    src, secret = source
    response = post_hook(src.key, secret, {"name": "x"}, ts=int(time.time()) + skew)
    assert response.status_code == 401 and response.json()["code"] == "expired"
    assert Lead.objects.count() == 0 and WebhookReceipt.objects.count() == 0
    inside = post_hook(src.key, secret, {"name": "x"}, ts=int(time.time()) - 280)
    assert inside.status_code == 201


def test_malformed_requests(flow, source) -> None:
    src, secret = source
    assert post_hook("no-such-source", secret, {"name": "x"}).status_code == 404
    assert post_hook(src.key, secret, {"name": "x"}, idem=None).status_code == 400
    assert post_hook(src.key, secret, None, raw=b"[1, 2]").status_code == 400
    assert post_hook(src.key, secret, None, raw=b"\xff\xfe").status_code == 400
    with tenant_context(None):
        assert Client().get(f"/hooks/leads/{src.key}/").status_code == 405
    assert Lead.objects.count() == 0 and WebhookReceipt.objects.count() == 0
    # Signed but invalid content: 422, remembered for replays, no lead.
    bad = post_hook(src.key, secret, {"name": "x", "email": "nope"}, idem="bad-1")
    assert bad.status_code == 422 and "email" in bad.json()["fields"]
    assert post_hook(src.key, secret, {"name": "x", "email": "nope"}, idem="bad-1").json() == (
        bad.json()
    )
    assert Lead.objects.count() == 0


def test_a_source_of_another_tenant_writes_into_that_tenant(flow, other_world) -> None:
    with tenant_context(other_world.tenant.pk):
        src, secret = lead_source_create(actor=other_world.admin, name="beta-site")
    assert post_hook(src.key, secret, {"name": "跨租户"}).status_code == 201
    assert Lead.objects.count() == 0
    with tenant_context(other_world.tenant.pk):
        assert list(Lead.objects.values_list("name", flat=True)) == ["跨租户"]


# --- the web form -------------------------------------------------------------------------------


@pytest.fixture
def form(flow):
    cache.clear()
    return web_form_create(
        actor=flow.world.admin,
        name="联系我们",
        fields=["company", "email", "phone", "message"],
        required=["email"],
        consent_text="我同意贵公司就此咨询联系我。",
        rate_limit_per_hour=3,
    )


def submit(form, client: Client | None = None, address: str = "203.0.113.5", **data: str):
    with tenant_context(None):
        return (client or Client()).post(f"/forms/{form.key}/", data, REMOTE_ADDR=address)


def test_form_page_is_public_and_embeddable(form) -> None:
    with tenant_context(None):
        page = Client().get(f"/forms/{form.key}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "联系我们" in html and 'name="email"' in html and 'name="website"' in html
    assert "X-Frame-Options" not in page.headers
    assert "frame-ancestors *" in page["Content-Security-Policy"]
    snippet = web_form_snippet(form, "https://crm.example.com")
    assert f'src="https://crm.example.com/forms/{form.key}/"' in snippet
    with tenant_context(None):
        assert Client().get("/forms/nope/").status_code == 404


def test_form_submission_creates_an_assigned_lead_with_consent(flow, form) -> None:
    response = submit(
        form,
        name="郑十一",
        email="z11@example.com",
        company="某某科技",
        message="请联系我",
        consent="on",
    )
    assert response.status_code == 200 and 'data-testid="thanks"' in response.content.decode()
    lead = Lead.objects.get()
    assert lead.consent is True and lead.source == "webform" and lead.owner in flow.reps
    intake = LeadIntake.objects.get(lead=lead)
    assert intake.channel == "webform" and intake.web_form == form
    assert intake.consent_text == "我同意贵公司就此咨询联系我。"
    assert intake.consent_ip == "203.0.113.5" and intake.consent_at is not None
    assert intake.message == "请联系我"


def test_form_requires_fields_and_consent(form) -> None:
    response = submit(form, name="x")
    assert response.status_code == 422
    html = response.content.decode()
    assert 'class="field consent invalid"' in html and 'class="field invalid"' in html
    assert Lead.objects.count() == 0
    response = submit(form, name="x", email="bad", consent="on")
    assert response.status_code == 422 and Lead.objects.count() == 0


def test_honeypot_pretends_success_and_stores_nothing(form) -> None:
    response = submit(
        form, name="bot", email="bot@spam.example", consent="on", website="http://spam.example"
    )
    assert response.status_code == 200 and "thanks" in response.content.decode()
    assert Lead.objects.count() == 0


def test_rate_limit_per_address(form) -> None:
    for i in range(3):
        assert (
            submit(form, name=f"p{i}", email=f"p{i}@example.com", consent="on").status_code == 200
        )
    limited = submit(form, name="p9", email="p9@example.com", consent="on")
    assert limited.status_code == 429 and Lead.objects.count() == 3
    other = submit(form, address="198.51.100.7", name="q", email="q@example.com", consent="on")
    assert other.status_code == 200 and Lead.objects.count() == 4
