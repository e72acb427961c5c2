"""Lifecycle stages, health score, segmentation and next actions (no database needed)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import silhouette_score

from crm.insights.analytics.lifecycle import (
    NEXT_ACTIONS,
    STAGES,
    HealthWeights,
    LifecycleRules,
    activity_from_transactions,
    health_components,
    health_score,
    lifecycle_stage,
    recommended_actions,
    segment_customers,
    silhouette_scores,
)

NAN = float("nan")


def activity(rows: dict[str, tuple[float, ...]]) -> pd.DataFrame:
    """rows: name -> (n_orders, days_since_first, days_since_last, monetary, engagement, tickets)"""
    columns = [
        "n_orders",
        "days_since_first",
        "days_since_last",
        "monetary",
        "engagement",
        "open_tickets",
    ]
    return pd.DataFrame.from_dict(rows, orient="index", columns=columns)


# ---- lifecycle -----------------------------------------------------------------------------


def test_each_stage_on_hand_made_customers() -> None:
    frame = activity(
        {
            "prospect": (0, NAN, NAN, 0, 3, 0),
            "new": (1, 20, 20, 50, 1, 0),
            "new_two_orders": (2, 80, 5, 90, 0, 0),
            "active": (3, 150, 10, 300, 2, 0),
            "loyal": (12, 700, 15, 5000, 4, 0),
            "loyal_at_threshold": (5, 180, 90, 800, 0, 0),
            "at_risk": (3, 300, 120, 300, 0, 0),
            "loyal_but_slipping": (20, 900, 200, 9000, 0, 0),
            "lost": (2, 800, 400, 100, 0, 0),
        }
    )
    stages = lifecycle_stage(frame)
    assert stages.to_dict() == {
        "prospect": "prospect",
        "new": "new",
        "new_two_orders": "new",
        "active": "active",
        "loyal": "loyal",
        "loyal_at_threshold": "loyal",
        "at_risk": "at_risk",
        "loyal_but_slipping": "at_risk",
        "lost": "lost",
    }
    assert list(stages.cat.categories) == list(STAGES)


def test_loyal_customer_is_loyal_not_active() -> None:
    # satisfies the "active" description (recent buyer, not new) and the loyal rule
    frame = activity({"c": (6, 400, 3, 2000, 5, 0)})
    assert lifecycle_stage(frame).iloc[0] == "loyal"
    stricter = LifecycleRules(loyal_min_orders=10)
    assert lifecycle_stage(frame, stricter).iloc[0] == "active"


def test_p_alive_moves_customers_to_at_risk_and_lost() -> None:
    frame = activity({"a": (30, 400, 30, 9000, 0, 0), "b": (30, 400, 30, 9000, 0, 0)})
    frame["p_alive"] = [0.3, 0.05]
    assert lifecycle_stage(frame).tolist() == ["at_risk", "lost"]
    frame["p_alive"] = [NAN, 0.95]  # unknown P(alive) is ignored
    assert lifecycle_stage(frame).tolist() == ["loyal", "loyal"]


def test_stages_are_mutually_exclusive_and_follow_rule_order() -> None:
    rng = np.random.default_rng(11)
    n = 20_000
    orders = rng.poisson(3, n)
    first = rng.uniform(0, 1500, n)
    last = first * rng.random(n)
    frame = pd.DataFrame(
        {
            "n_orders": orders,
            "days_since_first": np.where(orders == 0, np.nan, first),
            "days_since_last": np.where(orders == 0, np.nan, last),
            "monetary": orders * 50.0,
            "engagement": 0.0,
            "open_tickets": 0.0,
            "p_alive": rng.random(n),
        }
    )
    rules = LifecycleRules()
    stages = lifecycle_stage(frame, rules).astype(str).to_numpy()
    assert set(stages) == set(STAGES)
    p = frame["p_alive"].to_numpy()
    raw = {
        "prospect": orders == 0,
        "lost": (last > rules.lost_after_days) | (p < rules.lost_p_alive),
        "at_risk": (last > rules.at_risk_after_days) | (p < rules.at_risk_p_alive),
        "loyal": (orders >= rules.loyal_min_orders) & (first >= rules.loyal_min_tenure_days),
        "new": first <= rules.new_window_days,
        "active": np.ones(n, dtype=bool),
    }
    order = ["prospect", "lost", "at_risk", "loyal", "new", "active"]
    matrix = np.column_stack([raw[s] for s in order])
    expected = np.array(order)[matrix.argmax(axis=1)]  # first true rule
    assert (stages == expected).all()
    # the raw rules overlap; the ordered stage is one and only one of them
    assert (matrix.sum(axis=1) > 1).any()


def test_rules_validate() -> None:
    with pytest.raises(ValueError):
        LifecycleRules(at_risk_after_days=400, lost_after_days=365)
    with pytest.raises(ValueError):
        LifecycleRules(at_risk_p_alive=0.05, lost_p_alive=0.1)


# ---- health --------------------------------------------------------------------------------


def test_health_score_weights_and_extremes() -> None:
    rng = np.random.default_rng(2)
    base = pd.DataFrame(
        {
            "n_orders": rng.integers(1, 20, 200),
            "days_since_first": 500.0,
            "days_since_last": rng.uniform(0, 400, 200),
            "monetary": rng.uniform(10, 1000, 200),
            "engagement": rng.integers(0, 10, 200),
            "open_tickets": 0,
        }
    )
    best = {"n_orders": 50, "days_since_first": 900.0, "days_since_last": 0.0}
    best |= {"monetary": 5000.0, "engagement": 30, "open_tickets": 0}
    never = {"n_orders": 0, "days_since_first": NAN, "days_since_last": NAN}
    never |= {"monetary": 0.0, "engagement": 0, "open_tickets": 0}
    frame = pd.concat([base, pd.DataFrame([best, never], index=["best", "never"])])
    score = health_score(frame)
    assert score["best"] == 100.0
    assert score["never"] == 15.0  # only the support component (no open tickets)
    assert score.between(0, 100).all()
    comp = health_components(frame)
    assert ((comp >= 0) & (comp <= 1)).all().all()
    half = frame.loc[["best"]].assign(days_since_last=90.0)
    assert health_components(pd.concat([frame, half.set_axis(["half"])])).loc[
        "half", "recency"
    ] == pytest.approx(0.5)
    w = HealthWeights()
    manual = 100 * (
        comp["recency"] * w.recency
        + comp["frequency"] * w.frequency
        + comp["monetary"] * w.monetary
        + comp["engagement"] * w.engagement
        + comp["support"] * w.support
    )
    np.testing.assert_allclose(score, manual, rtol=0, atol=0.05 + 1e-9)  # one decimal


def test_open_tickets_lower_health() -> None:
    frame = activity({f"t{k}": (5, 300, 10, 500, 3, k) for k in range(5)})
    score = health_score(frame)
    assert score.is_monotonic_decreasing and score.iloc[0] > score.iloc[-1]
    assert health_components(frame)["support"].tolist() == [1, 1 / 2, 1 / 3, 1 / 4, 1 / 5]


def test_health_weights_must_sum_to_one() -> None:
    with pytest.raises(ValueError):
        HealthWeights(recency=0.5)


# ---- segmentation --------------------------------------------------------------------------


def planted(n_per: int = 300, seed: int = 1) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    # days_since_last, n_orders, monetary, engagement
    centers = np.array(
        [
            [5, 25, 3000, 12],  # high value, active
            [250, 20, 2500, 1],  # high value, slipping
            [30, 4, 300, 3],  # mid
            [300, 1, 30, 0.2],  # low value, slipping
        ]
    )
    label = np.repeat(np.arange(len(centers)), n_per)
    values = centers[label] * np.exp(rng.normal(0, 0.12, (len(label), 4)))
    frame = pd.DataFrame(values, columns=["days_since_last", "n_orders", "monetary", "engagement"])
    frame["n_orders"] = np.maximum(1, frame["n_orders"].round())
    frame["days_since_first"] = frame["days_since_last"] + 200
    frame["open_tickets"] = 0
    return frame, label


def test_segmentation_recovers_planted_clusters_and_names_them() -> None:
    frame, truth = planted()
    prospects = pd.DataFrame(
        {"n_orders": [0, 0], "days_since_first": NAN, "days_since_last": NAN, "monetary": 0.0}
        | {"engagement": [1.0, 0.0], "open_tickets": 0}
    )
    frame = pd.concat([frame, prospects], ignore_index=True)
    seg = segment_customers(frame, random_state=0)
    assert 3 <= seg.k <= 8 and seg.k == 4
    assert set(seg.silhouettes) == set(range(3, 9))
    assert seg.silhouettes[4] == max(seg.silhouettes.values())
    labels = seg.labels.to_numpy()
    assert (labels[-2:] == -1).all() and (seg.names.iloc[-2:] == "no purchase yet").all()
    table = pd.crosstab(truth, labels[:-2])
    assert (table.gt(0).sum(axis=1) == 1).all()  # every planted cluster in one segment
    names = seg.names.iloc[:-2].groupby(truth).first().tolist()
    assert names[0] == "high value, active"
    assert names[1] == "high value, slipping"
    assert names[3] == "low value, slipping"
    assert len(set(seg.segment_names.values())) == seg.k
    centroid = seg.centroids.loc[labels[0]]
    assert centroid["monetary"] == pytest.approx(3000, rel=0.1)


def test_segmentation_on_subsamples_assigns_everyone() -> None:
    frame, truth = planted(n_per=500, seed=4)
    seg = segment_customers(frame, fit_sample_size=600, silhouette_sample_size=300)
    assert seg.k == 4
    assert (seg.labels >= 0).all()
    assert (pd.crosstab(truth, seg.labels.to_numpy()).gt(0).sum(axis=1) == 1).all()


def test_silhouette_scores_equal_scikit_learn() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 4))
    x[:120] += 4
    labelings = {
        3: rng.integers(0, 3, 500),
        4: np.where(x[:, 0] > 2, 0, rng.integers(1, 4, 500)),
        2: np.r_[np.zeros(499, dtype=np.int64), 1],  # a singleton cluster scores 0
    }
    ours = silhouette_scores(x, labelings, chunk_rows=64)
    for k, labels in labelings.items():
        assert ours[k] == pytest.approx(silhouette_score(x, labels), abs=1e-10)


# ---- next actions and activity frame -------------------------------------------------------


def test_recommended_actions() -> None:
    stages = pd.Series(["loyal", "at_risk", "prospect", "new"], index=list("abcd"))
    tickets = pd.Series({"a": 0, "b": 2, "c": 1})
    out = recommended_actions(stages, tickets)
    assert out.loc["a"].tolist() == [a.code for a in NEXT_ACTIONS["loyal"]]
    assert out.loc["b"].tolist() == ["resolve_open_tickets", NEXT_ACTIONS["at_risk"][0].code]
    assert out.loc["c", "primary_action"] == "qualify_lead"  # prospects have no tickets to fix
    assert out.loc["d", "primary_action"] == "onboard"
    assert set(NEXT_ACTIONS) == set(STAGES)
    with pytest.raises(ValueError):
        recommended_actions(pd.Series(["vip"]))


def test_activity_from_transactions() -> None:
    tx = pd.DataFrame(
        {
            "customer_id": [1, 1, 1, 2, 2],
            "date": pd.to_datetime(
                ["2024-01-01", "2024-01-01", "2024-03-01", "2024-02-20", "2024-05-01"]
            ),
            "amount": [10.0, 5.0, 20.0, 7.0, 99.0],
        }
    )
    out = activity_from_transactions(
        tx,
        "2024-03-31",
        customers=pd.Index([1, 2, 3]),
        engagement=pd.Series({1: 4}),
        open_tickets=pd.Series({2: 1}),
    )
    assert out["n_orders"].tolist() == [2, 1, 0]
    assert out["days_since_first"].tolist()[:2] == [90.0, 40.0]
    assert out["days_since_last"].tolist()[:2] == [30.0, 40.0]
    assert np.isnan(out.loc[3, "days_since_last"])
    assert out["monetary"].tolist() == [35.0, 7.0, 0.0]
    assert out["engagement"].tolist() == [4.0, 0.0, 0.0]
    assert out["open_tickets"].tolist() == [0.0, 1.0, 0.0]
    assert lifecycle_stage(out).tolist() == ["new", "new", "prospect"]
