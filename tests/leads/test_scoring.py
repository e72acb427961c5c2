"""The pure scoring module: rules, the calibrated model on data with a known signal, reasons."""

from __future__ import annotations

import json

import numpy as np
import pytest

from crm.sales import scoring
from crm.sales.scoring import Facts, RuleWeights


def one(**facts: object) -> Facts:
    return Facts.from_rows([facts])


def test_score_is_the_probability_times_100_rounded_not_truncated() -> None:
    assert scoring.to_score(0.737).tolist() == 74
    assert scoring.to_score(np.array([0.0, 0.004, 0.005, 0.494, 0.5, 0.999, 1.0])).tolist() == [
        0,
        0,
        1,
        49,
        50,
        100,
        100,
    ]
    # The source design truncated the probability first: int(0.737) * 100 == 0.
    assert scoring.to_score(0.737) != int(0.737) * 100


def test_bands_follow_the_thresholds() -> None:
    assert [scoring.band(s) for s in (100, 70, 69, 40, 39, 0)] == [
        "high",
        "high",
        "medium",
        "medium",
        "low",
        "low",
    ]
    assert scoring.band(55, high=50, medium=20) == "high"


def test_rules_score_a_complete_engaged_referral_high_with_its_reasons() -> None:
    facts = Facts.from_rows(
        [
            {
                "source": "Referral",
                "has_email": True,
                "has_phone": True,
                "has_company": True,
                "has_title": True,
                "has_region": True,
                "inquiries": 3,
                "contact_count": 5,
                "days_since_interaction": 0,
            },
            {"source": "cold", "inquiries": 1, "days_since_interaction": 60},
        ]
    )
    result = scoring.score_with_rules(facts, RuleWeights())
    assert result.score.tolist() == [100, 13]  # 6 + 0 + 6.7 + 0.8 + 0 points
    hot = result.reasons(0)
    assert [r.code for r in hot] == ["source", "completeness", "engagement"]
    assert [round(r.impact, 1) for r in hot] == [15.0, 12.5, 10.0]
    assert hot[0].value == "referral"
    cold = result.reasons(1)
    assert len(cold) == 3 and all(r.impact < 0 for r in cold)


def test_tenant_weights_change_the_score() -> None:
    facts = one(source="ads", has_email=True, has_phone=True, inquiries=1)
    default = scoring.score_with_rules(facts, RuleWeights()).score[0]
    only_completeness = RuleWeights(weights={"completeness": 1.0})
    assert scoring.score_with_rules(facts, only_completeness).score[0] == 40  # 2 of 5 fields
    assert default != 40
    cheap_ads = RuleWeights(weights={"source": 1.0}, source_values={"ads": 0.9})
    assert scoring.score_with_rules(facts, cheap_ads).score[0] == 90


@pytest.mark.parametrize(
    "weights",
    [{"bogus": 1.0}, {"source": -1.0}, {"source": 0.0}],
)
def test_bad_weights_are_refused(weights: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RuleWeights(weights=weights)


def test_model_on_a_known_signal_beats_auc_08_and_is_reported_beside_the_rules() -> None:
    facts, converted, order = scoring.synthetic_leads(1200, seed=0)
    result = scoring.train_model(facts, converted, order, RuleWeights())
    print(f"holdout AUC: model {result.model.auc:.3f}, rules {result.rules.auc:.3f}")
    assert result.model.auc >= 0.8
    assert result.rules.auc < result.model.auc and result.use_model
    assert 0.0 < result.model.brier < result.rules.brier
    assert (result.n_train, result.n_holdout) == (900, 300)
    # Time-ordered split: the holdout is the last quarter.
    assert result.holdout_from == 900.0
    # Calibrated: the reliability table covers the holdout and its error is small.
    assert sum(b["count"] for b in result.model.calibration) == 300
    assert result.model.expected_calibration_error < 0.1
    # The parameters survive JSON (they are stored in the database).
    params = scoring.ModelParams.from_dict(json.loads(json.dumps(result.params.as_dict())))
    again = scoring.score_with_model(params, facts)
    assert np.allclose(again.probability, scoring.model_probability(result.params, facts))


def test_rules_are_kept_when_the_model_is_not_better() -> None:
    # Labels that follow the rules' own probability: the model cannot beat them.
    facts, _converted, order = scoring.synthetic_leads(600, seed=3)
    rules = scoring.rule_probability(facts, RuleWeights())
    labels = (rules > np.median(rules)).astype(int)
    result = scoring.train_model(facts, labels, order, RuleWeights())
    assert result.rules.auc == 1.0
    assert result.use_model is False


def test_exported_parameters_reproduce_scikit_learn_exactly() -> None:
    for n in (400, 1000):
        f, y, _ = scoring.synthetic_leads(n, seed=5)
        sources = ["event", "ads", "webform"]
        x = scoring.encode(f, sources)[2]
        fitted = scoring.fit_calibrated(x, y)
        params = scoring.ModelParams(
            sources, [], [], [0.0] * x.shape[1], scoring.export_calibrated(fitted)
        )
        kinds = {m["calibrator"]["kind"] for m in params.members}
        assert kinds == ({"sigmoid"} if n < 1000 else {"isotonic"})
        assert np.allclose(
            scoring.probability_of_matrix(params, x), fitted.predict_proba(x)[:, 1], atol=1e-9
        )


def test_model_reasons_name_the_signal() -> None:
    facts, converted, order = scoring.synthetic_leads(1200, seed=1)
    result = scoring.train_model(facts, converted, order, RuleWeights())
    hot = one(source="event", has_phone=True, has_email=True, message_length=400, inquiries=2)
    cold = one(source="ads", inquiries=1)
    scored = scoring.score_with_model(
        result.params,
        Facts.from_rows(
            [
                {**{k: getattr(hot, k)[0] for k in hot.__dataclass_fields__}},
                {**{k: getattr(cold, k)[0] for k in cold.__dataclass_fields__}},
            ]
        ),
    )
    assert scored.score[0] > 70 > 30 > scored.score[1]
    codes = [r.code for r in scored.reasons(0)]
    assert "source" in codes and "completeness" in codes
    assert all(r.impact > 0 for r in scored.reasons(0) if r.code in {"source", "completeness"})
    assert any(r.code == "source" and r.impact < 0 for r in scored.reasons(1))


def test_too_little_data_or_one_class_cannot_train() -> None:
    facts, converted, order = scoring.synthetic_leads(30, seed=0)
    with pytest.raises(scoring.TrainingError):
        scoring.train_model(facts, converted, order, RuleWeights())
    facts, _converted, order = scoring.synthetic_leads(300, seed=0)
    with pytest.raises(scoring.TrainingError):
        scoring.train_model(facts, np.ones(300, dtype=int), order, RuleWeights())


def test_empty_input_scores_nothing() -> None:
    empty = Facts.from_rows([])
    assert len(scoring.score_with_rules(empty, RuleWeights())) == 0
