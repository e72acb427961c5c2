"""Supervised churn on the public telecom data set (mlc_churn), no database needed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crm.insights.analytics.churn import (
    ChurnResult,
    blend_with_p_alive,
    fit_churn_model,
    single_feature_baseline,
)
from tests.data_paths import DATA

MLC = DATA / "churn" / "mlc_churn.csv"


@pytest.fixture(scope="module")
def mlc() -> tuple[pd.DataFrame, pd.Series]:
    frame = pd.read_csv(MLC, index_col="rownames")
    labels = frame.pop("churn")
    return frame, labels


@pytest.fixture(scope="module")
def hgb(mlc: tuple[pd.DataFrame, pd.Series]) -> ChurnResult:
    features, labels = mlc
    return fit_churn_model(features, labels, model="hgb", random_state=0)


def test_model_beats_constant_and_best_single_feature(
    mlc: tuple[pd.DataFrame, pd.Series], hgb: ChurnResult
) -> None:
    features, labels = mlc
    assert len(features) == 5000 and int((labels == "yes").sum()) == 707
    assert hgb.n_train == 3750 and hgb.n_test == 1250
    assert hgb.constant_auc == 0.5
    assert hgb.auc > hgb.baseline_auc > 0.5
    assert hgb.auc > hgb.baseline_auc + 0.1  # a real margin, not noise
    assert hgb.baseline_auc == max(hgb.baseline_aucs.values())
    assert set(hgb.baseline_aucs) == set(features.columns)
    # calibrated probabilities beat the constant prevalence forecast on Brier score
    prevalence = hgb.churn_rate_test
    assert hgb.brier < prevalence * (1 - prevalence)
    assert hgb.test_probabilities.min() > 0 and hgb.test_probabilities.max() < 1


def test_stratified_holdout_keeps_churn_rate(
    mlc: tuple[pd.DataFrame, pd.Series], hgb: ChurnResult
) -> None:
    _, labels = mlc
    overall = float((labels == "yes").mean())
    assert abs(hgb.churn_rate_test - overall) < 0.005
    held = labels.loc[hgb.test_index]
    assert float((held == "yes").mean()) == pytest.approx(hgb.churn_rate_test)


def test_reasons_are_the_measured_probability_drops(
    mlc: tuple[pd.DataFrame, pd.Series], hgb: ChurnResult
) -> None:
    features, _ = mlc
    reasons = hgb.reasons
    assert list(reasons.columns) == [
        "reason_1",
        "impact_1",
        "reason_2",
        "impact_2",
        "reason_3",
        "impact_3",
    ]
    assert reasons.index.equals(hgb.test_index)
    impacts = reasons[["impact_1", "impact_2", "impact_3"]]
    values = impacts.to_numpy(dtype=float)
    assert (values[~np.isnan(values)] >= 0.01).all()
    names = reasons[["reason_1", "reason_2", "reason_3"]].isna().to_numpy()
    assert (names == np.isnan(values)).all()  # a reason has an impact and vice versa
    ordered = impacts.fillna(-1).to_numpy()
    assert (np.diff(ordered, axis=1) <= 1e-12).all()  # sorted, NaN only at the end
    # recompute the first reason of the riskiest holdout customers by hand
    model = hgb.model
    risky = reasons.index[np.argsort(-hgb.test_probabilities)[:5]]
    for customer in risky:
        row = features.loc[[customer]]
        feature = reasons.loc[customer, "reason_1"]
        assert isinstance(feature, str)
        reset = row.copy()
        reset[feature] = model.reference[feature]
        drop = model.predict_proba(row)[0] - model.predict_proba(reset)[0]
        assert drop == pytest.approx(reasons.loc[customer, "impact_1"], abs=1e-9)
        others = model.reason_impacts(row).iloc[0]
        assert others.max() == pytest.approx(drop, abs=1e-9)


def test_reasons_point_at_unusual_values(
    mlc: tuple[pd.DataFrame, pd.Series], hgb: ChurnResult
) -> None:
    features, _ = mlc
    held = features.loc[hgb.test_index]
    calls = hgb.reasons["reason_1"] == "number_customer_service_calls"
    assert calls.sum() > 10
    # service calls are a reason when there were many of them (median is 1)
    assert held.loc[calls, "number_customer_service_calls"].min() >= 3
    plan = (hgb.reasons[["reason_1", "reason_2", "reason_3"]] == "international_plan").any(axis=1)
    assert (held.loc[plan, "international_plan"] == "yes").all()


def test_time_ordered_split_holds_out_the_latest_rows(
    mlc: tuple[pd.DataFrame, pd.Series],
) -> None:
    features, labels = mlc
    rng = np.random.default_rng(5)
    ordered = features.assign(snapshot=rng.permutation(len(features)))
    result = fit_churn_model(ordered, labels, order_col="snapshot", test_size=0.2)
    assert result.n_test == 1000
    held = ordered.loc[result.test_index, "snapshot"]
    assert held.min() == len(features) - 1000  # exactly the latest 20%
    assert "snapshot" not in result.model.feature_names
    assert result.auc > result.baseline_auc > 0.5


def test_logistic_model_also_beats_baseline(mlc: tuple[pd.DataFrame, pd.Series]) -> None:
    features, labels = mlc
    result = fit_churn_model(features, labels, model="logistic")
    assert result.auc > result.baseline_auc > 0.5
    assert result.model.kind == "logistic"


def test_single_feature_baseline_learns_direction_on_training_rows() -> None:
    rng = np.random.default_rng(0)
    n = 400
    y = rng.integers(0, 2, n)
    frame = pd.DataFrame(
        {
            "tenure": np.where(y == 1, 1.0, 10.0) + rng.random(n),  # churners: short tenure
            "noise": rng.random(n),
            "plan": np.where(y == 1, "basic", "pro"),
        }
    )
    train, test = frame.iloc[:300], frame.iloc[300:]
    aucs = single_feature_baseline(train, y[:300], test, y[300:], ("plan",))
    assert aucs["tenure"] == 1.0  # negative direction learned from the training rows
    assert aucs["plan"] == 1.0
    assert 0.3 < aucs["noise"] < 0.7


def test_labels_must_have_both_classes_and_be_binary() -> None:
    frame = pd.DataFrame({"a": np.arange(40.0)})
    with pytest.raises(ValueError):
        fit_churn_model(frame, np.full(40, 2))
    with pytest.raises(ValueError):
        fit_churn_model(frame, ["maybe"] * 40)


def test_blend_with_p_alive() -> None:
    blended = blend_with_p_alive([0.2, 0.9], [0.5, 0.1], 0.75)
    np.testing.assert_allclose(blended, [0.75 * 0.2 + 0.25 * 0.5, 0.75 * 0.9 + 0.25 * 0.9])
    np.testing.assert_allclose(blend_with_p_alive([0.3], [0.2], 1.0), [0.3])
    np.testing.assert_allclose(blend_with_p_alive([0.3], [0.2], 0.0), [0.8])
    with pytest.raises(ValueError):
        blend_with_p_alive([0.3], [0.2], 1.5)
    with pytest.raises(ValueError):
        blend_with_p_alive([1.3], [0.2], 0.5)
