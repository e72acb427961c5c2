"""One recompute of a tenant's customer intelligence, from plain data frames to plain results.

Pure pandas/numpy (no Django imports): the service loads the tenant's rows in bulk, calls
:func:`compute_customer_insights` and stores what it returns. The numerical models live in
``crm.insights.analytics``; this module only chains them and handles small tenants:

* BG/NBD is fitted when at least ``MIN_BUYERS`` customers bought and ``MIN_REPEATERS`` of them
  bought again; Gamma-Gamma when ``MIN_REPEATERS`` repeat buyers spent something. Otherwise
  P(alive), expected purchases and CLV are left empty (``None``) and churn risk falls back to
  ``1 - 0.5 ** (days since last purchase / 90)``.
* Churn risk is ``1 - P(alive)``. When the tenant defines churn labels (no order within N days),
  a supervised model is trained on the situation N days ago (features at that cut-off, label =
  no order since), evaluated on the customers acquired last (time-ordered split), and its
  probability for today's features is blended 50/50 with ``1 - P(alive)``.
* Segmentation needs at least ``MIN_SEGMENT_BUYERS`` buyers; below that every buyer is in one
  segment "all customers".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from crm.insights.analytics import churn, clv, lifecycle, rfm

MODEL_VERSION = "insights-2026.11"
WEEKS_PER_YEAR = 365.25 / 7
MIN_BUYERS = 10
MIN_REPEATERS = 3
MIN_SEGMENT_BUYERS = 12
ENGAGEMENT_DAYS = 90
BLEND_WEIGHT = 0.5
CHANNEL_KINDS = ("call", "email", "meeting", "visit")
REASON_FEATURES = ("days_since_last", "n_orders", "monetary", "days_since_first", "avg_order")


@dataclass
class ComputeResult:
    """Per customer (index = contact id) the stored columns; and the run's metrics."""

    customers: pd.DataFrame
    metrics: dict[str, Any] = field(default_factory=dict)


def _finite(value: float) -> float | None:
    return float(value) if value is not None and math.isfinite(float(value)) else None


PENALIZERS = (0.0, 0.001, 0.01)  # tried in order: small tenants need some shrinkage
MAX_PARAM = 1e4


def _fit_bgnbd(summary: pd.DataFrame) -> tuple[clv.BGNBDParams, float] | None:
    """The least-penalised BG/NBD fit that converged to sensible values, with its penalizer."""
    x = summary["frequency"].to_numpy(float)
    if len(x) < MIN_BUYERS or int((x > 0).sum()) < MIN_REPEATERS:
        return None
    t_x, big_t = summary["recency"].to_numpy(float), summary["T"].to_numpy(float)
    for penalizer in PENALIZERS:
        try:
            with np.errstate(all="ignore"):
                params = clv.fit_bgnbd(x, t_x, big_t, penalizer=penalizer)
                check = clv.bgnbd_conditional_expected_purchases(
                    params, WEEKS_PER_YEAR, x, t_x, big_t
                )
        except (ValueError, FloatingPointError, ArithmeticError):
            continue
        values = (params.r, params.alpha, params.a, params.b)
        if (
            params.converged
            and all(math.isfinite(v) and 0 < v < MAX_PARAM for v in values)
            and np.isfinite(check).all()
        ):
            return params, penalizer
    return None


def _fit_gamma_gamma(summary: pd.DataFrame) -> tuple[clv.GammaGammaParams, float] | None:
    """As for BG/NBD; q > 1 is needed for a finite expected spend."""
    repeat = summary[(summary["frequency"] > 0) & (summary["monetary_value"] > 0)]
    if len(repeat) < MIN_REPEATERS:
        return None
    x, m = repeat["frequency"].to_numpy(float), repeat["monetary_value"].to_numpy(float)
    for penalizer in PENALIZERS:
        try:
            with np.errstate(all="ignore"):
                params = clv.fit_gamma_gamma(x, m, penalizer=penalizer)
        except (ValueError, FloatingPointError, ArithmeticError):
            continue
        values = (params.p, params.q, params.v)
        if all(math.isfinite(v) and 0 < v < MAX_PARAM for v in values) and params.q > 1:
            return params, penalizer
    return None


def _features(days: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """Order features per buyer as of a date (used by the supervised churn model)."""
    upto = days[days["date"] <= as_of]
    g = upto.groupby("customer_id", sort=True)
    out = pd.DataFrame(
        {
            "days_since_last": (as_of - g["date"].max()).dt.days.astype(float),
            "n_orders": g.size().astype(float),
            "monetary": g["amount"].sum(),
            "days_since_first": (as_of - g["date"].min()).dt.days.astype(float),
        }
    )
    out["avg_order"] = out["monetary"] / out["n_orders"]
    return out


def _supervised_churn(
    days: pd.DataFrame, as_of: pd.Timestamp, label_days: int
) -> tuple[pd.Series, pd.DataFrame, dict[str, Any]] | None:
    """Train on the cut-off ``label_days`` ago; predict for today. None when it cannot train."""
    cutoff = as_of - pd.Timedelta(days=label_days)
    past = _features(days, cutoff)
    if len(past) < 40:
        return None
    later = days[(days["date"] > cutoff) & (days["date"] <= as_of)]
    churned = (~past.index.isin(later["customer_id"].unique())).astype(int)
    train = past.assign(first_day=-past["days_since_first"])  # acquired later = larger
    try:
        result = churn.fit_churn_model(train, churned, order_col="first_day", model="logistic")
    except ValueError:
        return None
    now = _features(days, as_of)
    prob = pd.Series(result.model.predict_proba(now), index=now.index)
    reasons = result.model.top_reasons(now, k=3)
    metrics = {
        "label_days": label_days,
        "auc": _finite(result.auc),
        "brier": _finite(result.brier),
        "baseline_auc": _finite(result.baseline_auc),
        "baseline_feature": result.baseline_feature,
        "n_train": result.n_train,
        "n_test": result.n_test,
        "churn_rate_test": _finite(result.churn_rate_test),
    }
    return prob, reasons, metrics


def _rule_reasons(activity: pd.DataFrame) -> list[list[dict[str, Any]]]:
    """Why a customer's risk is what it is, from the purchase pattern (no supervised model).

    The conditions are evaluated on whole columns; only the assembly of each customer's short
    list runs per row, on plain Python values.
    """
    last = activity["days_since_last"].to_numpy(float)
    first = activity["days_since_first"].to_numpy(float)
    orders = np.nan_to_num(activity["n_orders"].to_numpy(float))
    engagement = activity["engagement"].to_numpy(float)
    p_alive = (
        activity["p_alive"].to_numpy(float)
        if "p_alive" in activity
        else np.full(len(activity), np.nan)
    )
    buyer = orders > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        gap = np.where(orders > 1, first / np.maximum(orders - 1, 1), np.nan)
        overdue = buyer & ((last > 90) | (~np.isnan(gap) & (last > 2 * gap)))
        low_alive = buyer & ~np.isnan(p_alive) & (p_alive < 0.5)
    single = buyer & (orders == 1)
    quiet = buyer & (engagement == 0)
    days = np.nan_to_num(last).astype(np.int64).tolist()
    alive = np.round(np.nan_to_num(p_alive), 3).tolist()
    out: list[list[dict[str, Any]]] = []
    for i, (o, a, s, q) in enumerate(
        zip(overdue.tolist(), low_alive.tolist(), single.tolist(), quiet.tolist(), strict=True)
    ):
        items: list[dict[str, Any]] = []
        if o:
            items.append({"code": "no_recent_purchase", "value": days[i]})
        if a:
            items.append({"code": "low_p_alive", "value": alive[i]})
        if s:
            items.append({"code": "single_purchase", "value": 1})
        if q:
            items.append({"code": "no_engagement", "value": 0})
        out.append(items[:3])
    return out


def _model_reasons(reasons: pd.DataFrame, index: pd.Index) -> dict[Any, list[dict[str, Any]]]:
    aligned = reasons.reindex(index)
    out: dict[Any, list[dict[str, Any]]] = {}
    for cid, row in zip(aligned.index, aligned.itertuples(index=False), strict=True):
        items = []
        for k in range(3):
            name = getattr(row, f"reason_{k + 1}", None)
            impact = getattr(row, f"impact_{k + 1}", float("nan"))
            if isinstance(name, str) and math.isfinite(float(impact)):
                items.append({"code": f"feature_{name}", "value": round(float(impact), 3)})
        out[cid] = items
    return out


def _preferences(
    lines: pd.DataFrame, channels: pd.DataFrame, preferred: pd.Series, index: pd.Index
) -> list[dict[str, Any]]:
    """Top three categories by spend, and the preferred channel (set on the contact, or the
    kind of activity most often logged with them).

    Categories are ranked on integer codes (spend descending, then name), so that millions of
    lines are grouped without hashing a string per line.
    """
    n = len(index)
    columns: list[list[Any]] = [[None] * n for _ in range(3)]
    cats = lines[lines["category"] != ""]
    if len(cats):
        codes, names = pd.factorize(cats["category"].to_numpy(object))
        names = np.asarray(names, dtype=object)
        spend = (
            pd.DataFrame(
                {
                    "customer": cats["customer_id"].to_numpy(),
                    "code": codes,
                    "amount": cats["amount"].to_numpy(float),
                }
            )
            .groupby(["customer", "code"], sort=False)["amount"]
            .sum()
        )
        customer = spend.index.get_level_values(0).to_numpy()
        code = spend.index.get_level_values(1).to_numpy()
        name_rank = np.empty(len(names), dtype=np.int64)
        name_rank[np.argsort(names.astype(str), kind="stable")] = np.arange(len(names))
        order = np.lexsort((name_rank[code], -spend.to_numpy(float), customer))
        customer, code = customer[order], code[order]
        position = np.arange(len(customer))
        first = np.ones(len(customer), dtype=bool)
        first[1:] = customer[1:] != customer[:-1]
        rank = position - np.maximum.accumulate(np.where(first, position, 0))
        rows = index.get_indexer(customer)
        for k in range(3):
            chosen = (rank == k) & (rows >= 0)
            column = np.full(n, None, dtype=object)
            column[rows[chosen]] = names[code[chosen]]
            columns[k] = column.tolist()
    used: dict[Any, str] = {}
    if len(channels):
        best = channels.sort_values(["customer_id", "count", "kind"], ascending=[True, False, True])
        used = best.drop_duplicates("customer_id").set_index("customer_id")["kind"].to_dict()
    set_channel = preferred.to_dict()
    out = []
    for cid, c1, c2, c3 in zip(index.tolist(), *columns, strict=True):
        chosen = set_channel.get(cid) or ""
        fallback = used.get(cid, "")
        out.append(
            {
                "categories": [c for c in (c1, c2, c3) if c is not None],
                "channel": chosen or fallback,
                "channel_source": "contact" if chosen else ("activity" if fallback else ""),
            }
        )
    return out


def compute_customer_insights(
    lines: pd.DataFrame,
    customers: pd.Index,
    as_of: pd.Timestamp,
    *,
    engagement: pd.Series | None = None,
    channels: pd.DataFrame | None = None,
    preferred_channel: pd.Series | None = None,
    churn_label_days: int | None = None,
    months: int = 12,
    monthly_discount_rate: float = 0.01,
) -> ComputeResult:
    """Insights for ``customers`` (contact ids) from order ``lines`` up to ``as_of``.

    ``lines``: one row per order line with ``customer_id``, ``date`` (naive UTC datetime),
    ``amount`` and ``category``. ``engagement``: activities per customer in the last 90 days.
    ``channels``: rows ``customer_id, kind, count`` of logged activities. Raises ValueError for
    invalid parameters (the run then fails and the previous results stay).
    """
    if months < 1 or monthly_discount_rate <= -1:
        raise ValueError("months must be >= 1 and the monthly discount rate > -1")
    as_of = pd.Timestamp(as_of).normalize()
    lines = lines[pd.to_datetime(lines["date"]) < as_of + pd.Timedelta(days=1)]
    engagement = engagement if engagement is not None else pd.Series(dtype=float)
    channels = (
        channels
        if channels is not None
        else pd.DataFrame({"customer_id": [], "kind": [], "count": []})
    )
    preferred_channel = (
        preferred_channel if preferred_channel is not None else pd.Series(dtype=object)
    )
    index = pd.Index(
        sorted(set(customers) | set(lines["customer_id"].unique())), name="customer_id"
    )
    metrics: dict[str, Any] = {"model_version": MODEL_VERSION, "as_of": str(as_of.date())}

    days = rfm.purchase_days(lines).rename(columns={"day": "date"})
    buyers = pd.Index(days["customer_id"].unique())
    out = pd.DataFrame(index=index)
    if len(days):
        scores = rfm.compute_rfm(days, as_of)
        summary = rfm.summary_data_from_transactions(days, as_of)
    else:
        scores = pd.DataFrame(columns=["r_score", "f_score", "m_score", "rfm_code"])
        summary = pd.DataFrame(columns=["frequency", "recency", "T", "monetary_value"])
    for col in ("r_score", "f_score", "m_score", "rfm_code"):
        out[col] = scores[col].reindex(index) if col in scores else None

    bg_fit = _fit_bgnbd(summary)
    gg_fit = _fit_gamma_gamma(summary) if bg_fit is not None else None
    bg = bg_fit[0] if bg_fit is not None else None
    gg = gg_fit[0] if gg_fit is not None else None
    p_alive = pd.Series(np.nan, index=index)
    expected = pd.Series(np.nan, index=index)
    value = pd.Series(np.nan, index=index)
    if bg is not None:
        x = summary["frequency"].to_numpy(float)
        t_x = summary["recency"].to_numpy(float)
        big_t = summary["T"].to_numpy(float)
        p_alive.loc[summary.index] = clv.bgnbd_p_alive(bg, x, t_x, big_t)
        horizon = months / 12 * WEEKS_PER_YEAR
        expected.loc[summary.index] = clv.bgnbd_conditional_expected_purchases(
            bg, horizon, x, t_x, big_t
        )
        metrics["bgnbd"] = {
            "r": bg.r,
            "alpha": bg.alpha,
            "a": bg.a,
            "b": bg.b,
            "log_likelihood": _finite(bg.log_likelihood),
            "converged": bool(bg.converged),
            "penalizer": bg_fit[1] if bg_fit is not None else None,
            "freq_days": 7,
        }
        if gg is not None:
            value.loc[summary.index] = clv.customer_lifetime_value(
                bg,
                gg,
                x,
                t_x,
                big_t,
                summary["monetary_value"].to_numpy(float),
                months=months,
                monthly_discount_rate=monthly_discount_rate,
            )
            metrics["gamma_gamma"] = {
                "p": gg.p,
                "q": gg.q,
                "v": gg.v,
                "penalizer": gg_fit[1] if gg_fit is not None else None,
            }
    out["p_alive"] = p_alive
    out["expected_purchases"] = expected
    out["clv"] = value

    activity = lifecycle.activity_from_transactions(
        days,
        as_of,
        customers=index,
        engagement=engagement,
        p_alive=p_alive if bg is not None else None,
    )
    out["orders"] = activity["n_orders"].astype(int)
    out["monetary"] = activity["monetary"].fillna(0.0)
    out["recency_days"] = activity["days_since_last"]
    out["first_purchase"] = (
        as_of - pd.to_timedelta(activity["days_since_first"], unit="D")
    ).dt.date
    out["last_purchase"] = (as_of - pd.to_timedelta(activity["days_since_last"], unit="D")).dt.date
    out["engagement"] = activity["engagement"].astype(int)
    stages = lifecycle.lifecycle_stage(activity)
    out["stage"] = stages.astype(str)
    out["health"] = lifecycle.health_score(activity)

    if bg is not None:
        risk = 1.0 - p_alive.fillna(1.0)
        metrics["churn_model"] = "p_alive"
    else:
        last = activity["days_since_last"].to_numpy(float)
        risk = pd.Series(np.where(np.isnan(last), 0.0, 1.0 - 0.5 ** (last / 90.0)), index=index)
        metrics["churn_model"] = "recency"
    reasons_by_id = dict(zip(index.tolist(), _rule_reasons(activity), strict=True))
    supervised = _supervised_churn(days, as_of, churn_label_days) if churn_label_days else None
    if supervised is not None:
        prob, model_reasons, churn_metrics = supervised
        prob = prob.reindex(index)
        has_prob = prob.notna()
        base = (1.0 - p_alive).where(p_alive.notna(), prob)
        blended = BLEND_WEIGHT * prob + (1 - BLEND_WEIGHT) * base
        risk = risk.where(~has_prob, blended)
        metrics["churn_model"] = "supervised+p_alive" if bg is not None else "supervised"
        metrics["churn"] = churn_metrics
        for cid, items in _model_reasons(model_reasons, prob.index[has_prob]).items():
            reasons_by_id[cid] = items or reasons_by_id[cid]
    elif churn_label_days:
        metrics["churn"] = {"label_days": churn_label_days, "skipped": "not enough history"}
    prospects = out["orders"].to_numpy() == 0
    out["churn_risk"] = np.where(prospects, 0.0, np.clip(risk.to_numpy(float), 0.0, 1.0))
    out["churn_reasons"] = [reasons_by_id[cid] for cid in index.tolist()]

    segments = pd.Series(-1, index=index)
    names = pd.Series(lifecycle.NO_PURCHASE_SEGMENT, index=index)
    if len(buyers) >= MIN_SEGMENT_BUYERS:
        try:
            seg = lifecycle.segment_customers(activity)
            segments, names = seg.labels, seg.names
            metrics["segmentation"] = {"k": seg.k, "silhouettes": seg.silhouettes}
        except ValueError:
            pass
    if "segmentation" not in metrics and len(buyers):
        has_orders = out["orders"] > 0
        segments = segments.where(~has_orders, 0)
        names = names.where(~has_orders, "all customers")
    out["segment"] = segments.astype(int)
    out["segment_name"] = names.astype(str)

    actions = lifecycle.recommended_actions(stages, activity["open_tickets"])
    out["actions"] = [
        [a, b]
        for a, b in zip(
            actions["primary_action"].tolist(), actions["secondary_action"].tolist(), strict=True
        )
    ]
    out["preferences"] = _preferences(lines, channels, preferred_channel, index)
    metrics["segments"] = segment_summary(out)
    metrics["stages"] = {str(k): int(v) for k, v in out["stage"].value_counts().items()}
    metrics["customers"] = len(out)
    metrics["buyers"] = len(buyers)
    return ComputeResult(customers=out, metrics=metrics)


def segment_summary(out: pd.DataFrame) -> list[dict[str, Any]]:
    """Per segment: size, mean recency/orders/spend, total 12-month value, mean churn risk."""
    rows = []
    for seg_id, group in out.groupby("segment", sort=True):
        clv_values = group["clv"].astype(float)
        rows.append(
            {
                "segment": int(seg_id),
                "name": str(group["segment_name"].iloc[0]),
                "customers": len(group),
                "mean_recency_days": _finite(group["recency_days"].astype(float).mean()),
                "mean_orders": _finite(group["orders"].astype(float).mean()) or 0.0,
                "total_spend": round(float(group["monetary"].astype(float).sum()), 2),
                "total_clv_12m": round(float(clv_values.fillna(0).sum()), 2),
                "mean_churn_risk": round(float(group["churn_risk"].astype(float).mean()), 4),
            }
        )
    return rows
