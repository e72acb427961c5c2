"""BG/NBD, Gamma-Gamma and CLV validated against the published CDNOW results.

Reference figures: Fader, Hardie & Lee (2005), the Gamma-Gamma note by Fader & Hardie and
Hardie's spreadsheets, as listed in ``shared/data/README.md``.  No database or Django needed.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import special

from crm.insights.analytics import clv
from crm.insights.analytics.rfm import holdout_purchase_counts, summary_data_from_transactions
from tests.data_paths import DATA

CDNOW = DATA / "cdnow"

CALIBRATION_END = "1997-09-30"


def rel_close(actual: float, expected: float, rel: float = 0.005) -> bool:
    return abs(actual - expected) <= rel * abs(expected)


@pytest.fixture(scope="module")
def transactions() -> pd.DataFrame:
    raw = pd.read_csv(
        CDNOW / "CDNOW_sample.txt",
        sep=r"\s+",
        header=None,
        names=["customer_id", "sample_id", "date", "cds", "amount"],
        dtype={"date": str},
    )
    raw["date"] = pd.to_datetime(raw["date"], format="%Y%m%d")
    return raw


@pytest.fixture(scope="module")
def summary_file() -> pd.DataFrame:
    return pd.read_csv(CDNOW / "cdnow_customers_summary.csv").set_index("ID")


@pytest.fixture(scope="module")
def spend_file() -> pd.DataFrame:
    return pd.read_csv(CDNOW / "cdnow_customers_summary_with_transactions.csv").set_index("ID")


@pytest.fixture(scope="module")
def rebuilt(transactions: pd.DataFrame) -> pd.DataFrame:
    """Summary rebuilt from the raw purchases, re-indexed by the file's ID (the sample id)."""
    summary = summary_data_from_transactions(transactions, CALIBRATION_END, freq_days=7)
    sample_id = transactions.groupby("customer_id")["sample_id"].first()
    return summary.set_index(sample_id.reindex(summary.index).to_numpy()).sort_index()


@pytest.fixture(scope="module")
def bgnbd(summary_file: pd.DataFrame) -> clv.BGNBDParams:
    return clv.fit_bgnbd(summary_file["frequency"], summary_file["recency"], summary_file["T"])


@pytest.fixture(scope="module")
def gamma_gamma(spend_file: pd.DataFrame) -> clv.GammaGammaParams:
    repeat = spend_file[spend_file["x"] > 0]
    return clv.fit_gamma_gamma(repeat["x"], repeat["zbar"])


# ---- summary -------------------------------------------------------------------------------


def test_customers_are_keyed_by_master_id_one_to_one(transactions: pd.DataFrame) -> None:
    pairs = transactions[["customer_id", "sample_id"]].drop_duplicates()
    assert len(pairs) == pairs["customer_id"].nunique() == pairs["sample_id"].nunique() == 2357


def test_rebuilt_summary_equals_published_file(
    rebuilt: pd.DataFrame, summary_file: pd.DataFrame
) -> None:
    assert rebuilt.index.tolist() == summary_file.index.tolist()
    assert (rebuilt["frequency"].to_numpy() == summary_file["frequency"].to_numpy()).all()
    for column in ("recency", "T"):
        diff = np.abs(rebuilt[column].round(2).to_numpy() - summary_file[column].to_numpy())
        assert diff.max() <= 1e-6, column
    # the unrounded values are days / 7 exactly
    days = rebuilt["T"].to_numpy() * 7
    assert np.allclose(days, np.round(days), atol=1e-9)


def test_rebuilt_monetary_value_is_mean_repeat_spend(
    rebuilt: pd.DataFrame, spend_file: pd.DataFrame
) -> None:
    # zbar is published rounded to cents
    diff = np.abs(rebuilt["monetary_value"].to_numpy() - spend_file["zbar"].to_numpy())
    assert diff.max() <= 0.005 + 1e-9
    assert (rebuilt.loc[rebuilt["frequency"] == 0, "monetary_value"] == 0).all()


def test_holdout_repeat_purchases_match_published_count(transactions: pd.DataFrame) -> None:
    counts = holdout_purchase_counts(transactions, CALIBRATION_END, "1998-06-30")
    assert len(counts) == 2357
    assert int(counts.sum()) == 1882


# ---- BG/NBD --------------------------------------------------------------------------------


def test_bgnbd_parameters_match_published(bgnbd: clv.BGNBDParams) -> None:
    assert bgnbd.converged
    assert bgnbd.n_customers == 2357
    for actual, expected in zip(
        (bgnbd.r, bgnbd.alpha, bgnbd.a, bgnbd.b), (0.243, 4.414, 0.793, 2.426), strict=True
    ):
        assert rel_close(actual, expected), (actual, expected)
    assert abs(bgnbd.log_likelihood - (-9582.4)) <= 0.5


def test_bgnbd_fit_on_rebuilt_summary_matches_too(rebuilt: pd.DataFrame) -> None:
    params = clv.fit_bgnbd(rebuilt["frequency"], rebuilt["recency"], rebuilt["T"])
    for actual, expected in zip(
        (params.r, params.alpha, params.a, params.b), (0.243, 4.414, 0.793, 2.426), strict=True
    ):
        assert rel_close(actual, expected), (actual, expected)
    assert abs(params.log_likelihood - (-9582.4)) <= 0.5


def test_bgnbd_is_a_maximum(bgnbd: clv.BGNBDParams, summary_file: pd.DataFrame) -> None:
    args = (summary_file["frequency"], summary_file["recency"], summary_file["T"])
    best = clv.bgnbd_log_likelihood(bgnbd, *args).sum()
    assert best == pytest.approx(bgnbd.log_likelihood, abs=1e-8)
    base = np.array([bgnbd.r, bgnbd.alpha, bgnbd.a, bgnbd.b])
    for j in range(4):
        for step in (0.99, 1.01):
            moved = base.copy()
            moved[j] *= step
            assert clv.bgnbd_log_likelihood(tuple(moved), *args).sum() < best


def test_bgnbd_log_likelihood_matches_textbook_formula(bgnbd: clv.BGNBDParams) -> None:
    r, alpha, a, b = bgnbd.r, bgnbd.alpha, bgnbd.a, bgnbd.b
    cases = [(0, 0.0, 38.86), (2, 30.43, 38.86), (7, 29.43, 38.86), (1, 1.71, 27.0)]
    got = clv.bgnbd_log_likelihood(bgnbd, *map(np.array, zip(*cases, strict=True)))
    for (x, t_x, big_t), value in zip(cases, got, strict=True):
        beta = special.beta
        common = math.gamma(r + x) * alpha**r / math.gamma(r)
        like = beta(a, b + x) / beta(a, b) * common / (alpha + big_t) ** (r + x)
        if x > 0:
            like += beta(a + 1, b + x - 1) / beta(a, b) * common / (alpha + t_x) ** (r + x)
        assert value == pytest.approx(math.log(like), rel=1e-12)


def test_bgnbd_fit_uses_weights_for_identical_rows(summary_file: pd.DataFrame) -> None:
    doubled = pd.concat([summary_file, summary_file])
    single = clv.fit_bgnbd(summary_file["frequency"], summary_file["recency"], summary_file["T"])
    double = clv.fit_bgnbd(doubled["frequency"], doubled["recency"], doubled["T"])
    assert double.r == pytest.approx(single.r, rel=1e-6)
    assert double.b == pytest.approx(single.b, rel=1e-5)
    assert double.log_likelihood == pytest.approx(2 * single.log_likelihood, rel=1e-9)


def test_conditional_expectation_published_example(bgnbd: clv.BGNBDParams) -> None:
    value = clv.bgnbd_conditional_expected_purchases(bgnbd, 39, 2, 30.43, 38.86)
    assert abs(float(value) - 1.226) <= 0.002


def test_new_customer_expectations_published(bgnbd: clv.BGNBDParams) -> None:
    t = [0.1429, 1, 3, 31.8571, 32, 78]
    expected = [0.0078, 0.0532, 0.1506, 1.0405, 1.0437, 1.8576]
    got = clv.bgnbd_expected_purchases(bgnbd, t)
    assert np.abs(got - np.array(expected)).max() <= 0.0005


def test_euler_transformed_hypergeometric_equals_textbook(bgnbd: clv.BGNBDParams) -> None:
    r, alpha, a, b = bgnbd.r, bgnbd.alpha, bgnbd.a, bgnbd.b
    x = np.array([0.0, 1, 2, 5, 10])
    t_x = np.array([0.0, 10, 30.43, 20, 35])
    big_t = np.full(5, 38.86)
    t = 39.0
    z = t / (alpha + big_t + t)
    hyp = special.hyp2f1(r + x, b + x, a + b + x - 1, z)
    decay = ((alpha + big_t) / (alpha + big_t + t)) ** (r + x)
    numerator = (a + b + x - 1) / (a - 1) * (1 - decay * hyp)
    denominator = 1 + (x > 0) * a / (b + x - 1) * ((alpha + big_t) / (alpha + t_x)) ** (r + x)
    got = clv.bgnbd_conditional_expected_purchases(bgnbd, t, x, t_x, big_t)
    np.testing.assert_allclose(got, numerator / denominator, rtol=1e-9)
    new = (
        (a + b - 1)
        / (a - 1)
        * (1 - (alpha / (alpha + t)) ** r * special.hyp2f1(r, b, a + b - 1, t / (alpha + t)))
    )
    assert float(clv.bgnbd_expected_purchases(bgnbd, t)) == pytest.approx(new, rel=1e-10)


def test_heavy_buyers_stay_finite(bgnbd: clv.BGNBDParams) -> None:
    x = np.array([300.0, 1000.0, 1000.0])
    t_x = np.array([38.8, 38.8, 5.0])
    got = clv.bgnbd_conditional_expected_purchases(bgnbd, 39, x, t_x, 38.86)
    assert np.isfinite(got).all()
    assert got[1] > got[0] > 100  # still buying at ~ x / T per week
    assert got[2] < 1e-6  # long silent after a burst: dead
    alive = clv.bgnbd_p_alive(bgnbd, x, t_x, 38.86)
    assert np.isfinite(alive).all() and alive[2] < 1e-6


def test_p_alive(bgnbd: clv.BGNBDParams) -> None:
    r, alpha, a, b = bgnbd.r, bgnbd.alpha, bgnbd.a, bgnbd.b
    assert float(clv.bgnbd_p_alive(bgnbd, 0, 0, 38.86)) == 1.0
    x, t_x, big_t = 2, 30.43, 38.86
    expected = 1 / (1 + a / (b + x - 1) * ((alpha + big_t) / (alpha + t_x)) ** (r + x))
    assert float(clv.bgnbd_p_alive(bgnbd, x, t_x, big_t)) == pytest.approx(expected, rel=1e-12)
    # the longer the silence, the lower P(alive)
    silence = clv.bgnbd_p_alive(bgnbd, 3, 10.0, np.array([10.0, 20, 30, 40]))
    assert (np.diff(silence) < 0).all()


def test_invalid_summary_rejected() -> None:
    with pytest.raises(ValueError):
        clv.fit_bgnbd([1, 2], [5.0, 50.0], [10.0, 40.0])  # t_x > T
    with pytest.raises(ValueError):
        clv.fit_bgnbd([0], [3.0], [10.0])  # no repeat but t_x > 0


def test_penalizer_shrinks_parameters(summary_file: pd.DataFrame) -> None:
    args = (summary_file["frequency"], summary_file["recency"], summary_file["T"])
    plain = clv.fit_bgnbd(*args)
    shrunk = clv.fit_bgnbd(*args, penalizer=0.01)
    assert shrunk.alpha < plain.alpha and shrunk.b < plain.b
    assert shrunk.log_likelihood < plain.log_likelihood


# ---- Gamma-Gamma ---------------------------------------------------------------------------


def test_gamma_gamma_parameters_match_published(gamma_gamma: clv.GammaGammaParams) -> None:
    assert gamma_gamma.converged
    assert gamma_gamma.n_customers == 946
    for actual, expected in zip(
        (gamma_gamma.p, gamma_gamma.q, gamma_gamma.v), (6.25, 3.74, 15.44), strict=True
    ):
        assert rel_close(actual, expected), (actual, expected)


def test_gamma_gamma_ignores_non_repeat_rows(
    spend_file: pd.DataFrame, gamma_gamma: clv.GammaGammaParams
) -> None:
    whole = clv.fit_gamma_gamma(spend_file["x"], spend_file["zbar"])
    assert whole.n_customers == 946
    assert whole.p == pytest.approx(gamma_gamma.p, rel=1e-9)


def test_gamma_gamma_log_likelihood_matches_textbook(gamma_gamma: clv.GammaGammaParams) -> None:
    p, q, v = gamma_gamma.p, gamma_gamma.q, gamma_gamma.v
    x, zbar = 3.0, 27.5
    # density of the mean of x Gamma(p, nu) spends, mixed over nu ~ Gamma(q, v)
    expected = (
        math.lgamma(p * x + q)
        - math.lgamma(p * x)
        - math.lgamma(q)
        + q * math.log(v)
        + (p * x - 1) * math.log(zbar)
        + p * x * math.log(x)
        - (p * x + q) * math.log(x * zbar + v)
    )
    got = clv.gamma_gamma_log_likelihood(gamma_gamma, [x], [zbar])[0]
    assert got == pytest.approx(expected, rel=1e-12)


def test_expected_average_spend_first_ten_customers(
    spend_file: pd.DataFrame, gamma_gamma: clv.GammaGammaParams
) -> None:
    head = spend_file.iloc[:10]
    got = clv.gamma_gamma_expected_spend(gamma_gamma, head["x"], head["zbar"])
    expected = [24.65, 18.91, 35.17, 35.17, 35.17, 71.46, 18.91, 35.17, 27.28, 35.17]
    assert np.abs(got - np.array(expected)).max() <= 0.05
    assert got[2] == pytest.approx(gamma_gamma.population_mean_spend, rel=1e-12)


# ---- CLV -----------------------------------------------------------------------------------


def test_clv_is_discounted_sum_of_monthly_purchases_times_spend(
    bgnbd: clv.BGNBDParams, gamma_gamma: clv.GammaGammaParams, spend_file: pd.DataFrame
) -> None:
    head = spend_file.iloc[:25]
    args = (head["x"], head["t_x"], head["T"], head["zbar"])
    got = clv.customer_lifetime_value(
        bgnbd, gamma_gamma, *args, months=6, monthly_discount_rate=0.02, units_per_month=4.345
    )
    spend = clv.gamma_gamma_expected_spend(gamma_gamma, head["x"], head["zbar"])
    expected = np.zeros(len(head))
    previous = np.zeros(len(head))
    for month in range(1, 7):
        cumulative = clv.bgnbd_conditional_expected_purchases(
            bgnbd, month * 4.345, head["x"], head["t_x"], head["T"]
        )
        expected += (cumulative - previous) * spend / 1.02**month
        previous = cumulative
    np.testing.assert_allclose(got, expected, rtol=1e-10)


def test_clv_without_discount_is_expected_purchases_times_spend(
    bgnbd: clv.BGNBDParams, gamma_gamma: clv.GammaGammaParams, spend_file: pd.DataFrame
) -> None:
    data = spend_file
    args = (data["x"], data["t_x"], data["T"], data["zbar"])
    undiscounted = clv.customer_lifetime_value(
        bgnbd, gamma_gamma, *args, months=12, monthly_discount_rate=0.0
    )
    horizon = 12 * clv.DAYS_PER_MONTH / 7
    purchases = clv.bgnbd_conditional_expected_purchases(
        bgnbd, horizon, data["x"], data["t_x"], data["T"]
    )
    spend = clv.gamma_gamma_expected_spend(gamma_gamma, data["x"], data["zbar"])
    np.testing.assert_allclose(undiscounted, purchases * spend, rtol=1e-10)
    discounted = clv.customer_lifetime_value(bgnbd, gamma_gamma, *args, months=12)
    assert (discounted < undiscounted).all() and (discounted > 0).all()
    longer = clv.customer_lifetime_value(bgnbd, gamma_gamma, *args, months=24)
    assert (longer > discounted).all()


def test_expectations_are_continuous_through_a_equal_one() -> None:
    values = [
        float(clv.bgnbd_conditional_expected_purchases((0.24, 4.4, a, 2.4), 39, 2, 30.0, 38.0))
        for a in (1 - 1e-6, 1.0, 1 + 1e-6)
    ]
    assert np.isfinite(values).all()
    assert values[0] > values[1] > values[2]
    new = [float(clv.bgnbd_expected_purchases((0.24, 4.4, a, 2.4), 39.0)) for a in (1 - 1e-6, 1.0)]
    assert new[1] == pytest.approx(new[0], rel=1e-5)
