"""Funnel metrics read from the database equal the pure function's on the same history, within
each member's record visibility."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from crm.insights.analytics.funnel import StageInfo, funnel_metrics
from tests.api.support import Api, make_token

from .conftest import History

# The fixture's history (see conftest): deal → (amount, [(stage key, days after creation)]).
PLAN = {
    "a": (1000, [("qualified", 2), ("proposal", 5), ("won", 9)]),
    "b": (2000, [("lost", 3)]),
    "c": (3000, [("proposal", 4)]),
    "d": (4000, [("qualified", 1), ("negotiation", 6), ("won", 8)]),
    "e": (5000, []),
    "f": (6000, [("qualified", 2), ("lost", 10)]),
}


def expected_report(history: History, keys: str) -> Any:
    """The pure function on a frame written from the plan, not read from the database."""
    rows = []
    for key in keys:
        amount, moves = PLAN[key]
        opp = history.deals[key]
        previous = history.stages["lead"].pk
        rows.append((opp.pk, None, previous, opp.created_at, amount))
        for stage_key, days in moves:
            stage = history.stages[stage_key].pk
            rows.append((opp.pk, previous, stage, opp.created_at + timedelta(days=days), amount))
            previous = stage
    frame = pd.DataFrame(rows, columns=["opportunity_id", "from_stage", "to_stage", "at", "amount"])
    stages = [
        StageInfo(s.pk, s.order, s.is_won, s.is_lost, s.probability)
        for s in history.stages.values()
    ]
    return funnel_metrics(frame, stages, tz="Asia/Shanghai")


def assert_same(body: dict[str, Any], report: Any) -> None:
    assert body["deals"] == report.deals
    assert body["won"] == report.won
    assert body["lost"] == report.lost
    assert body["open_deals"] == report.open_deals
    assert body["win_rate"] == pytest.approx(report.win_rate)
    assert body["avg_won_amount"] == pytest.approx(report.avg_won_amount)
    assert body["avg_cycle_days"] == pytest.approx(report.avg_cycle_days, abs=1e-6)
    for stage in body["stages"]:
        row = report.stages.loc[stage["stage_id"]]
        for name in ("reached", "exited", "converted_next", "closed", "won"):
            expected = None if pd.isna(row[name]) else int(row[name])
            assert stage[name] == expected, (stage["name"], name)
        for name in ("conversion_next", "conversion_won", "avg_amount", "avg_days", "median_days"):
            if pd.isna(row[name]):
                assert stage[name] is None, (stage["name"], name)
            else:
                assert stage[name] == pytest.approx(float(row[name]), abs=1e-6), (
                    stage["name"],
                    name,
                )


def test_funnel_through_the_database_equals_the_pure_function(world, history) -> None:
    body = json.loads(Api(make_token(world.admin)).get("/funnel").content)
    assert body["pipeline_id"] == history.pipeline.pk
    assert_same(body, expected_report(history, "abcdef"))
    # and a few numbers by hand: 2 won of 4 closed; lead: 5 left it, 4 of them moved on
    by_key = {s["stage_id"]: s for s in body["stages"]}
    lead = by_key[history.stages["lead"].pk]
    assert (lead["reached"], lead["exited"], lead["converted_next"]) == (6, 5, 4)
    assert lead["avg_days"] == pytest.approx(2.4, abs=1e-6)  # 2, 3, 4, 1, 2 days
    assert lead["median_days"] == pytest.approx(2.0, abs=1e-6)
    qualified = by_key[history.stages["qualified"].pk]
    assert qualified["reached"] == 4  # a, d, f and c, which skipped it
    assert qualified["conversion_next"] == pytest.approx(0.75)
    assert body["win_rate"] == 0.5
    assert body["avg_won_amount"] == 2500.0  # a 1000, d 4000
    # velocity: 2 open x 0.5 x 2500 ÷ 8.5 days
    assert body["sales_velocity"] == pytest.approx(2 * 0.5 * 2500 / 8.5, rel=1e-6)


def test_a_sales_rep_sees_only_own_deals_and_a_manager_the_team(world, history) -> None:
    own = json.loads(Api(make_token(world.sales)).get("/funnel").content)
    assert_same(own, expected_report(history, "abc"))
    assert own["deals"] == 3
    team = json.loads(Api(make_token(world.manager)).get("/funnel").content)
    assert_same(team, expected_report(history, "abcf"))  # team A: manager and sales
    # asking for another rep's deals does not widen what a rep sees
    other = json.loads(
        Api(make_token(world.sales)).get("/funnel", owner_id=world.sales2.pk).content
    )
    assert other["deals"] == 0


def test_funnel_filters_by_owner_team_and_period(world, history) -> None:
    api = Api(make_token(world.admin))
    by_owner = json.loads(api.get("/funnel", owner_id=world.sales2.pk).content)
    assert_same(by_owner, expected_report(history, "de"))
    by_team = json.loads(api.get("/funnel", team_id=world.team_a.pk).content)
    assert_same(by_team, expected_report(history, "abcf"))
    today = history.deals["a"].created_at.astimezone(ZoneInfo("Asia/Shanghai")).date()
    this_day = json.loads(api.get("/funnel", start=today, end=today).content)
    assert this_day["deals"] == 6
    earlier = today - timedelta(days=40)
    before = json.loads(api.get("/funnel", start=earlier, end=today - timedelta(days=1)).content)
    assert before["deals"] == 0
    bad = api.get("/funnel", start=today, end=earlier)
    assert bad.status_code == 422
    assert "end" in json.loads(bad.content)["fields"]


def test_cohorts_count_deals_by_month_and_current_stage(world, history) -> None:
    body = json.loads(Api(make_token(world.admin)).get("/funnel/cohorts").content)
    assert [s["stage_id"] for s in body["stages"]] == [s.pk for s in history.stages.values()]
    expected = expected_report(history, "abcdef").cohorts
    assert [c["month"] for c in body["cohorts"]] == [str(m) for m in expected.index]
    (cohort,) = body["cohorts"]
    assert (cohort["deals"], cohort["open"], cohort["won"], cohort["lost"]) == (6, 2, 2, 2)
    # now in: lead e; qualified none; proposal c; negotiation none; won a, d; lost b, f
    assert cohort["counts"] == [1, 0, 1, 0, 2, 2]


def test_unknown_pipeline_gives_an_empty_funnel_not_another_tenants(world, other_world) -> None:
    from crm.core.context import tenant_context
    from crm.sales.models import Pipeline

    with tenant_context(other_world.tenant.pk):
        foreign = Pipeline.objects.get(is_default=True).pk
    body = json.loads(Api(make_token(world.admin)).get("/funnel", pipeline_id=foreign).content)
    assert body["pipeline_id"] is None and body["stages"] == [] and body["deals"] == 0
