"""The sales forecast, pipeline forecast and what-if endpoints: numbers, filters, bad input, and
that a what-if changes nothing."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from django.core.cache import cache
from django.utils import timezone

from crm.forecasts import sales
from crm.forecasts.services import quota_set
from crm.sales.models import OrderLine
from crm.sales.services import order_create, order_delete
from tests.api.support import Api, make_token, tenant_snapshot

SHANGHAI = ZoneInfo("Asia/Shanghai")


def today() -> date:
    return timezone.now().astimezone(SHANGHAI).date()


def monthly_sums(lines: Any) -> pd.Series:
    """Revenue per complete month, computed here from the order lines one by one."""
    this_month = pd.Period(today(), freq="M")
    sums: dict[pd.Period, float] = {}
    for moment, amount in lines:
        month = pd.Period(moment.astimezone(SHANGHAI).date(), freq="M")
        if month < this_month:
            sums[month] = sums.get(month, 0.0) + float(amount)
    return pd.Series(sums).sort_index()


# --- sales forecast -----------------------------------------------------------------------------


def test_sales_forecast_by_month_with_intervals_model_and_accuracy(world, orders) -> None:
    cache.clear()
    response = Api(make_token(world.admin)).get("/forecasts/sales", freq="M", horizon=3)
    assert response.status_code == 200
    body = json.loads(response.content)
    expected = monthly_sums(OrderLine.objects.values_list("order__ordered_at", "amount"))
    history = pd.Series(
        {pd.Period(p["period"], freq="M"): p["value"] for p in body["history"]}
    ).sort_index()
    assert list(history.index) == list(expected.index)
    assert history.to_numpy() == pytest.approx(expected.to_numpy())
    this_month = pd.Period(today(), freq="M")
    assert [p["period"] for p in body["forecast"]] == [
        (this_month + i).start_time.date().isoformat() for i in range(3)
    ]
    for p in body["forecast"]:
        assert p["lower_95"] <= p["lower_80"] <= p["point"] <= p["upper_80"] <= p["upper_95"]
    assert body["model"] in body["candidate_mase"] or body["backtest_mase"] is None
    assert body["season_length"] == 12
    assert body["total_point"] == pytest.approx(sum(p["point"] for p in body["forecast"]))


def test_sales_forecast_by_owner_and_category_sums_only_those_sales(world, orders) -> None:
    api = Api(make_token(world.admin))
    mine = json.loads(
        api.get("/forecasts/sales", freq="M", horizon=2, owner_id=world.sales.pk).content
    )
    expected = monthly_sums(
        OrderLine.objects.filter(order__owner=world.sales).values_list(
            "order__ordered_at", "amount"
        )
    )
    assert sum(p["value"] for p in mine["history"]) == pytest.approx(expected.sum())
    services = json.loads(
        api.get("/forecasts/sales", freq="M", horizon=2, category="services").content
    )
    expected = monthly_sums(
        OrderLine.objects.filter(category="services").values_list("order__ordered_at", "amount")
    )
    assert sum(p["value"] for p in services["history"]) == pytest.approx(expected.sum())
    # a sales rep's forecast is of the rep's own orders only, whatever the filter says
    rep = json.loads(
        Api(make_token(world.sales))
        .get("/forecasts/sales", freq="M", horizon=2, owner_id=world.sales2.pk)
        .content
    )
    assert rep["history"] == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"freq": "Y"}, "freq"),
        ({"freq": "D", "horizon": 367}, "horizon"),
        ({"freq": "W", "horizon": 105}, "horizon"),
        ({"freq": "M", "horizon": 37}, "horizon"),
        ({"horizon": 0}, "horizon"),
        ({"horizon": "soon"}, "horizon"),
        ({"source": "won", "category": "hardware"}, "category"),
    ],
)
def test_sales_forecast_refuses_bad_input_naming_the_field(world, params, field) -> None:
    response = Api(make_token(world.admin)).get("/forecasts/sales", **params)
    assert response.status_code == 422
    body = json.loads(response.content)
    assert body["code"] == "validation_error"
    assert field in body["fields"]


def test_sales_forecast_is_cached_until_the_data_changes(world, orders) -> None:
    cache.clear()
    first = sales.sales_forecast(actor=world.admin, freq="M", horizon=2)
    again = sales.sales_forecast(actor=world.admin, freq="M", horizon=2)
    assert (first.cached, again.cached) == (False, True)
    assert again.data == first.data
    last_month = (pd.Period(today(), freq="M") - 1).start_time.date()
    late = order_create(
        actor=world.admin,
        values={
            "number": "SO-late",
            "ordered_at": timezone.make_aware(
                pd.Timestamp(last_month).to_pydatetime() + timedelta(hours=12), SHANGHAI
            ),
        },
        lines=[{"description": "Extra", "quantity": "1", "unit_price": "5000"}],
    )
    fresh = sales.sales_forecast(actor=world.admin, freq="M", horizon=2)
    assert fresh.cached is False
    assert fresh.data["history"][-1]["value"] == pytest.approx(
        first.data["history"][-1]["value"] + 5000
    )
    # a deleted order is no revenue
    order_delete(actor=world.admin, order=late)
    after = sales.sales_forecast(actor=world.admin, freq="M", horizon=2)
    assert after.data["history"] == first.data["history"]


def test_won_deals_are_a_revenue_source(world, history) -> None:
    body = json.loads(
        Api(make_token(world.admin)).get("/forecasts/sales", freq="D", source="won").content
    )
    # the two won deals closed 8 and 9 days after creation, i.e. in the future: not history yet
    assert body["history"] == []
    assert len(body["forecast"]) == 30


# --- pipeline forecast --------------------------------------------------------------------------


def period_params(days: int = 59) -> dict[str, str]:
    start = today()
    return {"start": start.isoformat(), "end": (start + timedelta(days=days)).isoformat()}


def test_pipeline_forecast_categories_per_rep_against_prorated_quotas(world, history) -> None:
    start = today()
    quota_set(
        actor=world.admin,
        member_id=world.sales.pk,
        period_start=start,
        period_end=start + timedelta(days=29),
        amount=Decimal("3000"),
    )
    quota_set(  # half of its 60 days fall in the forecast period
        actor=world.admin,
        member_id=world.sales.pk,
        period_start=start + timedelta(days=30),
        period_end=start + timedelta(days=89),
        amount=Decimal("6000"),
    )
    body = json.loads(
        Api(make_token(world.admin)).get("/forecasts/pipeline", **period_params()).content
    )
    totals = body["totals"]
    # won in the period: a (1000) and d (4000); open: c (3000, proposal), e (5000, lead)
    assert totals["closed_won"] == 5000
    assert totals["deals"] == 2
    assert totals["pipeline"] == 5000 + 3000 + 5000
    assert totals["weighted_stage"] == pytest.approx(3000 * 0.5 + 5000 * 0.1)
    stages = {s["stage_id"]: s for s in body["pipelines"][0]["stages"]}
    proposal = stages[history.stages["proposal"].pk]
    # learned from a and d (both won, both passed proposal): (2 + 10 x 0.5) / (2 + 10)
    assert proposal["win_rate"] == pytest.approx(7 / 12)
    assert proposal["win_rate_n"] == 2
    reps = {r["id"]: r for r in body["by_owner"]}
    sales_row = reps[world.sales.pk]
    assert sales_row["closed_won"] == 1000
    assert sales_row["quota"] == pytest.approx(3000 + 3000)
    assert sales_row["attainment"] == pytest.approx(1000 / 6000)
    assert sales_row["best_case"] == 1000 + 3000  # c: 7/12 ≥ 40%
    assert reps[world.sales2.pk]["closed_won"] == 4000
    assert reps[world.sales2.pk]["quota"] is None
    teams = {t["id"]: t for t in body["by_team"]}
    assert teams[world.team_a.pk]["quota"] == pytest.approx(6000)


def test_pipeline_forecast_defaults_to_this_month_and_checks_the_period(world) -> None:
    api = Api(make_token(world.admin))
    body = json.loads(api.get("/forecasts/pipeline").content)
    first = today().replace(day=1)
    assert body["start"] == first.isoformat()
    bad = api.get("/forecasts/pipeline", start="2026-02-01", end="2026-01-01")
    assert bad.status_code == 422 and "end" in json.loads(bad.content)["fields"]
    assert api.get("/forecasts/pipeline", start="2026-02-30").status_code == 422


# --- what-if ------------------------------------------------------------------------------------


def rows_now(world: Any) -> dict[str, Any]:
    """Every row of the tenant, except the API token's last-used stamp (each call sets it)."""
    rows = tenant_snapshot(world.tenant.pk)
    rows.pop("tenancy.ApiToken")
    return rows


def test_what_if_changes_the_forecast_and_saves_nothing(world, history) -> None:
    api = Api(make_token(world.admin))
    before = rows_now(world)
    proposal = history.stages["proposal"].pk
    response = api.post(
        "/forecasts/what-if",
        {**period_params(), "overrides": [{"stage_id": proposal, "win_rate": 0.9}]},
    )
    assert response.status_code == 200
    body = json.loads(response.content)
    assert body["saved"] is False
    # deal c (3000) now counts 90% instead of 7/12, and becomes commit
    assert body["change"]["weighted_win_rate"] == pytest.approx(3000 * (0.9 - 7 / 12))
    assert body["change"]["commit"] == pytest.approx(3000)
    assert body["what_if"]["totals"]["commit"] == body["base"]["totals"]["commit"] + 3000
    # a longer stay in proposal pushes c out of the period, and e (in lead, proposal ahead)
    slower = json.loads(
        api.post(
            "/forecasts/what-if",
            {**period_params(), "overrides": [{"stage_id": proposal, "cycle_days": 100}]},
        ).content
    )
    assert slower["change"]["deals"] == -2
    bigger = json.loads(
        api.post(
            "/forecasts/what-if",
            {**period_params(), "overrides": [{"stage_id": proposal, "avg_deal_size": 6000}]},
        ).content
    )
    assert bigger["change"]["pipeline"] == pytest.approx(3000)
    assert rows_now(world) == before


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"win_rate": 1.5}, "overrides.0.win_rate"),
        ({"cycle_days": -1}, "overrides.0.cycle_days"),
        ({"stage": 1}, "overrides.0.stage"),
    ],
)
def test_what_if_refuses_bad_overrides(world, history, override, field) -> None:
    body = {"overrides": [{"stage_id": history.stages["proposal"].pk, **override}]}
    response = Api(make_token(world.admin)).post("/forecasts/what-if", body)
    assert response.status_code == 422
    assert field in json.loads(response.content)["fields"]


def test_what_if_refuses_closed_and_foreign_stages(world, other_world, history) -> None:
    api = Api(make_token(world.admin))
    won = history.stages["won"].pk
    response = api.post("/forecasts/what-if", {"overrides": [{"stage_id": won, "win_rate": 0}]})
    assert response.status_code == 422
    assert "overrides.0.stage_id" in json.loads(response.content)["fields"]
    from crm.core.context import tenant_context
    from crm.sales.models import Stage

    with tenant_context(other_world.tenant.pk):
        foreign = Stage.objects.filter(is_won=False, is_lost=False).first().pk
    response = api.post("/forecasts/what-if", {"overrides": [{"stage_id": foreign}]})
    assert response.status_code == 422


def test_a_period_outside_plausible_years_is_refused_naming_the_field(world) -> None:
    """Year 1 in the tenant's zone is before the first moment there is: a 422, never a 500."""
    api = Api(make_token(world.admin))
    what_if = api.post("/forecasts/what-if", {"end": "0001-01-01"})
    assert what_if.status_code == 422 and "end" in json.loads(what_if.content)["fields"]
    pipeline = api.get("/forecasts/pipeline", start="0001-01-02")
    assert pipeline.status_code == 422 and "start" in json.loads(pipeline.content)["fields"]
    assert api.get("/forecasts/pipeline", start="2026-01-01").status_code == 200
