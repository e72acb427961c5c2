"""The insights API: customer insights by visibility, PII masking, lists and paging, segments,
runs and the recompute trigger, the playbook preview and settings; read-only roles refused."""

from __future__ import annotations

import json
from typing import Any

import pytest

from crm.core.context import tenant_context
from crm.insights.models import InsightRun
from crm.insights.services import insights_recompute
from tests.api.support import Api, make_token
from tests.conftest import TenantWorld
from tests.insights.test_wiring_data import NOW, Shop, build_shop


def body(response: Any) -> Any:
    return json.loads(response.content)


@pytest.fixture
def shop(world: TenantWorld) -> Shop:
    shop = build_shop(world.sales)
    build_shop(world.admin, "x", owner=world.sales2)  # another team's customers
    assert insights_recompute(now=NOW).status == "succeeded"
    return shop


def test_a_customers_insight_with_masked_or_clear_email(world: TenantWorld, shop: Shop) -> None:
    contact = shop.contacts["steady-1"]
    full = Api(make_token(world.manager, ["read", "pii"]))
    plain = Api(make_token(world.manager, ["read"]))

    clear = body(full.get(f"/insights/customers/{contact.pk}"))
    masked = body(plain.get(f"/insights/customers/{contact.pk}"))

    assert clear["email"] == "c.steady-1@example.com"
    assert masked["email"] == "c***@example.com"
    assert clear["name"] == "c-steady-1" and clear["stage"] == "loyal"
    assert clear["orders"] == 6 and clear["recency_days"] == 10
    assert 0 < clear["churn_risk"] < 0.3 and clear["p_alive"] == 1 - clear["churn_risk"]
    assert float(clear["clv_12m"]) > 0 and clear["expected_purchases_12m"] > 1
    assert clear["preferences"]["categories"] == ["tea", "cups"]
    assert [a["code"] for a in clear["actions"]] == ["reward_loyalty", "ask_referral"]
    assert clear["actions"][0]["text"] == "Thank and reward: VIP perks, early access"
    lapsed = body(full.get(f"/insights/customers/{shop.contacts['lapsed-1'].pk}"))
    assert lapsed["churn_reasons"][0] == {
        "code": "no_recent_purchase",
        "value": 520,
        "text": "No purchase for 520 days",
    }


def test_visibility_and_other_tenants_answer_404(
    world: TenantWorld, other_world: TenantWorld, shop: Shop
) -> None:
    contact = shop.contacts["steady-1"]  # owned by `sales` of team A
    hidden = Api(make_token(world.sales2))  # a rep of team B sees own records only
    with tenant_context(other_world.tenant.pk):
        stranger = Api(make_token(other_world.admin))

    for api in (hidden, stranger):
        response = api.get(f"/insights/customers/{contact.pk}")
        assert response.status_code == 404
        assert body(response)["code"] == "not_found"
        assert "c-steady-1" not in response.content.decode()
    names = {i["name"] for i in body(hidden.get("/insights/customers", limit=200))["items"]}
    assert names == {f"x-{n}" for n in shop.contacts} | {"x-prospect"}
    assert body(stranger.get("/insights/customers"))["items"] == []
    assert body(stranger.get("/insights/segments"))["items"] == []


def test_lists_by_lifecycle_and_risk_with_paging(world: TenantWorld, shop: Shop) -> None:
    api = Api(make_token(world.manager))  # team A: sees the `c-` customers and unowned ones

    at_risk = body(api.get("/insights/customers", at_risk="true"))
    lost = body(api.get("/insights/customers", stage="lost", limit=2))
    risky = body(api.get("/insights/customers", min_risk=0.5, ordering="-churn_risk"))

    assert [i["name"] for i in at_risk["items"]] == ["c-once-2"]
    assert lost["count"] == 5 and len(lost["items"]) == 2 and lost["has_more"] is True
    rest = body(api.get("/insights/customers", stage="lost", limit=2, offset=2))
    assert {i["name"] for i in lost["items"] + rest["items"]} <= {
        "c-lapsed-1", "c-lapsed-2", "c-lapsed-3", "c-lapsed-4", "c-once-3",
    }  # fmt: skip
    risks = [i["churn_risk"] for i in risky["items"]]
    assert risks == sorted(risks, reverse=True) and min(risks) >= 0.5
    assert api.get("/insights/customers", stage="sleeping").status_code == 422

    segments = body(api.get("/insights/segments"))["items"]
    assert sum(s["customers"] for s in segments) == 15
    assert segments[0]["segment"] == -1 and segments[0]["customers"] == 1


def test_runs_and_the_recompute_trigger(
    world: TenantWorld, shop: Shop, django_capture_on_commit_callbacks: Any
) -> None:
    api = Api(make_token(world.manager))
    reader = Api(make_token(world.manager, ["read"]))
    viewer = Api(make_token(world.viewer))

    assert reader.post("/insights/runs").status_code == 403  # no write scope
    refused = viewer.post("/insights/runs")
    assert refused.status_code == 403 and body(refused)["code"] == "permission_denied"
    assert InsightRun.objects.count() == 1

    with django_capture_on_commit_callbacks(execute=True) as queued:
        response = api.post("/insights/runs")
        assert response.status_code == 202
        assert body(response)["status"] == "queued"
    assert len(queued) == 1  # the job, queued after commit (it runs inline in the tests)

    run = body(api.get(f"/insights/runs/{body(response)['id']}"))
    assert run["status"] == "succeeded" and run["trigger"] == "api"
    assert run["requested_by_id"] == world.manager.pk
    assert run["customers"] == 30 and "bgnbd" in run["metrics"]
    listed = body(api.get("/insights/runs"))
    assert listed["items"][0]["id"] == run["id"] and listed["count"] == 2


def test_playbook_preview_and_settings(world: TenantWorld, shop: Shop) -> None:
    manager = Api(make_token(world.manager))
    viewer = Api(make_token(world.viewer))
    settings = body(manager.get("/insights/playbook/settings"))
    assert settings["playbook_enabled"] is False and settings["cooldown_days"] == 30

    changed = {**settings, "at_risk_threshold": 0.9, "email_subject": "Hi {name}"}
    response = manager.call("PUT", "/insights/playbook/settings", changed)
    assert response.status_code == 200, response.content
    assert body(response)["at_risk_threshold"] == 0.9

    bad = manager.call("PUT", "/insights/playbook/settings", {**changed, "email_body": "{oops}"})
    assert bad.status_code == 422 and "email_body" in body(bad)["fields"]
    assert viewer.call("PUT", "/insights/playbook/settings", changed).status_code == 403
    sales = Api(make_token(world.sales))
    assert sales.call("PUT", "/insights/playbook/settings", changed).status_code == 403
    assert body(manager.get("/insights/playbook/settings"))["email_subject"] == "Hi {name}"

    preview = body(manager.get("/insights/playbook/preview"))
    assert preview["dry_run"] is True and preview["enabled"] is False
    # today is long after NOW: the lapsed customers are above 0.9
    assert {c["name"] for c in preview["candidates"]} >= {"c-lapsed-1", "c-lapsed-2"}
    assert all(c["churn_risk"] >= 0.9 for c in preview["candidates"])
