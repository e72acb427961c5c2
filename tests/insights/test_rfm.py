"""RFM values and scores, and the lifetimes-style summary (no database needed)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crm.insights.analytics.rfm import (
    RFMThresholds,
    compute_rfm,
    fixed_scores,
    holdout_purchase_counts,
    quintile_scores,
    summary_data_from_transactions,
)
from tests.data_paths import DATA

CDNOW_SAMPLE = DATA / "cdnow" / "CDNOW_sample.txt"


@pytest.fixture
def small() -> pd.DataFrame:
    """Three customers; customer 1 buys twice on 2024-01-10 (one purchase day)."""
    rows = [
        (1, "2024-01-01", 10.0),
        (1, "2024-01-10", 5.0),
        (1, "2024-01-10", 7.0),
        (1, "2024-02-01", 20.0),
        (2, "2024-01-15", 100.0),
        (3, "2024-01-20", 1.0),
        (3, "2024-03-01", 3.0),  # after the as-of / calibration date below
    ]
    frame = pd.DataFrame(rows, columns=["customer_id", "date", "amount"])
    frame["date"] = pd.to_datetime(frame["date"])
    return frame


def test_quintiles_have_equal_bins_and_follow_values() -> None:
    rng = np.random.default_rng(3)
    values = pd.Series(rng.lognormal(3, 1, 1000))
    scores = quintile_scores(values)
    assert set(scores.unique()) == {1, 2, 3, 4, 5}
    assert scores.value_counts().tolist() == [200] * 5
    order = values.sort_values().index
    assert scores[order].is_monotonic_increasing


def test_quintiles_with_heavy_ties_still_split_evenly() -> None:
    # 70% of customers bought once: qcut on raw values would fail with duplicate edges
    values = pd.Series([1] * 700 + [2] * 200 + [5] * 100)
    scores = quintile_scores(values)
    assert scores.value_counts().sort_index().tolist() == [200] * 5
    # a higher value never scores lower
    assert scores.groupby(values).min().is_monotonic_increasing
    shared = quintile_scores(values, ties="shared")
    assert shared.groupby(values).nunique().max() == 1  # equal values, equal score
    assert shared.groupby(values).first().tolist() == [1, 4, 5]


def test_quintiles_lower_is_better_and_small_tenants() -> None:
    recency = pd.Series([3, 400, 50], index=["a", "b", "c"])
    scores = quintile_scores(recency, higher_is_better=False)
    assert scores.to_dict() == {"a": 4, "b": 1, "c": 2}
    assert quintile_scores(pd.Series([7.0])).tolist() == [1]
    assert quintile_scores(pd.Series([], dtype=float)).empty
    with_nan = quintile_scores(pd.Series([1.0, np.nan, 3.0, 2.0, 5.0]))
    assert with_nan.tolist() == [2, 1, 4, 3, 5]


def test_fixed_threshold_scores_at_the_boundaries() -> None:
    t = RFMThresholds()
    rec = fixed_scores([0, 30, 31, 90, 91, 180, 365, 366], t.recency_days, higher_is_better=False)
    assert rec.tolist() == [5, 5, 4, 4, 3, 3, 2, 1]
    freq = fixed_scores([1, 2, 3, 4, 5, 9, 10, 50], t.frequency)
    assert freq.tolist() == [1, 2, 3, 3, 4, 4, 5, 5]
    with pytest.raises(ValueError):
        RFMThresholds(frequency=(1, 1, 2, 3))
    with pytest.raises(ValueError):
        RFMThresholds(monetary=(1, 2, 3))  # type: ignore[arg-type]


def test_compute_rfm_values(small: pd.DataFrame) -> None:
    out = compute_rfm(small, as_of="2024-02-10")
    assert out.index.tolist() == [1, 2, 3]
    assert out["recency_days"].tolist() == [9, 26, 21]
    assert out["frequency"].tolist() == [3, 1, 1]  # same-day lines are one purchase
    assert out["monetary"].tolist() == [42.0, 100.0, 1.0]  # the March line is after as_of
    assert out["r_score"].between(1, 5).all()
    assert out.loc[1, "r_score"] > out.loc[3, "r_score"] > out.loc[2, "r_score"]
    assert out.loc[2, "m_score"] > out.loc[1, "m_score"] > out.loc[3, "m_score"]
    row = out.loc[1]
    assert row["rfm_code"] == f"{row['r_score']}{row['f_score']}{row['m_score']}"
    assert row["rfm_total"] == row["r_score"] + row["f_score"] + row["m_score"]


def test_compute_rfm_fixed_thresholds(small: pd.DataFrame) -> None:
    thresholds = RFMThresholds(
        recency_days=(10, 20, 30, 40), frequency=(2, 3, 4, 5), monetary=(2, 10, 50, 100)
    )
    out = compute_rfm(small, as_of="2024-02-10", thresholds=thresholds)
    assert out["r_score"].tolist() == [5, 3, 3]
    assert out["f_score"].tolist() == [3, 1, 1]
    assert out["m_score"].tolist() == [3, 5, 1]


def test_summary_from_transactions_small(small: pd.DataFrame) -> None:
    s = summary_data_from_transactions(small, "2024-02-10", freq_days=7)
    assert s["frequency"].tolist() == [2, 0, 0]
    np.testing.assert_allclose(s["recency"], [31 / 7, 0, 0])
    np.testing.assert_allclose(s["T"], [40 / 7, 26 / 7, 21 / 7])
    # repeat days: 2024-01-10 (5 + 7) and 2024-02-01 (20)
    np.testing.assert_allclose(s["monetary_value"], [16.0, 0.0, 0.0])
    daily = summary_data_from_transactions(small, "2024-02-10", freq_days=1)
    np.testing.assert_allclose(daily["T"], [40, 26, 21])


def test_holdout_counts(small: pd.DataFrame) -> None:
    counts = holdout_purchase_counts(small, "2024-01-12", "2024-03-31")
    # customers 2 and 3 first bought after the calibration end: not in the cohort
    assert counts.to_dict() == {1: 1}


def test_rfm_on_cdnow_has_equal_quintiles() -> None:
    raw = pd.read_csv(
        CDNOW_SAMPLE,
        sep=r"\s+",
        header=None,
        names=["customer_id", "sample_id", "date", "cds", "amount"],
        dtype={"date": str},
    )
    raw["date"] = pd.to_datetime(raw["date"], format="%Y%m%d")
    out = compute_rfm(raw, as_of="1998-06-30")
    assert len(out) == 2357
    for column in ("r_score", "f_score", "m_score"):
        counts = out[column].value_counts()
        assert sorted(counts.index) == [1, 2, 3, 4, 5]
        assert counts.max() - counts.min() <= 1  # 2357 / 5: bins of 471 or 472
    # more purchase days never give a lower frequency score
    assert out.groupby("frequency")["f_score"].max().is_monotonic_increasing
    assert out.groupby("frequency")["f_score"].min().is_monotonic_increasing
