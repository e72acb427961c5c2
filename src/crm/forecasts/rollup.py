"""Pure roll-ups of a pipeline forecast per rep and team, against prorated quotas.

No Django imports: the selectors feed plain data frames (amounts as floats, dates as
``datetime.date``) and render the results.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date

import numpy as np
import pandas as pd

__all__ = ["ROLLUP_COLUMNS", "prorated_quotas", "rollup"]

#: Columns of :func:`rollup`'s result, in display order.
ROLLUP_COLUMNS: tuple[str, ...] = (
    "deals",
    "closed_won",
    "commit",
    "best_case",
    "pipeline",
    "weighted_stage",
    "weighted_win_rate",
    "quota",
    "attainment",
    "commit_vs_quota",
)


def prorated_quotas(quotas: pd.DataFrame, start: date, end: date) -> pd.Series:
    """Quota per member for the period ``[start, end]`` (inclusive), prorated by days.

    ``quotas`` has ``member_id``, ``period_start``, ``period_end`` and ``amount``.  A quota
    counts with the share of its days that fall inside the period: a monthly quota of 30,000
    counts 10,000 in a period covering ten of its thirty days.  A member's quota periods never
    overlap (the service refuses it), so no day is counted twice.
    """
    if quotas.empty:
        return pd.Series(dtype=float, name="quota")
    q_start = pd.to_datetime(quotas["period_start"]).to_numpy()
    q_end = pd.to_datetime(quotas["period_end"]).to_numpy()
    p_start = np.datetime64(pd.Timestamp(start))
    p_end = np.datetime64(pd.Timestamp(end))
    day = np.timedelta64(1, "D")
    length = (q_end - q_start) / day + 1
    overlap = (np.minimum(q_end, p_end) - np.maximum(q_start, p_start)) / day + 1
    share = np.clip(overlap, 0, None) / length
    amount = pd.to_numeric(quotas["amount"], errors="coerce").fillna(0.0).to_numpy(float)
    prorated = pd.Series(amount * share, index=quotas["member_id"].to_numpy())
    return prorated.groupby(level=0).sum().rename("quota")


def _ratio(num: pd.Series, den: pd.Series) -> pd.Series:
    with np.errstate(invalid="ignore", divide="ignore"):
        return (num / den.where(den > 0)).astype(float)


def rollup(
    deals: pd.DataFrame,
    closed: pd.DataFrame,
    quotas: pd.Series,
    key: str,
    *,
    keys: Sequence[object] = (),
) -> pd.DataFrame:
    """Forecast categories per ``key`` (``owner_id`` or ``team_id``) against quota.

    ``deals``: the forecast's open deals with ``key``, ``amount``, ``category``, ``in_period``,
    ``weighted_stage`` and ``weighted_win_rate``; ``closed``: deals won in the period with
    ``key`` and ``amount``; ``quotas``: quota per ``key`` value.  The roll-up is cumulative as
    in :mod:`crm.insights.analytics.pipeline`: commit = closed won + commit, best case =
    commit + best case, pipeline = best case + pipeline; ``omitted`` deals count nowhere.
    ``attainment`` = closed won / quota, ``commit_vs_quota`` = commit / quota (NaN without a
    quota).  Rows: every value in ``keys`` plus every value met in the data.
    """
    in_period = deals.loc[deals["in_period"].astype(bool) & (deals["category"] != "omitted")]
    amounts = (
        in_period.pivot_table(
            index=key, columns="category", values="amount", aggfunc="sum", fill_value=0.0
        )
        if not in_period.empty
        else pd.DataFrame()
    )
    index = pd.Index(
        list(dict.fromkeys([*keys, *in_period[key], *closed[key], *quotas.index])), name=key
    )
    out = pd.DataFrame(index=index)
    out["deals"] = in_period.groupby(key).size().reindex(index, fill_value=0).astype(int)
    out["closed_won"] = closed.groupby(key)["amount"].sum().reindex(index, fill_value=0.0)

    def category(name: str) -> pd.Series:
        if name in amounts.columns:
            return amounts[name].reindex(index, fill_value=0.0).astype(float)
        return pd.Series(0.0, index=index)

    out["commit"] = out["closed_won"] + category("commit")
    out["best_case"] = out["commit"] + category("best_case")
    out["pipeline"] = out["best_case"] + category("pipeline")
    for column in ("weighted_stage", "weighted_win_rate"):
        sums = in_period.groupby(key)[column].sum() if not in_period.empty else pd.Series()
        out[column] = sums.reindex(index, fill_value=0.0).astype(float)
    out["quota"] = quotas.reindex(index).astype(float)
    out["attainment"] = _ratio(out["closed_won"], out["quota"])
    out["commit_vs_quota"] = _ratio(out["commit"], out["quota"])
    return out[list(ROLLUP_COLUMNS)]


def clean(value: object) -> float | None:
    """A float for JSON: NaN and infinities become None."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None
