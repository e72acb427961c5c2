"""Forecasting core: accuracy on public series, R's auto.arima on Airline, intervals, odd input.

Data: tests/data/sales (copied from ../shared/data; see its README).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest

from crm.insights.analytics.forecast import (
    MODEL_NAMES,
    ForecastResult,
    auto_arima,
    forecast,
    mase,
    mase_scale,
)
from tests.data_paths import DATA

SALES = DATA / "sales"


def _series() -> dict[str, tuple[np.ndarray, int, int]]:
    """name -> (values, season length, holdout length)."""
    out = {
        "wineind": (pd.read_csv(SALES / "wineind.csv")["sales"], 12, 12),
        "Airline": (pd.read_csv(SALES / "Airline.csv")["Passengers"], 12, 12),
        "ShampooSales": (pd.read_csv(SALES / "ShampooSales.csv")["Sales"], 12, 12),
    }
    walmart = pd.read_csv(SALES / "walmart_sales_weekly.csv")
    for key, group in walmart.groupby("id", sort=True):
        out[f"walmart {key}"] = (group.sort_values("Date")["Weekly_Sales"], 52, 13)
    return {name: (np.asarray(v, dtype=float), m, h) for name, (v, m, h) in out.items()}


@pytest.fixture(scope="module")
def holdout() -> pd.DataFrame:
    """Fit on all but the last h points of each series; MASE of each method on the holdout."""
    rows = []
    for name, (y, m, h) in _series().items():
        train, test = y[:-h], y[-h:]
        auto = forecast(train, h, season_length=m)
        snaive = forecast(train, h, season_length=m, models=["seasonal_naive"])
        rows.append(
            {
                "series": name,
                "n_train": len(train),
                "m": m,
                "h": h,
                "chosen": auto.model,
                "detail": auto.model_detail,
                "backtest_mase": auto.backtest_mase,
                "mase_auto": mase(test, auto.point, train, m),
                "mase_snaive": mase(test, snaive.point, train, m),
                "result": auto,
            }
        )
    table = pd.DataFrame(rows).set_index("series")
    table["ratio"] = table["mase_auto"] / table["mase_snaive"]
    return table


def test_there_are_ten_series(holdout: pd.DataFrame) -> None:
    assert len(holdout) == 10
    assert (holdout["m"] == 52).sum() == 7


def test_auto_selection_beats_seasonal_naive_on_the_holdout(holdout: pd.DataFrame) -> None:
    shown = holdout[["n_train", "chosen", "detail", "backtest_mase", "mase_auto", "mase_snaive"]]
    with pd.option_context("display.width", 200, "display.max_colwidth", 60):
        print("\nHoldout MASE (scaled by the in-sample seasonal naive error of the training part)")
        print(shown.round(3).to_string())
    mean_auto = holdout["mase_auto"].mean()
    mean_snaive = holdout["mase_snaive"].mean()
    print(f"mean MASE: auto {mean_auto:.3f}, seasonal naive {mean_snaive:.3f}")
    assert mean_auto <= 0.85 * mean_snaive
    assert (holdout["ratio"] <= 1.05).sum() >= 8


def test_every_candidate_is_backtested(holdout: pd.DataFrame) -> None:
    for result in holdout["result"]:
        assert set(result.candidate_mase) == set(MODEL_NAMES)
        assert result.model in MODEL_NAMES
        assert result.candidate_mase[result.model] == result.backtest_mase
        finite = {k: v for k, v in result.candidate_mase.items() if math.isfinite(v)}
        assert result.backtest_mase == min(finite.values())
        assert result.backtest_folds >= 2


def test_intervals_nest_and_contain_the_point_forecast(holdout: pd.DataFrame) -> None:
    for result in holdout["result"]:
        point = np.array(result.point)
        lo80, hi80 = np.array(result.lower_80), np.array(result.upper_80)
        lo95, hi95 = np.array(result.lower_95), np.array(result.upper_95)
        assert len(point) == result.horizon
        assert np.all(lo80 <= point) and np.all(point <= hi80)
        assert np.all((hi80 - lo80) < (hi95 - lo95))
        assert np.all(lo95 <= lo80) and np.all(hi80 <= hi95)


def test_airline_search_reproduces_r_auto_arima() -> None:
    y = pd.read_csv(SALES / "Airline.csv")["Passengers"].to_numpy(dtype=float)
    fit = auto_arima(y, 12, method="ml")
    order = fit.order
    print(f"\nAirline: {order.label()}, AIC {fit.aic:.2f}, AICc {fit.aicc:.2f}")
    assert (order.p, order.d, order.q, order.P, order.D, order.Q, order.m) == (
        2,
        1,
        1,
        0,
        1,
        0,
        12,
    )
    assert abs(fit.aic - 1017.85) < 1.0


def test_result_is_frozen() -> None:
    result = forecast(np.arange(1.0, 40.0), 3)
    assert isinstance(result, ForecastResult)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.model = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        result.candidate_mase["naive"] = 0.0  # type: ignore[index]


def test_mase_uses_the_in_sample_seasonal_naive_error() -> None:
    insample = [1.0, 2.0, 3.0, 5.0, 4.0, 6.0]
    # lag-2 differences: 2, 3, 1, 1 -> mean 1.75
    assert mase_scale(insample, 2) == pytest.approx(1.75)
    assert mase([7.0, 8.0], [6.0, 6.5], insample, 2) == pytest.approx(1.25 / 1.75)
    # constant history: lag errors are zero, falls back to the mean absolute level
    assert mase_scale([3.0, 3.0, 3.0], 1) == pytest.approx(3.0)


def test_daily_series_uses_weekly_season_from_its_index() -> None:
    rng = np.random.default_rng(7)
    days = pd.date_range("2023-01-01", periods=400, freq="D")
    weekday = np.array([0.0, 5, 8, 8, 9, 30, 25])[days.day_of_week]
    y = pd.Series(100 + weekday + rng.normal(0, 3, len(days)), index=days)
    result = forecast(y, 14)
    assert result.season_length == 7
    assert result.candidate_mase[result.model] < result.candidate_mase["naive"]
    assert result.model != "naive"
    # the weekly pattern is forecast: weekend above midweek
    point = np.array(result.point)
    weekend = point[np.isin(pd.date_range(days[-1], periods=15, freq="D")[1:].day_of_week, [5, 6])]
    assert weekend.mean() > point.mean()


def test_weekly_and_monthly_frequencies_are_recognised() -> None:
    weekly = pd.Series(
        np.arange(120.0) % 9, index=pd.date_range("2020-01-03", periods=120, freq="W-FRI")
    )
    monthly = pd.Series(np.arange(60.0) % 7, index=pd.period_range("2015-01", periods=60, freq="M"))
    assert forecast(weekly, 4).season_length == 52
    assert forecast(monthly, 4).season_length == 12
    assert forecast(list(range(30)), 4, frequency="monthly").season_length == 12


@pytest.mark.parametrize(
    ("values", "note"),
    [
        ([], "no data"),
        (None, "no finite values"),
        ("not numbers", "no finite values"),
        ([np.nan, np.nan], "no finite values"),
        ([5.0], "constant"),
        ([4.0] * 30, "constant"),
        ([0.0] * 30, "constant"),
        ([1.0, 2.0, 3.0], "only 3 observations"),
        ([1.0, 3.0, 2.0, 5.0, 4.0], "too short to backtest"),
        ([1.0, 2.0, np.nan, 4.0, 5.0, 6.0, np.inf, 8.0, 9.0, 10.0, 11.0], "interpolated"),
    ],
)
def test_odd_input_gives_a_forecast_with_a_note(values: object, note: str) -> None:
    result = forecast(values, 6, season_length=12)
    assert len(result.point) == 6
    assert all(math.isfinite(v) for v in result.point)
    assert any(note in n for n in result.notes), result.notes


def test_constant_series_forecasts_the_constant_with_zero_width() -> None:
    result = forecast([4.0] * 30, 5, season_length=12)
    assert result.model == "naive"
    assert result.point == (4.0,) * 5
    assert result.lower_95 == result.upper_95 == (4.0,) * 5


def test_zero_horizon_and_intermittent_sales() -> None:
    assert forecast(np.arange(50.0), 0).point == ()
    rng = np.random.default_rng(3)
    sparse = (rng.random(120) < 0.15) * rng.integers(1, 6, 120).astype(float)
    result = forecast(sparse, 8, season_length=12)
    assert len(result.point) == 8
    assert np.all(np.isfinite(result.lower_95))


def test_short_monthly_series_shortens_the_backtest() -> None:
    y = pd.read_csv(SALES / "ShampooSales.csv")["Sales"].to_numpy(dtype=float)[:20]
    result = forecast(y, 12, season_length=12)
    assert len(result.point) == 12
    assert result.backtest_horizon == 5
    assert result.backtest_folds >= 2
    assert any("shortened" in n for n in result.notes)
