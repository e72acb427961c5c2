"""Supervised churn model with an honest holdout evaluation and per-customer reasons.

Pure pandas/scikit-learn: no Django imports.

:func:`fit_churn_model` takes one row per customer (features) and a binary label (1 = churned):

* **Split.**  With ``order_col`` (e.g. the snapshot date or signup date) the rows are sorted by it
  and the *last* ``test_size`` fraction is the holdout -- the model is always evaluated on
  customers later than the ones it learned from.  Without it, a stratified random split
  (``random_state``) is used.  ``order_col`` is never a feature.
* **Model.**  ``"hgb"`` (default): ``HistGradientBoostingClassifier`` with native categorical
  handling; ``"logistic"``: one-hot + standardised ``LogisticRegression``.  Either is wrapped in
  ``CalibratedClassifierCV`` (sigmoid / Platt, 3 folds), so the probabilities can be blended
  with BG/NBD's P(alive) and shown to users.  Sigmoid rather than isotonic: isotonic is a step
  function, which makes the per-feature deltas below jump between plateaus.
* **Metrics on the holdout.**  ROC AUC and Brier score of the calibrated probabilities; the AUC
  of a constant (0.5) and the best *single-feature* baseline: every raw feature on its own, a
  numeric one as its value with the direction learned on the training rows, a categorical one as
  its training churn rate per category; the highest holdout AUC among them is reported (the
  baseline is given the benefit of the doubt).
* **Reasons.**  For each customer and feature, the drop in predicted churn probability when that
  feature is reset to a typical value (training median for numbers, most frequent category
  otherwise), everything else unchanged.  The three largest positive drops are the customer's
  top reasons ("this is what pushes the risk up"); drops below ``min_impact`` (1 percentage
  point) are not reasons, so a low-risk customer may have none.  This is model-agnostic,
  measured on the real calibrated model, and explained in the user's units.

:func:`blend_with_p_alive` mixes the supervised probability with ``1 - P(alive)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler
from threadpoolctl import threadpool_limits

__all__ = [
    "ChurnModel",
    "ChurnResult",
    "blend_with_p_alive",
    "fit_churn_model",
    "single_feature_baseline",
]

ModelKind = Literal["hgb", "logistic"]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class ChurnModel:
    """A fitted, calibrated churn model and what is needed to score and explain new rows."""

    estimator: CalibratedClassifierCV
    feature_names: tuple[str, ...]
    categorical: tuple[str, ...]
    reference: dict[str, object]
    kind: ModelKind
    n_threads: int | None = 1

    def predict_proba(self, features: pd.DataFrame) -> FloatArray:
        """Calibrated churn probability per row (OpenMP/BLAS capped at ``n_threads``)."""
        frame = _prepare(features, self.feature_names, self.categorical)
        with threadpool_limits(limits=self.n_threads):
            proba = self.estimator.predict_proba(frame)[:, 1]
        return np.asarray(proba, dtype=np.float64)

    def reason_impacts(self, features: pd.DataFrame) -> pd.DataFrame:
        """Per row and feature: probability minus probability with the feature made typical."""
        frame = _prepare(features, self.feature_names, self.categorical)
        n = len(frame)
        base = self.predict_proba(frame)
        # one stacked prediction for all features: rows [j*n:(j+1)*n] have feature j reset
        stacked = pd.concat([frame] * len(self.feature_names), ignore_index=True)
        for j, name in enumerate(self.feature_names):
            col = stacked.columns.get_loc(name)
            stacked.iloc[j * n : (j + 1) * n, col] = self.reference[name]
        reset = self.predict_proba(stacked).reshape(len(self.feature_names), n).T
        return pd.DataFrame(
            base[:, None] - reset, index=features.index, columns=list(self.feature_names)
        )

    def top_reasons(
        self, features: pd.DataFrame, k: int = 3, min_impact: float = 0.01
    ) -> pd.DataFrame:
        """Top ``k`` features pushing each row's churn risk up by at least ``min_impact``.

        Columns ``reason_1..k`` (feature name or ``None``) and ``impact_1..k`` (probability
        drop when the feature is made typical, or NaN).  Ties are broken by feature order.
        """
        impacts = self.reason_impacts(features)
        values = impacts.to_numpy()
        order = np.argsort(-values, axis=1, kind="stable")[:, :k]
        top = np.take_along_axis(values, order, axis=1)
        names = np.asarray(self.feature_names, dtype=object)[order]
        positive = top >= max(min_impact, 1e-12)
        out = pd.DataFrame(index=features.index)
        for i in range(min(k, values.shape[1])):
            reason = names[:, i].copy()
            reason[~positive[:, i]] = None
            out[f"reason_{i + 1}"] = reason
            out[f"impact_{i + 1}"] = np.where(positive[:, i], top[:, i], np.nan)
        return out


@dataclass(frozen=True)
class ChurnResult:
    """Holdout evaluation of :func:`fit_churn_model`."""

    model: ChurnModel
    auc: float
    brier: float
    constant_auc: float
    baseline_auc: float
    baseline_feature: str
    baseline_aucs: dict[str, float]
    n_train: int
    n_test: int
    churn_rate_test: float
    test_index: pd.Index
    test_probabilities: FloatArray
    reasons: pd.DataFrame = field(repr=False)


def _categorical_columns(features: pd.DataFrame) -> list[str]:
    return [
        c
        for c in features.columns
        if not pd.api.types.is_numeric_dtype(features[c]) or pd.api.types.is_bool_dtype(features[c])
    ]


def _prepare(
    features: pd.DataFrame, names: tuple[str, ...], categorical: tuple[str, ...]
) -> pd.DataFrame:
    missing = [n for n in names if n not in features.columns]
    if missing:
        raise ValueError(f"missing feature columns: {missing}")
    frame = features.loc[:, list(names)].copy()
    for c in categorical:
        frame[c] = frame[c].astype(object).where(frame[c].notna(), None).astype(str)
    numeric = [n for n in names if n not in categorical]
    frame[numeric] = frame[numeric].astype(np.float64)
    return frame


def _build_estimator(
    kind: ModelKind, names: tuple[str, ...], categorical: tuple[str, ...], random_state: int
) -> Pipeline:
    numeric = [n for n in names if n not in categorical]
    cats = list(categorical)
    if kind == "hgb":
        pre = ColumnTransformer(
            [
                (
                    "cat",
                    OrdinalEncoder(
                        handle_unknown="use_encoded_value",
                        unknown_value=np.nan,
                        encoded_missing_value=np.nan,
                        max_categories=250,
                    ),
                    cats,
                ),
                ("num", "passthrough", numeric),
            ]
        )
        model = HistGradientBoostingClassifier(
            learning_rate=0.05,
            max_iter=300,
            max_leaf_nodes=15,
            l2_regularization=1.0,
            categorical_features=np.array([True] * len(cats) + [False] * len(numeric)),
            early_stopping=False,
            random_state=random_state,
        )
        return Pipeline([("pre", pre), ("model", model)])
    if kind == "logistic":
        pre = ColumnTransformer(
            [
                ("cat", OneHotEncoder(handle_unknown="ignore"), cats),
                (
                    "num",
                    Pipeline(
                        [("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]
                    ),
                    numeric,
                ),
            ]
        )
        return Pipeline([("pre", pre), ("model", LogisticRegression(max_iter=2000, C=1.0))])
    raise ValueError(f"unknown model kind {kind!r}")


def _reference_values(train: pd.DataFrame, categorical: tuple[str, ...]) -> dict[str, object]:
    ref: dict[str, object] = {}
    for c in train.columns:
        if c in categorical:
            ref[c] = train[c].mode().iloc[0]
        else:
            ref[c] = float(train[c].median())
    return ref


def single_feature_baseline(
    train: pd.DataFrame,
    y_train: npt.NDArray[np.int_],
    test: pd.DataFrame,
    y_test: npt.NDArray[np.int_],
    categorical: tuple[str, ...],
) -> dict[str, float]:
    """Holdout AUC of every feature used alone (direction / category rates from training)."""
    aucs: dict[str, float] = {}
    prior = float(np.mean(y_train))
    for c in train.columns:
        if c in categorical:
            rates = pd.Series(y_train, index=train.index).groupby(train[c]).mean()
            score = test[c].map(rates).fillna(prior).to_numpy(dtype=np.float64)
        else:
            med = float(train[c].median())
            tr = train[c].fillna(med).to_numpy(dtype=np.float64)
            sign = 1.0 if _auc(y_train, tr) >= 0.5 else -1.0
            score = sign * test[c].fillna(med).to_numpy(dtype=np.float64)
        aucs[c] = _auc(y_test, score)
    return aucs


def _auc(y: npt.ArrayLike, score: npt.ArrayLike) -> float:
    y_arr = np.asarray(y)
    if y_arr.min() == y_arr.max():
        return float("nan")
    return float(roc_auc_score(y_arr, score))


def _labels(labels: pd.Series | npt.ArrayLike) -> npt.NDArray[np.int_]:
    series = pd.Series(np.asarray(labels))
    if series.dtype == object or pd.api.types.is_string_dtype(series):
        lowered = series.astype(str).str.strip().str.lower()
        mapping = {"yes": 1, "true": 1, "1": 1, "churn": 1, "no": 0, "false": 0, "0": 0}
        if not lowered.isin(list(mapping)).all():
            raise ValueError("string labels must be yes/no, true/false or 1/0")
        return lowered.map(mapping).to_numpy(dtype=np.int_)
    arr = series.to_numpy()
    if not np.isin(arr, (0, 1)).all():
        raise ValueError("labels must be binary 0/1")
    return arr.astype(np.int_)


def fit_churn_model(
    features: pd.DataFrame,
    labels: pd.Series | npt.ArrayLike,
    *,
    order_col: str | None = None,
    test_size: float = 0.25,
    model: ModelKind = "hgb",
    random_state: int = 0,
    n_reasons: int = 3,
    min_impact: float = 0.01,
    n_threads: int | None = 1,
) -> ChurnResult:
    """Fit a calibrated churn classifier and evaluate it on a holdout (see module docstring).

    ``features`` has one row per customer (index = customer id); ``labels`` is aligned with it
    (1/0, bool or yes/no).  Returns metrics, the fitted :class:`ChurnModel` (refit is *not*
    done: the returned model is the one evaluated) and the top reasons for the holdout rows
    (impacts below ``min_impact`` probability points are not reasons).

    ``n_threads`` caps the OpenMP/BLAS threads while fitting and explaining (default 1: this
    runs in background workers next to other processes, where oversubscribed OpenMP threads
    make gradient boosting an order of magnitude slower); ``None`` leaves the libraries' default.
    """
    y = _labels(labels)
    if len(y) != len(features):
        raise ValueError("features and labels differ in length")
    if not 0.0 < test_size < 1.0:
        raise ValueError("test_size must be in (0, 1)")
    if order_col is not None:
        order = np.argsort(features[order_col].to_numpy(), kind="stable")
        n_test = max(1, round(len(order) * test_size))
        train_pos, test_pos = order[:-n_test], order[-n_test:]
        x_all = features.drop(columns=[order_col])
    else:
        positions = np.arange(len(features))
        train_pos, test_pos = train_test_split(
            positions, test_size=test_size, random_state=random_state, stratify=y
        )
        x_all = features
    if y[train_pos].min() == y[train_pos].max() or y[test_pos].min() == y[test_pos].max():
        raise ValueError("both classes are needed in the training and the holdout rows")
    names = tuple(str(c) for c in x_all.columns)
    categorical = tuple(_categorical_columns(x_all))
    frame = _prepare(x_all, names, categorical)
    train, test = frame.iloc[train_pos], frame.iloc[test_pos]
    y_train, y_test = y[train_pos], y[test_pos]

    calibrated = CalibratedClassifierCV(
        _build_estimator(model, names, categorical, random_state), method="sigmoid", cv=3
    )
    with threadpool_limits(limits=n_threads):
        calibrated.fit(train, y_train)
    churn_model = ChurnModel(
        estimator=calibrated,
        feature_names=names,
        categorical=categorical,
        reference=_reference_values(train, categorical),
        kind=model,
        n_threads=n_threads,
    )
    prob = churn_model.predict_proba(test)
    reasons = churn_model.top_reasons(test, k=n_reasons, min_impact=min_impact)
    baseline = single_feature_baseline(train, y_train, test, y_test, categorical)
    best_feature = max(baseline, key=lambda k: -np.inf if np.isnan(baseline[k]) else baseline[k])
    return ChurnResult(
        model=churn_model,
        auc=_auc(y_test, prob),
        brier=float(brier_score_loss(y_test, prob)),
        constant_auc=_auc(y_test, np.zeros(len(y_test))),
        baseline_auc=baseline[best_feature],
        baseline_feature=best_feature,
        baseline_aucs=baseline,
        n_train=len(train),
        n_test=len(test),
        churn_rate_test=float(y_test.mean()),
        test_index=test.index,
        test_probabilities=prob,
        reasons=reasons,
    )


def blend_with_p_alive(
    model_prob: npt.ArrayLike, p_alive: npt.ArrayLike, weight: float
) -> FloatArray:
    """Churn probability blended from the supervised model and BG/NBD.

    ``weight * model_prob + (1 - weight) * (1 - p_alive)``, clipped to [0, 1]; ``weight`` = 1
    trusts the supervised model only, 0 the purchase-pattern model only.
    """
    if not 0.0 <= weight <= 1.0:
        raise ValueError("weight must be in [0, 1]")
    mp = np.asarray(model_prob, dtype=np.float64)
    pa = np.asarray(p_alive, dtype=np.float64)
    if np.any((mp < 0) | (mp > 1)) or np.any((pa < 0) | (pa > 1)):
        raise ValueError("probabilities must lie in [0, 1]")
    return np.clip(weight * mp + (1.0 - weight) * (1.0 - pa), 0.0, 1.0)
