"""Lead scoring 0-100 with reasons: editable rules, and a calibrated per-tenant model.

Pure numpy / scikit-learn: no Django imports. The Django side (``crm.sales.lead_scoring``)
gathers each lead's facts with selectors, calls these functions and stores the results.

* **Facts.** :class:`Facts` holds one column per fact (source, which contact fields are filled,
  inquiries received, days since the last interaction, contacts made, length of the message),
  so 100,000 leads are scored with array arithmetic, not a Python loop per lead.
* **Rules.** Five components, each in [0, 1] — source quality, completeness, engagement,
  recency and contact count — averaged with the tenant's weights: the probability of the rules.
* **Model.** Standardised logistic regression wrapped in ``CalibratedClassifierCV`` (sigmoid,
  isotonic from 1,000 training rows), trained on the *earlier* part of a time-ordered split and
  measured on the later part (the holdout): AUC, Brier score and a reliability table. The rules
  are measured on the same holdout; :func:`train_model` says to use the model only when its AUC
  is higher. The fitted ensemble is exported to plain numbers (:class:`ModelParams`, JSON), and
  :func:`model_probability` recomputes scikit-learn's calibrated probabilities exactly from them
  — no pickles in the database.
* **Score.** ``round(probability * 100)``, computed on the probability itself: the source design
  truncated the probability to an integer first, so every score was 0 or 100.
* **Reasons.** For each group of features, how many score points the lead gains or loses
  compared with the same lead at a reference value of that group (0.5 for a rule component;
  the training mean for the model). The three largest by size are the lead's reasons.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

COMPONENTS = ("source", "completeness", "engagement", "recency", "contact_count")
DEFAULT_WEIGHTS: dict[str, float] = {
    "source": 30.0,
    "completeness": 25.0,
    "engagement": 20.0,
    "recency": 15.0,
    "contact_count": 10.0,
}
# How promising each source is, 0..1; unknown sources count as DEFAULT_SOURCE_VALUE.
DEFAULT_SOURCE_VALUES: dict[str, float] = {
    "referral": 1.0,
    "partner": 0.85,
    "event": 0.7,
    "webform": 0.6,
    "api": 0.55,
    "webhook": 0.55,
    "ads": 0.4,
    "cold": 0.2,
}
DEFAULT_SOURCE_VALUE = 0.5
COMPLETENESS_FIELDS = ("has_email", "has_phone", "has_company", "has_title", "has_region")
RECENCY_HALF_LIFE_DAYS = 14.0
ENGAGEMENT_SATURATION = 3.0  # inquiries at which engagement counts as full
CONTACT_SATURATION = 5.0  # contacts at which the contact count counts as full
DEFAULT_BANDS = (70, 40)  # score >= 70 high, >= 40 medium, else low
TOP_REASONS = 3
RULE_REFERENCE = 0.5


class TrainingError(ValueError):
    """The data cannot train a model (too few rows, or one class only in a part)."""


# --- facts --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Facts:
    """What is known about each of n leads, one array per fact (all of length n)."""

    source: npt.NDArray[np.str_]
    has_email: npt.NDArray[np.bool_]
    has_phone: npt.NDArray[np.bool_]
    has_company: npt.NDArray[np.bool_]
    has_title: npt.NDArray[np.bool_]
    has_region: npt.NDArray[np.bool_]
    inquiries: FloatArray
    days_since_interaction: FloatArray
    contact_count: FloatArray
    message_length: FloatArray

    def __len__(self) -> int:
        return int(self.source.shape[0])

    @classmethod
    def from_rows(cls, rows: Iterable[Mapping[str, Any]]) -> Facts:
        """From dicts with the field names above (missing ones count as empty / zero)."""
        items = list(rows)

        def col(name: str, dtype: Any, default: Any) -> Any:
            return np.array([r.get(name, default) for r in items], dtype=dtype)

        return cls(
            source=np.array([str(r.get("source", "") or "").strip().lower() for r in items]),
            has_email=col("has_email", bool, False),
            has_phone=col("has_phone", bool, False),
            has_company=col("has_company", bool, False),
            has_title=col("has_title", bool, False),
            has_region=col("has_region", bool, False),
            inquiries=col("inquiries", np.float64, 0.0),
            days_since_interaction=col("days_since_interaction", np.float64, 0.0),
            contact_count=col("contact_count", np.float64, 0.0),
            message_length=col("message_length", np.float64, 0.0),
        )

    def take(self, index: npt.NDArray[np.int64] | slice) -> Facts:
        return Facts(**{name: getattr(self, name)[index] for name in self.__dataclass_fields__})


# --- scores, bands, reasons ---------------------------------------------------------------------


def to_score(probability: FloatArray | float) -> IntArray:
    """0-100: the probability * 100 rounded half up (never truncated before scaling)."""
    p = np.clip(np.asarray(probability, dtype=np.float64), 0.0, 1.0)
    return np.floor(p * 100.0 + 0.5).astype(np.int64)


def band(score: int, high: int = DEFAULT_BANDS[0], medium: int = DEFAULT_BANDS[1]) -> str:
    """Priority band of a score: "high", "medium" or "low"."""
    if score >= high:
        return "high"
    if score >= medium:
        return "medium"
    return "low"


@dataclass(frozen=True)
class Reason:
    """One reason for a score: which feature group, its value, and its effect in points."""

    code: str
    impact: float  # score points, signed: what this group adds compared with its reference
    value: float | str

    def as_dict(self) -> dict[str, Any]:
        value: float | str = self.value
        if isinstance(value, float):
            value = round(value, 2)
        return {"code": self.code, "impact": round(self.impact, 1), "value": value}


def _fact_values(facts: Facts, code: str) -> npt.NDArray[Any]:
    """The lead-level value shown beside a reason of group `code` (an array over leads)."""
    if code == "source":
        return facts.source
    if code == "completeness":
        return np.asarray(sum(getattr(facts, f).astype(np.int64) for f in COMPLETENESS_FIELDS))
    if code == "engagement":
        return facts.inquiries
    if code == "recency":
        return facts.days_since_interaction
    if code == "contact_count":
        return facts.contact_count
    if code == "message":
        return facts.message_length
    raise ValueError(f"unknown reason group {code!r}")


@dataclass(frozen=True)
class Scored:
    """Scores 0-100, the probabilities behind them, and each lead's top reasons.

    The reasons are kept as arrays — `top` (n, k) indexes into `codes`, `impact` (n, k) in
    points — so scoring many leads costs no Python object per lead; `reasons(i)` builds one
    lead's list.
    """

    probability: FloatArray
    score: IntArray
    codes: tuple[str, ...]
    top: npt.NDArray[np.int64]
    impact: FloatArray
    values: Mapping[str, npt.NDArray[Any]]

    def __len__(self) -> int:
        return int(self.score.shape[0])

    def reasons(self, i: int) -> list[Reason]:
        result = []
        for j, impact in zip(self.top[i], self.impact[i], strict=True):
            code = self.codes[j]
            raw = self.values[code][i]
            value: float | str = (str(raw) or "-") if code == "source" else float(raw)
            result.append(Reason(code, float(impact), value))
        return result


def _scored(
    facts: Facts, probability: FloatArray, codes: Sequence[str], impacts: FloatArray, top: int
) -> Scored:
    """Pick the `top` impacts by size per lead (a stable sort keeps code order on ties)."""
    order = np.argsort(-np.abs(impacts), axis=1, kind="stable")[:, :top]
    return Scored(
        probability=probability,
        score=to_score(probability),
        codes=tuple(codes),
        top=order.astype(np.int64),
        impact=np.take_along_axis(impacts, order, axis=1),
        values={code: _fact_values(facts, code) for code in codes},
    )


def _empty(codes: Sequence[str]) -> Scored:
    return Scored(
        np.zeros(0),
        np.zeros(0, dtype=np.int64),
        tuple(codes),
        np.zeros((0, 0), dtype=np.int64),
        np.zeros((0, 0)),
        {},
    )


# --- rules --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleWeights:
    """The tenant's editable rule weights (any non-negative numbers; only ratios matter)."""

    weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    source_values: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_SOURCE_VALUES))

    def __post_init__(self) -> None:
        unknown = set(self.weights) - set(COMPONENTS)
        if unknown:
            raise ValueError(f"unknown rule components: {', '.join(sorted(unknown))}")
        if any(float(w) < 0 for w in self.weights.values()):
            raise ValueError("rule weights must not be negative")
        if sum(float(self.weights.get(c, 0.0)) for c in COMPONENTS) <= 0:
            raise ValueError("at least one rule weight must be positive")
        if any(not 0.0 <= float(v) <= 1.0 for v in self.source_values.values()):
            raise ValueError("source values must be between 0 and 1")

    def vector(self) -> FloatArray:
        w = np.array([float(self.weights.get(c, 0.0)) for c in COMPONENTS])
        return w / w.sum()


def rule_components(facts: Facts, weights: RuleWeights) -> FloatArray:
    """(n, 5) matrix of the components in COMPONENTS order, each in [0, 1]."""
    values = {str(k).strip().lower(): float(v) for k, v in weights.source_values.items()}
    sources, inverse = np.unique(facts.source, return_inverse=True)
    source = np.array([values.get(str(s), DEFAULT_SOURCE_VALUE) for s in sources])[inverse]
    filled = sum(getattr(facts, f).astype(np.float64) for f in COMPLETENESS_FIELDS)
    completeness = np.asarray(filled, dtype=np.float64) / len(COMPLETENESS_FIELDS)
    engagement = np.minimum(np.maximum(facts.inquiries, 0.0) / ENGAGEMENT_SATURATION, 1.0)
    days = np.maximum(facts.days_since_interaction, 0.0)
    recency = np.power(0.5, days / RECENCY_HALF_LIFE_DAYS)
    contacts = np.minimum(np.maximum(facts.contact_count, 0.0) / CONTACT_SATURATION, 1.0)
    return np.column_stack([source, completeness, engagement, recency, contacts]).astype(np.float64)


def rule_probability(facts: Facts, weights: RuleWeights) -> FloatArray:
    if len(facts) == 0:
        return np.zeros(0)
    result: FloatArray = rule_components(facts, weights) @ weights.vector()
    return result


def score_with_rules(facts: Facts, weights: RuleWeights, top: int = TOP_REASONS) -> Scored:
    if len(facts) == 0:
        return _empty(COMPONENTS)
    components = rule_components(facts, weights)
    w = weights.vector()
    probability = components @ w
    impacts = (components - RULE_REFERENCE) * w * 100.0
    return _scored(facts, probability, COMPONENTS, impacts, top)


# --- the model ----------------------------------------------------------------------------------

MODEL_GROUPS = ("source", "completeness", "engagement", "recency", "contact_count", "message")
MAX_SOURCE_COLUMNS = 12


def _numeric_columns(facts: Facts) -> tuple[list[str], list[str], FloatArray]:
    names = [
        *COMPLETENESS_FIELDS,
        "log_inquiries",
        "log_days",
        "log_contacts",
        "log_message",
    ]
    groups = [
        *(["completeness"] * len(COMPLETENESS_FIELDS)),
        "engagement",
        "recency",
        "contact_count",
        "message",
    ]
    matrix = np.column_stack(
        [
            *(getattr(facts, f).astype(np.float64) for f in COMPLETENESS_FIELDS),
            np.log1p(np.maximum(facts.inquiries, 0.0)),
            np.log1p(np.maximum(facts.days_since_interaction, 0.0)),
            np.log1p(np.maximum(facts.contact_count, 0.0)),
            np.log1p(np.maximum(facts.message_length, 0.0)),
        ]
    )
    return names, groups, matrix


def encode(facts: Facts, sources: Sequence[str]) -> tuple[list[str], list[str], FloatArray]:
    """Feature names, their reason groups and the (n, features) matrix for the model."""
    names, groups, numeric = _numeric_columns(facts)
    one_hot = (
        np.column_stack([facts.source == s for s in sources]).astype(np.float64)
        if sources
        else np.zeros((len(facts), 0))
    )
    return (
        [*(f"source={s}" for s in sources), *names],
        [*(["source"] * len(sources)), *groups],
        np.hstack([one_hot, numeric]) if len(facts) else np.zeros((0, len(sources) + len(names))),
    )


@dataclass(frozen=True)
class ModelParams:
    """A calibrated ensemble as plain numbers: what is stored, and all scoring needs."""

    sources: list[str]
    features: list[str]
    groups: list[str]
    reference: list[float]  # the training mean of each feature (the reasons' reference)
    members: list[dict[str, Any]]  # [{mean, scale, coef, intercept, calibrator}]

    def as_dict(self) -> dict[str, Any]:
        return {
            "sources": self.sources,
            "features": self.features,
            "groups": self.groups,
            "reference": self.reference,
            "members": self.members,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> ModelParams:
        return cls(
            sources=list(raw["sources"]),
            features=list(raw["features"]),
            groups=list(raw["groups"]),
            reference=[float(x) for x in raw["reference"]],
            members=list(raw["members"]),
        )


def _calibrated(member: Mapping[str, Any], matrix: FloatArray) -> FloatArray:
    scaled = (matrix - np.asarray(member["mean"])) / np.asarray(member["scale"])
    decision = scaled @ np.asarray(member["coef"]) + float(member["intercept"])
    calibrator = member["calibrator"]
    if calibrator["kind"] == "sigmoid":
        z = -(float(calibrator["a"]) * decision + float(calibrator["b"]))
        return 1.0 / (1.0 + np.exp(-z))
    return np.interp(decision, np.asarray(calibrator["x"]), np.asarray(calibrator["y"]))


def probability_of_matrix(params: ModelParams, matrix: FloatArray) -> FloatArray:
    total = np.zeros(matrix.shape[0])
    for member in params.members:
        total += _calibrated(member, matrix)
    result: FloatArray = np.clip(total / len(params.members), 0.0, 1.0)
    return result


def model_probability(params: ModelParams, facts: Facts) -> FloatArray:
    if len(facts) == 0:
        return np.zeros(0)
    return probability_of_matrix(params, encode(facts, params.sources)[2])


def score_with_model(params: ModelParams, facts: Facts, top: int = TOP_REASONS) -> Scored:
    if len(facts) == 0:
        return _empty(MODEL_GROUPS)
    matrix = encode(facts, params.sources)[2]
    probability = probability_of_matrix(params, matrix)
    groups = np.asarray(params.groups)
    codes = [g for g in MODEL_GROUPS if (groups == g).any()]
    reference = np.asarray(params.reference)
    impacts = np.zeros((len(facts), len(codes)))
    for j, code in enumerate(codes):
        columns = groups == code
        at_reference = matrix.copy()
        at_reference[:, columns] = reference[columns]
        impacts[:, j] = (probability - probability_of_matrix(params, at_reference)) * 100.0
    return _scored(facts, probability, codes, impacts, top)


def export_calibrated(calibrated: Any) -> list[dict[str, Any]]:
    """The members of a fitted CalibratedClassifierCV(Pipeline(scaler, logistic)) as numbers."""
    members = []
    for member in calibrated.calibrated_classifiers_:
        scaler, logistic = member.estimator[0], member.estimator[-1]
        calibrator = member.calibrators[0]
        if member.method == "sigmoid":
            exported = {"kind": "sigmoid", "a": float(calibrator.a_), "b": float(calibrator.b_)}
        else:
            exported = {
                "kind": "isotonic",
                "x": [float(v) for v in calibrator.X_thresholds_],
                "y": [float(v) for v in calibrator.y_thresholds_],
            }
        members.append(
            {
                "mean": [float(v) for v in scaler.mean_],
                "scale": [float(v) for v in scaler.scale_],
                "coef": [float(v) for v in logistic.coef_[0]],
                "intercept": float(logistic.intercept_[0]),
                "calibrator": exported,
            }
        )
    return members


@dataclass(frozen=True)
class HoldoutMetrics:
    auc: float
    brier: float
    calibration: list[dict[str, float]]  # reliability bins: predicted, observed, count
    expected_calibration_error: float


@dataclass(frozen=True)
class TrainingResult:
    params: ModelParams
    model: HoldoutMetrics
    rules: HoldoutMetrics
    n_train: int
    n_holdout: int
    positives: int
    holdout_from: float  # the order value (e.g. a timestamp) where the holdout begins
    use_model: bool


def reliability(y: npt.NDArray[Any], probability: FloatArray, bins: int = 10) -> HoldoutMetrics:
    """AUC, Brier score and a reliability table (equal-width bins) of probabilities."""
    from sklearn.metrics import brier_score_loss, roc_auc_score

    y = np.asarray(y, dtype=np.int64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(probability, edges[1:-1]), 0, bins - 1)
    table = []
    ece = 0.0
    for b in range(bins):
        mask = which == b
        count = int(mask.sum())
        if count == 0:
            continue
        predicted, observed = float(probability[mask].mean()), float(y[mask].mean())
        ece += count / len(y) * abs(predicted - observed)
        table.append(
            {
                "low": float(edges[b]),
                "high": float(edges[b + 1]),
                "predicted": round(predicted, 4),
                "observed": round(observed, 4),
                "count": count,
            }
        )
    return HoldoutMetrics(
        auc=float(roc_auc_score(y, probability)),
        brier=float(brier_score_loss(y, probability)),
        calibration=table,
        expected_calibration_error=round(ece, 4),
    )


def fit_calibrated(x: FloatArray, y: npt.NDArray[Any], *, random_state: int = 0) -> Any:
    """CalibratedClassifierCV(StandardScaler + LogisticRegression) fitted on (x, y).

    Sigmoid calibration below 1,000 rows, isotonic from there. The calibration folds keep time
    order (TimeSeriesSplit; rows must be sorted); when an early fold has a single class,
    stratified folds are used instead.
    """
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, TimeSeriesSplit
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    method = "isotonic" if len(y) >= 1000 else "sigmoid"
    base = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))
    with threadpool_limits(limits=1):
        for cv in (
            TimeSeriesSplit(n_splits=3),
            StratifiedKFold(3, shuffle=True, random_state=random_state),
        ):
            try:
                return CalibratedClassifierCV(base, method=method, cv=cv).fit(x, y)
            except ValueError:
                continue
    raise TrainingError("the training part cannot be split for calibration")


def train_model(
    facts: Facts,
    converted: npt.NDArray[Any],
    order: npt.NDArray[Any],
    weights: RuleWeights,
    *,
    holdout_fraction: float = 0.25,
    random_state: int = 0,
) -> TrainingResult:
    """Train on the earlier leads, measure model and rules on the later ones (the holdout).

    `converted` is 1 for a converted lead and 0 for a lost one; `order` sorts the leads in time
    (e.g. the closing timestamp). Raises TrainingError when a part lacks one of the classes.
    """
    y = np.asarray(converted, dtype=np.int64)
    n = len(facts)
    if n != len(y) or n != len(order):
        raise ValueError("facts, converted and order must have the same length")
    n_holdout = math.ceil(n * holdout_fraction)
    n_train = n - n_holdout
    if n_train < 30 or n_holdout < 10:
        raise TrainingError("too few closed leads to train and measure a model")
    sorted_index = np.argsort(np.asarray(order), kind="stable")
    train_index, holdout_index = sorted_index[:n_train], sorted_index[n_train:]
    y_train, y_holdout = y[train_index], y[holdout_index]
    if len(np.unique(y_train)) < 2 or len(np.unique(y_holdout)) < 2:
        raise TrainingError("both converted and lost leads are needed before and after the split")

    train_facts = facts.take(train_index)
    counts: dict[str, int] = {}
    for s in train_facts.source:
        counts[str(s)] = counts.get(str(s), 0) + 1
    sources = [s for s, c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if c >= 5]
    sources = sources[:MAX_SOURCE_COLUMNS]
    features, groups, x_train = encode(train_facts, sources)

    calibrated = fit_calibrated(x_train, y_train, random_state=random_state)

    params = ModelParams(
        sources=sources,
        features=features,
        groups=groups,
        reference=[float(v) for v in x_train.mean(axis=0)],
        members=export_calibrated(calibrated),
    )
    holdout_facts = facts.take(holdout_index)
    model_metrics = reliability(y_holdout, model_probability(params, holdout_facts))
    rules_metrics = reliability(y_holdout, rule_probability(holdout_facts, weights))
    return TrainingResult(
        params=params,
        model=model_metrics,
        rules=rules_metrics,
        n_train=n_train,
        n_holdout=n_holdout,
        positives=int(y.sum()),
        holdout_from=float(np.asarray(order)[holdout_index[0]]),
        use_model=model_metrics.auc > rules_metrics.auc,
    )


# --- a data set with a known signal (tests and benchmarks) ---------------------------------------


def synthetic_leads(n: int, seed: int = 0) -> tuple[Facts, IntArray, FloatArray]:
    """n leads whose conversion follows a known logistic signal, in time order.

    The signal leans on facts the default rules undervalue (a long message, a phone number,
    the "event" source) and the rules' favourite (recency) barely matters, so a model can beat
    the rules; returns (facts, converted 0/1, order).
    """
    rng = np.random.default_rng(seed)
    sources = np.array(["referral", "webform", "event", "ads", "cold", "partner"])
    source = sources[rng.choice(len(sources), size=n, p=[0.1, 0.3, 0.15, 0.25, 0.1, 0.1])]
    facts = Facts(
        source=source,
        has_email=rng.random(n) < 0.8,
        has_phone=rng.random(n) < 0.5,
        has_company=rng.random(n) < 0.6,
        has_title=rng.random(n) < 0.4,
        has_region=rng.random(n) < 0.5,
        inquiries=rng.poisson(1.0, n).astype(np.float64) + 1.0,
        days_since_interaction=rng.exponential(20.0, n),
        contact_count=rng.poisson(2.0, n).astype(np.float64),
        message_length=rng.exponential(120.0, n),
    )
    source_effect = {
        "referral": 0.8,
        "webform": 0.0,
        "event": 2.2,
        "ads": -1.8,
        "cold": -1.5,
        "partner": 0.4,
    }
    logit = (
        -2.6
        + np.array([source_effect[str(s)] for s in source])
        + 2.4 * facts.has_phone
        + 1.2 * np.log1p(facts.message_length) / np.log1p(120.0)
        + 0.8 * np.log1p(facts.inquiries)
        - 0.05 * np.log1p(facts.days_since_interaction)
    )
    converted = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)
    order = np.arange(n, dtype=np.float64)
    return facts, converted, order
