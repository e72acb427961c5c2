"""The lead-flow pages: inbox, rules with preview, team load and fairness, form builder."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from crm.core.context import tenant_context
from crm.sales.capture import lead_capture
from crm.sales.capture_channels import web_form_create
from crm.sales.lead_models import AssignmentRule, LeadIntake, WebForm
from crm.sales.models import Lead
from crm.sales.views import sla_text
from crm.tenancy.middleware import SESSION_MEMBERSHIP_KEY

pytestmark = pytest.mark.urls("tests.leads.urls")


def signed_in(member) -> Client:
    client = Client()
    client.force_login(member.user)
    session = client.session
    session[SESSION_MEMBERSHIP_KEY] = member.pk
    session.save()
    return client


def get(client: Client, path: str, **params: str):
    with tenant_context(None):  # the middleware sets the tenant from the session
        return client.get(path, params)


def post(client: Client, path: str, data: dict | None = None):
    with tenant_context(None):
        return client.post(path, data or {})


def test_inbox_shows_score_reasons_priority_and_sla(flow) -> None:
    lead = lead_capture(
        actor=None, values={"name": "收件箱", "source": "referral"}, channel="api"
    ).lead
    page = get(signed_in(lead.owner), "/lead-flow/inbox/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "收件箱" in html and f'data-lead="{lead.pk}"' in html
    assert lead.score_reasons[0]["text"] in html  # reasons shown (and in the hover title)
    assert "due in" in html or "到期" in html or "in" in html
    other = get(signed_in(next(r for r in flow.reps if r != lead.owner)), "/lead-flow/inbox/")
    assert f'data-lead="{lead.pk}"' not in other.content.decode()  # a rep sees their own
    manager = get(signed_in(flow.manager), "/lead-flow/inbox/")
    assert f'data-lead="{lead.pk}"' in manager.content.decode()  # the manager sees the team's
    done = post(signed_in(lead.owner), f"/lead-flow/leads/{lead.pk}/responded/")
    assert done.status_code == 302
    lead.refresh_from_db()
    assert lead.status == "working"
    assert LeadIntake.objects.get(lead=lead).first_response_at is not None


def test_sla_text() -> None:
    now = timezone.now()
    assert sla_text(now + timedelta(minutes=90, seconds=5), now)[0].endswith("1 h 30 min")
    text, css = sla_text(now - timedelta(minutes=20), now)
    assert "20 min" in text and "danger" in css


def test_rules_page_adds_a_rule_and_previews(flow) -> None:
    admin = signed_in(flow.world.admin)
    page = get(admin, "/lead-flow/rules/", preview="1", priority="high")
    assert page.status_code == 200 and 'data-testid="preview"' in page.content.decode()
    assert str(flow.reps[0]) in page.content.decode()
    added = post(
        admin,
        "/lead-flow/rules/",
        {
            "name": "华北 ERP",
            "team_id": str(flow.world.team_b.pk),
            "product_line": "erp",
            "position": "0",
            "required_skills": "erp, zh",
        },
    )
    assert added.status_code == 302
    rule = AssignmentRule.objects.get(name="华北 ERP")
    assert rule.required_skills == ["erp", "zh"] and rule.team == flow.world.team_b
    assert get(signed_in(flow.reps[0]), "/lead-flow/rules/").status_code == 403
    assert post(signed_in(flow.manager), "/lead-flow/rules/", {"name": "x"}).status_code == 403


def test_fairness_page(flow) -> None:
    for i in range(3):
        lead_capture(actor=None, values={"name": f"fair {i}"}, channel="api")
    page = get(signed_in(flow.manager), f"/lead-flow/teams/{flow.team.pk}/fairness/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-testid="fairness"' in html and all(str(r) in html for r in flow.reps)
    rep = signed_in(flow.reps[0])
    assert get(rep, f"/lead-flow/teams/{flow.team.pk}/fairness/").status_code == 403


def test_form_builder_creates_a_form_with_snippet_and_preview(flow) -> None:
    admin = signed_in(flow.world.admin)
    made = post(
        admin,
        "/lead-flow/forms/",
        {
            "name": "官网咨询",
            "fields": ["email", "phone", "message"],
            "required": ["phone"],
            "consent_text": "同意联系",
            "consent_required": "on",
        },
    )
    assert made.status_code == 302
    form = WebForm.objects.get()
    assert form.fields == ["name", "email", "phone", "message"] and form.required == ["phone"]
    page = get(admin, "/lead-flow/forms/")
    html = page.content.decode()
    assert f"/forms/{form.key}/" in html and "&lt;iframe" in html and "<iframe" in html
    assert get(signed_in(flow.manager), "/lead-flow/forms/").status_code == 403


def test_pages_need_sign_in(flow) -> None:
    with tenant_context(None):
        assert Client().get("/lead-flow/inbox/").status_code == 302
    web_form_create(actor=flow.world.admin, name="x", fields=[])
    assert Lead.objects.count() == 0
