"""Lifecycle stages, health score, behavioural segments and next actions.

Pure pandas/numpy/scikit-learn: no Django imports.  Everything works on an *activity frame*,
one row per customer (index = customer id) with the columns

=========================  ===================================================================
``n_orders``               purchase days so far (0 for a prospect)
``days_since_first``       days since the first purchase (NaN for a prospect)
``days_since_last``        days since the last purchase (NaN for a prospect)
``monetary``               total spend
``engagement``             recent interactions (emails opened, meetings, visits ...), >= 0
``open_tickets``           open support tickets, >= 0
``p_alive`` (optional)     BG/NBD probability of being alive
=========================  ===================================================================

:func:`activity_from_transactions` builds it from order lines.

Lifecycle stages (:func:`lifecycle_stage`) -- the rules are checked **in this order and the first
match wins**, so the stages are mutually exclusive and exhaustive:

1. ``prospect`` -- no purchase yet (``n_orders == 0``).
2. ``lost``     -- ``days_since_last > lost_after_days`` (365), or ``p_alive < lost_p_alive``
   (0.10) when P(alive) is known.
3. ``at_risk``  -- ``days_since_last > at_risk_after_days`` (90), or ``p_alive <
   at_risk_p_alive`` (0.50).
4. ``loyal``    -- ``n_orders >= loyal_min_orders`` (5) and ``days_since_first >=
   loyal_min_tenure_days`` (180).  Checked *before* ``new`` and ``active``: a loyal customer
   also satisfies "active", so the more specific rule must win.
5. ``new``      -- ``days_since_first <= new_window_days`` (90).
6. ``active``   -- everyone else (bought recently, neither new nor loyal).

Lapse rules come before loyalty on purpose: a loyal customer who stops buying is reported as at
risk, which is the actionable fact.

Health score (:func:`health_score`, 0-100) is ``100 * sum(weight_i * component_i)`` with every
component in [0, 1]:

================  ======  ==================================================================
component         weight  definition
================  ======  ==================================================================
recency           0.30    ``0.5 ** (days_since_last / 90)`` (halves every 90 days; 0 if never)
frequency         0.20    ``log1p(n_orders) / log1p(P95 of n_orders in the tenant)``, capped at 1
monetary          0.20    same with total spend
engagement        0.15    same with engagement
support           0.15    ``1 / (1 + open_tickets)``
================  ======  ==================================================================

The tenant-relative components make the score comparable across businesses of different size
(the top 5% of a tenant reach the full component); recency and support use absolute scales.

Segmentation (:func:`segment_customers`): KMeans on ``log1p`` of recency days, orders, spend and
engagement, standardised; ``k`` in 3..8 is the one with the best mean silhouette (computed on
one sample of at most 10,000 rows shared by all ``k``, see :func:`silhouette_scores`; KMeans is
fitted on at most 100,000 sampled rows and then assigns every customer to the nearest centroid;
ties go to the smaller ``k``).  Segment names come from the centroids' z-scores: value
(mean of orders and spend z) ``>= 0.5`` "high value", ``<= -0.5`` "low value", else "mid value";
recency z ``>= 0.5`` "slipping", ``<= -0.5`` "active", else "steady"; duplicate names get the
engagement level and then a number.  Prospects are segment -1, "no purchase yet".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.cluster import KMeans
from threadpoolctl import threadpool_limits

__all__ = [
    "NEXT_ACTIONS",
    "STAGES",
    "Action",
    "HealthWeights",
    "LifecycleRules",
    "Segmentation",
    "activity_from_transactions",
    "health_components",
    "health_score",
    "lifecycle_stage",
    "recommended_actions",
    "segment_customers",
    "silhouette_scores",
]

STAGES: tuple[str, ...] = ("prospect", "new", "active", "loyal", "at_risk", "lost")
SEGMENT_FEATURES: tuple[str, ...] = ("days_since_last", "n_orders", "monetary", "engagement")
NO_PURCHASE_SEGMENT = "no purchase yet"


@dataclass(frozen=True)
class LifecycleRules:
    """Thresholds of the lifecycle rules (see the module docstring for the order)."""

    new_window_days: float = 90.0
    loyal_min_orders: int = 5
    loyal_min_tenure_days: float = 180.0
    at_risk_after_days: float = 90.0
    lost_after_days: float = 365.0
    at_risk_p_alive: float = 0.5
    lost_p_alive: float = 0.1

    def __post_init__(self) -> None:
        if not 0 < self.at_risk_after_days < self.lost_after_days:
            raise ValueError("need 0 < at_risk_after_days < lost_after_days")
        if not 0 <= self.lost_p_alive <= self.at_risk_p_alive <= 1:
            raise ValueError("need 0 <= lost_p_alive <= at_risk_p_alive <= 1")
        if self.loyal_min_orders < 1 or self.new_window_days < 0:
            raise ValueError("loyal_min_orders must be >= 1 and new_window_days >= 0")


@dataclass(frozen=True)
class HealthWeights:
    """Weights of the health-score components; they must sum to 1."""

    recency: float = 0.30
    frequency: float = 0.20
    monetary: float = 0.20
    engagement: float = 0.15
    support: float = 0.15
    recency_half_life_days: float = 90.0
    reference_quantile: float = 0.95

    def __post_init__(self) -> None:
        weights = (self.recency, self.frequency, self.monetary, self.engagement, self.support)
        if min(weights) < 0 or abs(sum(weights) - 1.0) > 1e-9:
            raise ValueError("health weights must be >= 0 and sum to 1")
        if self.recency_half_life_days <= 0 or not 0 < self.reference_quantile <= 1:
            raise ValueError("invalid half-life or reference quantile")


@dataclass(frozen=True)
class Action:
    """A recommended next action: stable code (for i18n and automation) and English text."""

    code: str
    title: str


NEXT_ACTIONS: dict[str, tuple[Action, Action]] = {
    "prospect": (
        Action("qualify_lead", "Qualify the lead and book a first conversation"),
        Action("send_first_offer", "Send an introductory offer"),
    ),
    "new": (
        Action("onboard", "Welcome and onboard: make sure the first purchase went well"),
        Action("second_purchase_offer", "Suggest a complementary second purchase"),
    ),
    "active": (
        Action("cross_sell", "Recommend related products (cross-sell)"),
        Action("invite_loyalty", "Invite to the loyalty programme"),
    ),
    "loyal": (
        Action("reward_loyalty", "Thank and reward: VIP perks, early access"),
        Action("ask_referral", "Ask for a referral or a review"),
    ),
    "at_risk": (
        Action("personal_check_in", "Personal check-in call from the account owner"),
        Action("win_back_offer", "Targeted win-back offer"),
    ),
    "lost": (
        Action("reactivation_campaign", "Low-cost reactivation campaign"),
        Action("exit_survey", "Ask why they left (short survey)"),
    ),
}
RESOLVE_TICKETS = Action("resolve_open_tickets", "Resolve the open support tickets first")


# --------------------------------------------------------------------------------------------
# activity frame
# --------------------------------------------------------------------------------------------


def activity_from_transactions(
    transactions: pd.DataFrame,
    as_of: pd.Timestamp | str,
    *,
    customers: pd.Index | None = None,
    engagement: pd.Series | None = None,
    open_tickets: pd.Series | None = None,
    p_alive: pd.Series | None = None,
    customer_col: str = "customer_id",
    date_col: str = "date",
    amount_col: str = "amount",
) -> pd.DataFrame:
    """Activity frame (see module docstring) from order lines up to ``as_of`` (inclusive).

    ``customers`` adds customers without orders (prospects); the optional series are aligned on
    the customer id and missing values become 0 (``p_alive`` stays NaN when missing).
    """
    end = pd.Timestamp(as_of).normalize()
    day = pd.to_datetime(transactions[date_col]).dt.normalize()
    keep = (day <= end).to_numpy()
    frame = pd.DataFrame(
        {
            "customer_id": transactions[customer_col].to_numpy()[keep],
            "day": day.to_numpy()[keep],
            "amount": transactions[amount_col].to_numpy(dtype=np.float64)[keep],
        }
    )
    grouped = frame.groupby("customer_id", sort=True)
    first, last = grouped["day"].min(), grouped["day"].max()
    out = pd.DataFrame(
        {
            "n_orders": grouped["day"].nunique().astype(np.int64),
            "days_since_first": (end - first).dt.days.astype(np.float64),
            "days_since_last": (end - last).dt.days.astype(np.float64),
            "monetary": grouped["amount"].sum(),
        }
    )
    if customers is not None:
        out = out.reindex(out.index.union(customers))
        out["n_orders"] = out["n_orders"].fillna(0).astype(np.int64)
        out["monetary"] = out["monetary"].fillna(0.0)
    out.index.name = customer_col
    out["engagement"] = _aligned(engagement, out.index, 0.0)
    out["open_tickets"] = _aligned(open_tickets, out.index, 0.0)
    if p_alive is not None:
        out["p_alive"] = p_alive.reindex(out.index).astype(np.float64)
    return out


def _aligned(series: pd.Series | None, index: pd.Index, fill: float) -> npt.NDArray[np.float64]:
    if series is None:
        return np.full(len(index), fill, dtype=np.float64)
    return series.reindex(index).fillna(fill).to_numpy(dtype=np.float64)


def _col(activity: pd.DataFrame, name: str) -> npt.NDArray[np.float64]:
    if name not in activity.columns:
        raise ValueError(f"activity frame needs a {name!r} column")
    return activity[name].to_numpy(dtype=np.float64)


# --------------------------------------------------------------------------------------------
# lifecycle
# --------------------------------------------------------------------------------------------


def lifecycle_stage(activity: pd.DataFrame, rules: LifecycleRules | None = None) -> pd.Series:
    """Lifecycle stage per customer (categorical over :data:`STAGES`); rules in module docstring.

    Implemented with ``np.select`` over the ordered conditions, so the first matching rule wins.
    """
    rules = rules or LifecycleRules()
    orders = np.nan_to_num(_col(activity, "n_orders"), nan=0.0)
    first = _col(activity, "days_since_first")
    last = _col(activity, "days_since_last")
    if "p_alive" in activity.columns:
        p_alive = np.nan_to_num(activity["p_alive"].to_numpy(dtype=np.float64), nan=1.0)
    else:
        p_alive = np.ones(len(activity))
    prospect = (orders <= 0) | np.isnan(last)
    lost = (last > rules.lost_after_days) | (p_alive < rules.lost_p_alive)
    at_risk = (last > rules.at_risk_after_days) | (p_alive < rules.at_risk_p_alive)
    loyal = (orders >= rules.loyal_min_orders) & (first >= rules.loyal_min_tenure_days)
    new = first <= rules.new_window_days
    conditions = [prospect, lost, at_risk, loyal, new]
    choices = ["prospect", "lost", "at_risk", "loyal", "new"]
    stage = np.select(conditions, choices, default="active")
    return pd.Series(
        pd.Categorical(stage, categories=list(STAGES)), index=activity.index, name="stage"
    )


# --------------------------------------------------------------------------------------------
# health
# --------------------------------------------------------------------------------------------


def _relative_log_score(
    values: npt.NDArray[np.float64], quantile: float
) -> npt.NDArray[np.float64]:
    clean = np.clip(np.nan_to_num(values, nan=0.0), 0.0, None)
    if clean.size == 0:
        return clean
    reference = float(np.quantile(clean, quantile))
    if reference <= 0:
        reference = float(clean.max())
    if reference <= 0:
        return np.zeros_like(clean)
    return np.minimum(np.log1p(clean) / np.log1p(reference), 1.0)


def health_components(activity: pd.DataFrame, weights: HealthWeights | None = None) -> pd.DataFrame:
    """The five health components, each in [0, 1] (definitions in the module docstring)."""
    weights = weights or HealthWeights()
    last = _col(activity, "days_since_last")
    recency = np.where(
        np.isnan(last),
        0.0,
        0.5 ** (np.clip(np.nan_to_num(last), 0.0, None) / weights.recency_half_life_days),
    )
    tickets = np.clip(np.nan_to_num(_col(activity, "open_tickets")), 0.0, None)
    q = weights.reference_quantile
    return pd.DataFrame(
        {
            "recency": recency,
            "frequency": _relative_log_score(_col(activity, "n_orders"), q),
            "monetary": _relative_log_score(_col(activity, "monetary"), q),
            "engagement": _relative_log_score(_col(activity, "engagement"), q),
            "support": 1.0 / (1.0 + tickets),
        },
        index=activity.index,
    )


def health_score(activity: pd.DataFrame, weights: HealthWeights | None = None) -> pd.Series:
    """Health score 0-100 (weighted sum of :func:`health_components`), one decimal."""
    weights = weights or HealthWeights()
    comp = health_components(activity, weights)
    w = np.array(
        [weights.recency, weights.frequency, weights.monetary, weights.engagement, weights.support]
    )
    score = 100.0 * (comp.to_numpy() * w).sum(axis=1)
    return pd.Series(np.round(np.clip(score, 0.0, 100.0), 1), index=activity.index, name="health")


# --------------------------------------------------------------------------------------------
# segmentation
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Segmentation:
    """Result of :func:`segment_customers`."""

    labels: pd.Series
    names: pd.Series
    k: int
    silhouettes: dict[int, float]
    centroids_z: pd.DataFrame
    centroids: pd.DataFrame
    segment_names: dict[int, str]


def _segment_names(centroids_z: pd.DataFrame) -> dict[int, str]:
    value = (centroids_z["n_orders"] + centroids_z["monetary"]).to_numpy() / 2.0
    rec = centroids_z["days_since_last"].to_numpy()
    eng = centroids_z["engagement"].to_numpy()
    tier = np.where(value >= 0.5, "high value", np.where(value <= -0.5, "low value", "mid value"))
    status = np.where(rec >= 0.5, "slipping", np.where(rec <= -0.5, "active", "steady"))
    names = [f"{t}, {s}" for t, s in zip(tier, status, strict=True)]
    base = pd.Series(names)
    dup = base.duplicated(keep=False).to_numpy()
    if dup.any():
        engaged = np.where(eng >= np.median(eng), "more engaged", "less engaged")
        names = [f"{n}, {e}" if d else n for n, e, d in zip(names, engaged, dup, strict=True)]
    counts: dict[str, int] = {}
    final: list[str] = []
    still_dup = pd.Series(names).duplicated(keep=False).to_numpy()
    for n, d in zip(names, still_dup, strict=True):  # at most k <= 8 centroids
        if d:
            counts[n] = counts.get(n, 0) + 1
            final.append(f"{n} #{counts[n]}")
        else:
            final.append(n)
    return {int(i): final[i] for i in range(len(final))}


def silhouette_scores(
    sample: npt.NDArray[np.float64],
    labels_by_k: dict[int, npt.NDArray[np.int64]],
    *,
    chunk_rows: int = 1024,
) -> dict[int, float]:
    """Mean silhouette of several labelings of the same rows, sharing one distance pass.

    Equal to ``sklearn.metrics.silhouette_score(sample, labels)`` for every labeling, but the
    pairwise Euclidean distances are computed once (in row chunks) and multiplied by the
    side-by-side one-hot matrices of all labelings, instead of once per ``k``.  Points alone in
    their cluster score 0, as in scikit-learn.
    """
    n = len(sample)
    ks = list(labels_by_k)
    offsets = np.concatenate(([0], np.cumsum([int(labels_by_k[k].max()) + 1 for k in ks])))
    onehot = np.zeros((n, int(offsets[-1])), dtype=np.float64)
    rows = np.arange(n)
    for k, off in zip(ks, offsets[:-1], strict=True):  # a handful of k values
        onehot[rows, off + labels_by_k[k]] = 1.0
    sq = np.einsum("ij,ij->i", sample, sample)
    sums = np.empty_like(onehot)
    for start in range(0, n, chunk_rows):  # row chunks bound memory to chunk_rows x n
        stop = min(start + chunk_rows, n)
        d2 = sq[start:stop, None] + sq[None, :] - 2.0 * (sample[start:stop] @ sample.T)
        np.maximum(d2, 0.0, out=d2)
        dist = np.sqrt(d2, out=d2)
        dist[np.arange(stop - start), np.arange(start, stop)] = 0.0
        sums[start:stop] = dist @ onehot
    counts = onehot.sum(axis=0)
    out: dict[int, float] = {}
    for k, off, end in zip(ks, offsets[:-1], offsets[1:], strict=True):
        lab = labels_by_k[k]
        block = sums[:, off:end]
        cnt = counts[off:end]
        own_cnt = cnt[lab]
        a = block[rows, lab] / np.maximum(own_cnt - 1.0, 1.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            others = block / cnt
        others[rows, lab] = np.inf
        others[:, cnt == 0] = np.inf
        b = others.min(axis=1)
        denom = np.maximum(a, b)
        sil = np.where((own_cnt > 1) & (denom > 0), (b - a) / np.where(denom > 0, denom, 1), 0.0)
        out[k] = float(sil.mean())
    return out


def segment_customers(
    activity: pd.DataFrame,
    *,
    k_values: Sequence[int] = range(3, 9),
    random_state: int = 0,
    silhouette_sample_size: int = 10_000,
    fit_sample_size: int = 100_000,
    n_init: int = 3,
    n_threads: int | None = 1,
) -> Segmentation:
    """KMeans segments of customers with purchases, ``k`` chosen by silhouette.

    See the module docstring for the features, the selection and the naming.  Prospects get
    label -1.  ``n_threads`` caps OpenMP threads (see :func:`crm.insights.analytics.churn.
    fit_churn_model`).
    """
    feats = activity.loc[:, list(SEGMENT_FEATURES)].to_numpy(dtype=np.float64)
    buyers = ~np.isnan(feats[:, 0]) & (np.nan_to_num(feats[:, 1]) > 0)
    x = np.log1p(np.clip(np.nan_to_num(feats[buyers]), 0.0, None))
    n = len(x)
    ks = [k for k in k_values if 2 <= k < n]
    if not ks:
        raise ValueError("not enough customers with purchases to segment")
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    std[std == 0] = 1.0
    z = (x - mean) / std
    rng = np.random.default_rng(random_state)
    fit_rows = z if n <= fit_sample_size else z[rng.choice(n, fit_sample_size, replace=False)]
    sil_rows = (
        np.arange(len(fit_rows))
        if len(fit_rows) <= silhouette_sample_size
        else rng.choice(len(fit_rows), silhouette_sample_size, replace=False)
    )
    sample_labels: dict[int, npt.NDArray[np.int64]] = {}
    models: dict[int, KMeans] = {}
    with threadpool_limits(limits=n_threads):
        for k in ks:
            km = KMeans(n_clusters=k, n_init=n_init, random_state=random_state)
            fit_labels = km.fit_predict(fit_rows).astype(np.int64)
            if len(np.unique(fit_labels[sil_rows])) < 2:
                continue
            sample_labels[k] = fit_labels[sil_rows]
            models[k] = km
        if not models:
            raise ValueError("data has no cluster structure (all points identical)")
        silhouettes = silhouette_scores(fit_rows[sil_rows], sample_labels)
        best_k = max(silhouettes, key=lambda k: (silhouettes[k], -k))
        model = models[best_k]
        buyer_labels = model.predict(z)
    labels = np.full(len(activity), -1, dtype=np.int64)
    labels[buyers] = buyer_labels
    centers_z = pd.DataFrame(model.cluster_centers_, columns=list(SEGMENT_FEATURES))
    centers = pd.DataFrame(
        np.expm1(model.cluster_centers_ * std + mean), columns=list(SEGMENT_FEATURES)
    )
    names_map = _segment_names(centers_z)
    name_lookup = np.array([*(names_map[i] for i in range(best_k)), NO_PURCHASE_SEGMENT])
    names = name_lookup[labels]  # label -1 indexes the last entry
    return Segmentation(
        labels=pd.Series(labels, index=activity.index, name="segment"),
        names=pd.Series(names, index=activity.index, name="segment_name"),
        k=best_k,
        silhouettes=silhouettes,
        centroids_z=centers_z,
        centroids=centers,
        segment_names=names_map,
    )


# --------------------------------------------------------------------------------------------
# next actions
# --------------------------------------------------------------------------------------------


def recommended_actions(stages: pd.Series, open_tickets: pd.Series | None = None) -> pd.DataFrame:
    """Primary and secondary next-action codes per customer from :data:`NEXT_ACTIONS`.

    A purchasing customer (not a prospect) with open tickets gets ``resolve_open_tickets`` first
    and the stage's main action second; otherwise the stage's two actions.
    """
    stage_arr = stages.astype(str).to_numpy()
    unknown = set(np.unique(stage_arr)) - set(NEXT_ACTIONS)
    if unknown:
        raise ValueError(f"unknown stages: {sorted(unknown)}")
    first = pd.Series({s: a[0].code for s, a in NEXT_ACTIONS.items()})
    second = pd.Series({s: a[1].code for s, a in NEXT_ACTIONS.items()})
    primary = first.reindex(stage_arr).to_numpy()
    secondary = second.reindex(stage_arr).to_numpy()
    if open_tickets is not None:
        tickets = open_tickets.reindex(stages.index).fillna(0).to_numpy(dtype=np.float64)
        escalate = (tickets > 0) & (stage_arr != "prospect")
        secondary = np.where(escalate, primary, secondary)
        primary = np.where(escalate, RESOLVE_TICKETS.code, primary)
    return pd.DataFrame(
        {"primary_action": primary, "secondary_action": secondary}, index=stages.index
    )
