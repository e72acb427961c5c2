"""Quotas: who may set and delete them, one per member and period, no overlaps, visibility."""

from __future__ import annotations

import json
from typing import Any

from crm.forecasts.models import Quota
from tests.api.support import Api, make_token


def body(member: Any, start: str = "2026-12-01", end: str = "2026-12-31", amount: str = "50000"):
    return {"member_id": member.pk, "period_start": start, "period_end": end, "amount": amount}


def test_admin_sets_updates_and_deletes_a_quota(world) -> None:
    api = Api(make_token(world.admin))
    created = api.post("/quotas", body(world.sales))
    assert created.status_code == 201
    quota = json.loads(created.content)
    assert (quota["amount"], quota["member_name"]) == ("50000.00", "sales")
    again = api.post("/quotas", body(world.sales, amount="60000"))
    assert again.status_code == 200
    assert json.loads(again.content)["id"] == quota["id"]
    assert Quota.objects.get().amount == 60000
    assert api.get(f"/quotas/{quota['id']}").status_code == 200
    assert api.delete(f"/quotas/{quota['id']}").status_code == 204
    assert not Quota.objects.exists()
    assert api.get(f"/quotas/{quota['id']}").status_code == 404


def test_sales_reps_and_viewers_cannot_change_quotas(world) -> None:
    Api(make_token(world.admin)).post("/quotas", body(world.sales))
    quota = Quota.objects.get()
    for member in (world.sales, world.viewer):
        api = Api(make_token(member))
        response = api.post("/quotas", body(world.sales, amount="1"))
        assert response.status_code == 403, member.role
        assert api.delete(f"/quotas/{quota.pk}").status_code in (403, 404)
    quota.refresh_from_db()
    assert quota.amount == 50000


def test_a_manager_sets_quotas_for_the_own_team_only(world) -> None:
    api = Api(make_token(world.manager))
    assert api.post("/quotas", body(world.sales)).status_code == 201  # team A
    refused = api.post("/quotas", body(world.sales2))  # team B
    assert refused.status_code == 403
    assert list(Quota.objects.values_list("member_id", flat=True)) == [world.sales.pk]


def test_overlapping_periods_are_refused_and_bad_input_named(world) -> None:
    api = Api(make_token(world.admin))
    assert api.post("/quotas", body(world.sales)).status_code == 201
    overlap = api.post("/quotas", body(world.sales, "2026-12-15", "2027-01-14"))
    assert overlap.status_code == 422
    assert "period_start" in json.loads(overlap.content)["fields"]
    backwards = api.post("/quotas", body(world.sales, "2027-02-01", "2027-01-01"))
    assert backwards.status_code == 422
    assert "period_end" in json.loads(backwards.content)["fields"]
    negative = api.post("/quotas", body(world.sales2, amount="-5"))
    assert negative.status_code == 422 and "amount" in json.loads(negative.content)["fields"]
    assert Quota.objects.count() == 1


def test_quota_list_follows_record_visibility(world) -> None:
    admin = Api(make_token(world.admin))
    admin.post("/quotas", body(world.sales))
    admin.post("/quotas", body(world.sales2))
    admin.post("/quotas", body(world.sales2, "2027-01-01", "2027-01-31"))

    def members(member: Any, **params: Any) -> list[int]:
        page = json.loads(Api(make_token(member)).get("/quotas", **params).content)
        return sorted(q["member_id"] for q in page["items"])

    assert members(world.sales) == [world.sales.pk]
    assert members(world.manager) == [world.sales.pk]  # team A
    assert members(world.admin) == sorted([world.sales.pk, world.sales2.pk, world.sales2.pk])
    assert members(world.admin, start="2027-01-01") == [world.sales2.pk]
    assert members(world.admin, team_id=world.team_b.pk, end="2026-12-31") == [world.sales2.pk]
