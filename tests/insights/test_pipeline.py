"""Pipeline forecast: learned win rates, close dates, categories and what-if overrides."""

from __future__ import annotations

import pandas as pd
import pytest
from statsmodels.stats.proportion import proportion_confint

from crm.insights.analytics.pipeline import (
    PipelineForecast,
    WhatIf,
    pipeline_forecast,
    stage_win_rates,
    what_if,
)
from tests.insights.test_funnel import STAGES, _changes


@pytest.fixture(scope="module")
def rates() -> pd.DataFrame:
    return stage_win_rates(_changes(), STAGES, prior_weight=2)


def _opportunities() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "opportunity_id": [10, 11, 12, 13, 14, 15],
            "stage": ["lead", "qualified", "proposal", "proposal", "won", "lead"],
            "amount": [1000.0, 2000.0, 3000.0, 4000.0, 5000.0, 800.0],
            "expected_close_date": [None, "2024-03-10", "2024-03-20", None, None, "2024-02-01"],
            "stage_entered_at": [
                "2024-02-25",
                "2024-02-20",
                "2024-02-28",
                "2024-02-01",
                None,
                "2024-01-15",
            ],
            "forecast_category": [None, None, None, None, None, "omitted"],
        }
    )


@pytest.fixture(scope="module")
def base(rates: pd.DataFrame) -> PipelineForecast:
    return pipeline_forecast(
        _opportunities(),
        STAGES,
        ("2024-03-01", "2024-03-31"),
        win_rates=rates,
        as_of="2024-03-01",
        closed_won=500.0,
    )


def test_win_rates_from_history(rates: pd.DataFrame) -> None:
    # From the funnel fixture: closed deals that reached lead: A B D (A won); qualified: A D;
    # proposal: A.
    assert list(rates.loc[["lead", "qualified", "proposal"], "n"]) == [3, 2, 1]
    assert list(rates.loc[["lead", "qualified", "proposal"], "won"]) == [1, 1, 1]
    assert rates.loc["lead", "raw_rate"] == pytest.approx(1 / 3)
    # shrunk with 2 pseudo-deals at the nominal probability: (1 + 2 * 0.1) / (3 + 2)
    assert rates.loc["lead", "rate"] == pytest.approx(0.24)
    assert rates.loc["qualified", "rate"] == pytest.approx((1 + 2 * 0.3) / 4)
    assert rates.loc["proposal", "rate"] == pytest.approx((1 + 2 * 0.6) / 3)
    low, high = proportion_confint(1, 3, alpha=0.05, method="wilson")
    assert rates.loc["lead", "low"] == pytest.approx(low)
    assert rates.loc["lead", "high"] == pytest.approx(high)
    assert (rates.loc["won", "rate"], rates.loc["lost", "rate"]) == (1.0, 0.0)
    assert rates.loc["qualified", "avg_days"] == pytest.approx(17 / 3)


def test_deal_level_close_dates_and_categories(base: PipelineForecast) -> None:
    deals = base.deals.set_index("opportunity_id")
    assert 14 not in deals.index  # in a won stage
    assert base.notes == ("1 deals not in an open stage ignored",)
    # 10: lead for 5 days already (avg 2.4) -> 0 left, then qualified 17/3 + proposal 10
    # = 15.67 days -> 16 days after 1 March
    assert deals.loc[10, "close_date"] == pd.Timestamp("2024-03-17")
    assert deals.loc[11, "close_date"] == pd.Timestamp("2024-03-10")  # expected date
    # 13: proposal since 1 February, longer than the 10-day average: closes now
    assert deals.loc[13, "close_date"] == pd.Timestamp("2024-03-01")
    # 15: expected 1 February, still open: cannot close in the past
    assert deals.loc[15, "close_date"] == pd.Timestamp("2024-03-01")
    assert list(deals["p_win"].round(6)) == [0.24, 0.4, 0.733333, 0.733333, 0.24]
    assert list(deals["win_rate_n"]) == [3, 2, 1, 1, 3]
    assert list(deals["category"]) == ["pipeline", "best_case", "commit", "commit", "omitted"]
    assert deals["in_period"].all()


def test_period_totals(base: PipelineForecast) -> None:
    # in period and not omitted: 10 (1000, lead), 11 (2000), 12 (3000), 13 (4000)
    assert base.deals_in_period == 4
    assert base.weighted_stage == pytest.approx(1000 * 0.1 + 2000 * 0.3 + 7000 * 0.6)
    assert base.weighted_win_rate == pytest.approx(
        1000 * 0.24 + 2000 * 0.4 + 7000 * (1 + 2 * 0.6) / 3
    )
    assert base.commit == pytest.approx(500 + 7000)
    assert base.best_case == pytest.approx(500 + 7000 + 2000)
    assert base.pipeline == pytest.approx(500 + 7000 + 2000 + 1000)
    assert base.by_category.loc["omitted", "amount"] == pytest.approx(800.0)
    assert base.by_stage.loc["proposal", "deals"] == 2
    assert base.by_stage.loc["proposal", "n"] == 1
    assert base.totals()["closed_won"] == 500.0


def test_nominal_weighting_without_history() -> None:
    f = pipeline_forecast(
        _opportunities(), STAGES, ("2024-03-01", "2024-03-31"), as_of="2024-03-01"
    )
    deals = f.deals.set_index("opportunity_id")
    assert list(deals["p_win"]) == list(deals["p_nominal"]) == [0.1, 0.3, 0.6, 0.6, 0.1]
    # without learned durations, deals without an expected date close "now"
    assert deals.loc[10, "close_date"] == pd.Timestamp("2024-03-01")
    assert f.weighted_win_rate == pytest.approx(f.weighted_stage)


def test_deals_outside_the_period_are_not_counted(rates: pd.DataFrame) -> None:
    f = pipeline_forecast(
        _opportunities(), STAGES, ("2024-03-11", "2024-03-31"), win_rates=rates, as_of="2024-03-01"
    )
    in_period = set(f.deals.loc[f.deals["in_period"], "opportunity_id"])
    assert in_period == {10, 12}  # 17 and 20 March
    assert f.pipeline == pytest.approx(1000 + 3000)


def test_what_if_changes_the_forecast_and_nothing_else(base: PipelineForecast) -> None:
    before_totals = dict(base.totals())
    before_deals = base.deals.copy()
    changed = what_if(
        base,
        WhatIf(
            win_rate={"lead": 0.5},
            avg_deal_size={"proposal": 5000.0},
            cycle_days={"qualified": 30.0},
        ),
    )
    deals = changed.deals.set_index("opportunity_id")
    # proposal deals 3000 and 4000 (mean 3500) scaled to a mean of 5000
    assert deals.loc[12, "amount"] == pytest.approx(3000 * 5000 / 3500)
    assert deals.loc[13, "amount"] == pytest.approx(4000 * 5000 / 3500)
    # lead win rate 0.5: deal 10 becomes best case
    assert deals.loc[10, "p_win"] == 0.5
    assert deals.loc[10, "category"] == "best_case"
    # qualified takes 30 days instead of 17/3.  Deal 10 (in lead) has 30 + 10 days left
    # instead of 17/3 + 10: 24.33 days later, out of March.  Deal 11 (10 days in qualified)
    # had nothing left of the stage and now has 20 days: its expected 10 March moves to 30 March.
    assert deals.loc[10, "close_date"] == pd.Timestamp("2024-04-10")
    assert not deals.loc[10, "in_period"]
    assert deals.loc[11, "close_date"] == pd.Timestamp("2024-03-30")
    assert changed.commit == pytest.approx(500 + 10000)
    assert changed.best_case == pytest.approx(500 + 10000 + 2000)
    assert changed.overrides is not None
    # the base forecast and its inputs are untouched
    assert dict(base.totals()) == before_totals
    pd.testing.assert_frame_equal(base.deals, before_deals)
    assert base.overrides is None


def test_what_if_rejects_unknown_stages_and_bad_rates(base: PipelineForecast) -> None:
    with pytest.raises(ValueError, match="unknown stages"):
        what_if(base, WhatIf(win_rate={"nope": 0.5}))
    with pytest.raises(ValueError, match=r"0\.\.1"):
        what_if(base, WhatIf(win_rate={"lead": 1.5}))


def test_input_frame_is_not_mutated(rates: pd.DataFrame) -> None:
    opps = _opportunities()
    snapshot = opps.copy()
    pipeline_forecast(
        opps,
        STAGES,
        ("2024-03-01", "2024-03-31"),
        win_rates=rates,
        overrides=WhatIf(avg_deal_size={"lead": 1.0}),
    )
    pd.testing.assert_frame_equal(opps, snapshot)
