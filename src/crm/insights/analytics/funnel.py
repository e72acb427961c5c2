"""Sales funnel metrics from the stage-change history of opportunities.

Pure numpy / pandas: no Django imports.  Input is one row per stage change (the
``StageChange`` table): ``opportunity_id``, ``from_stage`` (null on creation), ``to_stage``,
``at`` (timestamp) and ``amount`` (the opportunity amount recorded with the change), plus the
pipeline's stages (:class:`StageInfo` or a DataFrame with ``stage``, ``order``, ``is_won``,
``is_lost`` and optionally ``probability`` in percent).  Everything is vectorised (one sort and
a few ``reduceat`` / ``bincount`` passes): a million changes take well under a second.

Definitions (``k`` is an *open* stage, i.e. neither won nor lost; open stages are ranked by
``order``):

* **current stage** -- the ``to_stage`` of the deal's latest change (ties on ``at`` keep the
  input order).  A deal is *won* / *lost* / *open* by its current stage.
* **reached k** -- the deal is won, or it was ever in ``k`` or in a later open stage (as
  ``to_stage`` or ``from_stage`` of any of its changes).  Skipping a stage counts as passing
  it; a won deal has passed every open stage.
* **exited k** -- reached ``k`` and its current stage is not ``k``.
* **conversion to next** -- among deals that exited ``k``, the share that reached the next
  open stage or beyond (for the last open stage: the share won).  Deals still sitting in ``k``
  are left out, so young deals do not drag the rate down.
* **conversion to won** -- among deals that reached ``k`` and are closed (won or lost), the
  share won.  Open deals are left out.
* **average amount** -- per deal that was ever *in* ``k`` (skipping deals are not counted),
  the amount recorded on its latest entry into ``k``, averaged.
* **days in stage** -- one value per completed visit: the time from entering ``k`` to the deal's
  next stage change, in days; the mean and the median over visits.  Visits still in progress
  are not counted (``open_days_mean`` reports their age at ``as_of`` instead).
* **win rate** -- won / (won + lost) over all closed deals.
* **average won amount** -- mean current amount of won deals.
* **average cycle days** -- mean time from a won deal's first change (creation) to its latest
  change (the win), in days.
* **sales velocity** -- open deals x win rate x average won amount / average cycle days: the
  expected amount won per day at the current pace.
* **cohorts** -- deals by the calendar month of their first change (in ``tz``), counted by
  current stage, with open / won / lost totals and the cohort's win rate so far.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from numpy.typing import NDArray

__all__ = [
    "FunnelReport",
    "StageInfo",
    "funnel_metrics",
    "stage_table",
]

NS_PER_DAY = 86_400 * 10**9
CHANGE_COLUMNS = ("opportunity_id", "from_stage", "to_stage", "at", "amount")


@dataclass(frozen=True)
class StageInfo:
    """One stage of a pipeline; ``probability`` is the nominal win probability in percent."""

    key: Hashable
    order: int
    is_won: bool = False
    is_lost: bool = False
    probability: float | None = None


def stage_table(stages: Sequence[StageInfo] | pd.DataFrame) -> pd.DataFrame:
    """Normalise stages to a DataFrame indexed by stage key, sorted by ``order``.

    Columns: ``order``, ``is_won``, ``is_lost``, ``is_open``, ``probability`` (percent, NaN if
    unknown) and ``open_rank`` (0.. for open stages in order, -1 for closed ones).
    """
    if isinstance(stages, pd.DataFrame):
        df = stages.copy()
        if "stage" in df.columns:
            df = df.set_index("stage")
    else:
        df = pd.DataFrame(
            {
                "order": [s.order for s in stages],
                "is_won": [s.is_won for s in stages],
                "is_lost": [s.is_lost for s in stages],
                "probability": [s.probability for s in stages],
            },
            index=pd.Index([s.key for s in stages], name="stage"),
        )
    if df.index.has_duplicates:
        raise ValueError("stage keys must be unique")
    for col in ("is_won", "is_lost"):
        df[col] = df[col].fillna(False).astype(bool) if col in df.columns else False
    if "probability" not in df.columns:
        df["probability"] = np.nan
    df["probability"] = pd.to_numeric(df["probability"], errors="coerce").astype(float)
    df["order"] = pd.to_numeric(df["order"]).astype(int)
    df = df.iloc[np.argsort(df["order"].to_numpy(), kind="stable")]
    df["is_open"] = ~(df["is_won"] | df["is_lost"])
    rank = np.full(len(df), -1)
    rank[df["is_open"].to_numpy()] = np.arange(int(df["is_open"].sum()))
    df["open_rank"] = rank
    df.index.name = "stage"
    return df[["order", "is_won", "is_lost", "is_open", "probability", "open_rank"]]


def to_ns(values: pd.Series | Sequence[object] | NDArray[np.generic]) -> NDArray[np.int64]:
    """Timestamps as int64 nanoseconds since the epoch, UTC (naive values are taken as UTC)."""
    ts = pd.to_datetime(pd.Series(values), utc=True)
    return ts.dt.as_unit("ns").array.asi8.astype(np.int64, copy=False)


@dataclass(frozen=True)
class _Deals:
    """Per-deal arrays (index = deal) and per-change arrays in (deal, time) order."""

    ids: pd.Index
    current: NDArray[np.int64]  # stage code of the current stage
    progress: NDArray[np.int64]  # highest open rank ever occupied (-1: none)
    won: NDArray[np.bool_]
    lost: NDArray[np.bool_]
    created_ns: NDArray[np.int64]
    last_ns: NDArray[np.int64]
    amount: NDArray[np.float64]
    # per change, sorted
    deal_of_row: NDArray[np.int64]
    stage_of_row: NDArray[np.int64]
    at_ns: NDArray[np.int64]
    amount_of_row: NDArray[np.float64]
    is_last_row: NDArray[np.bool_]
    dropped_rows: int


def _deal_time_order(deal: NDArray[np.int64], at: NDArray[np.int64]) -> NDArray[np.int64]:
    """Permutation sorting rows by (deal, time, input position).

    Already-sorted input (the database's natural order) costs one pass; otherwise one stable
    argsort of a packed key (deal code in the high bits, milliseconds in the low 39 bits, which
    cover 17 years), with exact nanosecond order restored for the rare same-millisecond ties by
    a lexsort; ``np.lexsort`` on both columns when the key does not fit.
    """
    n = deal.shape[0]
    if n < 2:
        return np.arange(n)
    same = deal[1:] == deal[:-1]
    if bool(np.all((deal[1:] > deal[:-1]) | (same & (at[1:] >= at[:-1])))):
        return np.arange(n)
    ms = at // 1_000_000
    span = int(ms.max() - ms.min())
    if span < 2**39 and int(deal.max()) < 2**24:
        key = (deal.astype(np.int64) << 39) | (ms - ms.min())
        order = np.argsort(key, kind="stable")
        ds, ts = deal[order], at[order]
        tie = (ds[1:] == ds[:-1]) & (ts[1:] < ts[:-1])
        if not tie.any():
            return order
    return np.lexsort((np.arange(n), at, deal))


def _deals(changes: pd.DataFrame, table: pd.DataFrame) -> _Deals:
    missing = [c for c in CHANGE_COLUMNS if c not in changes.columns]
    if missing:
        raise ValueError(f"stage changes lack columns: {', '.join(missing)}")
    index = table.index
    to_code = index.get_indexer(changes["to_stage"])
    from_code = index.get_indexer(changes["from_stage"])
    keep = to_code >= 0
    dropped = int((~keep).sum())
    at = to_ns(changes["at"])
    amount = pd.to_numeric(changes["amount"], errors="coerce").to_numpy(dtype=float)
    opp_codes, opp_ids = pd.factorize(changes["opportunity_id"], sort=False)
    keep &= opp_codes >= 0
    if not keep.all():
        to_code, from_code, at, amount, opp_codes = (
            a[keep] for a in (to_code, from_code, at, amount, opp_codes)
        )
    n = to_code.shape[0]
    order = _deal_time_order(opp_codes, at)
    deal = opp_codes[order]
    to_s = to_code[order]
    from_s = from_code[order]
    at_s = at[order]
    amount_s = amount[order]
    if n:
        starts = np.flatnonzero(np.r_[True, deal[1:] != deal[:-1]])
    else:
        starts = np.empty(0, dtype=np.int64)
    ends = np.r_[starts[1:], n] - 1 if n else starts
    open_rank = table["open_rank"].to_numpy()
    rank_to = open_rank[to_s] if n else to_s
    rank_from = np.where(from_s >= 0, open_rank[np.maximum(from_s, 0)], -1) if n else from_s
    row_rank = np.maximum(rank_to, rank_from)
    progress = np.maximum.reduceat(row_rank, starts) if n else np.empty(0, dtype=np.int64)
    current = to_s[ends]
    is_last = np.zeros(n, dtype=bool)
    is_last[ends] = True
    return _Deals(
        ids=pd.Index(opp_ids[deal[starts]] if n else opp_ids[:0], name="opportunity_id"),
        current=current.astype(np.int64),
        progress=progress.astype(np.int64),
        won=table["is_won"].to_numpy()[current],
        lost=table["is_lost"].to_numpy()[current],
        created_ns=at_s[starts],
        last_ns=at_s[ends],
        amount=amount_s[ends],
        deal_of_row=np.repeat(np.arange(starts.shape[0]), np.diff(np.r_[starts, n])),
        stage_of_row=to_s.astype(np.int64),
        at_ns=at_s,
        amount_of_row=amount_s,
        is_last_row=is_last,
        dropped_rows=dropped,
    )


@dataclass(frozen=True)
class FunnelReport:
    """Funnel metrics; see the module docstring for the exact definitions.

    ``stages`` is indexed by stage key in pipeline order with columns ``order``, ``is_open``,
    ``reached``, ``in_stage`` (open deals currently there), ``exited``, ``converted_next``,
    ``conversion_next``, ``closed``, ``won``, ``conversion_won``, ``avg_amount``,
    ``amount_deals``, ``visits`` (completed), ``avg_days``, ``median_days``,
    ``open_days_mean``.  ``cohorts`` is indexed by month (``Period[M]``) with one column per
    stage plus ``deals``, ``open``, ``won``, ``lost`` and ``win_rate``.
    """

    stages: pd.DataFrame
    deals: int
    open_deals: int
    won: int
    lost: int
    win_rate: float
    avg_won_amount: float
    avg_cycle_days: float
    sales_velocity: float
    cohorts: pd.DataFrame
    notes: tuple[str, ...] = field(default=())


def _ratio(num: float, den: float) -> float:
    return float(num) / float(den) if den else math.nan


def funnel_metrics(
    changes: pd.DataFrame,
    stages: Sequence[StageInfo] | pd.DataFrame,
    *,
    as_of: object | None = None,
    tz: str = "UTC",
) -> FunnelReport:
    """Funnel metrics from stage changes (see the module docstring for the definitions).

    ``as_of`` (default: the latest change) is used only for the age of visits in progress.
    ``tz`` sets the calendar for the monthly cohorts.  Rows whose ``to_stage`` is not one of
    ``stages`` are ignored (counted in ``notes``).
    """
    table = stage_table(stages)
    d = _deals(changes, table)
    n_stages = len(table)
    n_deals = d.current.shape[0]
    notes = []
    if d.dropped_rows:
        notes.append(f"{d.dropped_rows} changes to unknown stages ignored")

    open_mask = table["is_open"].to_numpy()
    open_codes = np.flatnonzero(open_mask)
    n_open_stages = open_codes.shape[0]
    closed = d.won | d.lost

    # Visits: a change enters its to_stage; the visit ends at the deal's next change.
    completed = ~d.is_last_row
    next_at = np.r_[d.at_ns[1:], 0]
    dur_days = (next_at - d.at_ns)[completed] / NS_PER_DAY
    visit_stage = d.stage_of_row[completed]
    visits = np.bincount(visit_stage, minlength=n_stages)
    dur_sum = np.bincount(visit_stage, weights=dur_days, minlength=n_stages)
    medians = (
        pd.Series(dur_days).groupby(visit_stage).median()
        if dur_days.shape[0]
        else pd.Series(dtype=float)
    )
    median_days = medians.reindex(range(n_stages)).to_numpy(dtype=float)

    as_of_ns = int(to_ns([as_of])[0]) if as_of is not None else int(d.at_ns.max(initial=0))
    in_progress = d.is_last_row & open_mask[d.stage_of_row] if n_deals else d.is_last_row
    age_days = (as_of_ns - d.at_ns[in_progress]) / NS_PER_DAY
    age_stage = d.stage_of_row[in_progress]
    open_count = np.bincount(age_stage, minlength=n_stages)
    open_age = np.bincount(age_stage, weights=age_days, minlength=n_stages)

    # Amount on each deal's latest entry into a stage.
    key = pd.Series(d.deal_of_row * n_stages + d.stage_of_row)
    latest = ~key.duplicated(keep="last").to_numpy()
    entry_stage = d.stage_of_row[latest]
    entry_amount = d.amount_of_row[latest]
    good = np.isfinite(entry_amount)
    amount_deals = np.bincount(entry_stage[good], minlength=n_stages)
    amount_sum = np.bincount(entry_stage[good], weights=entry_amount[good], minlength=n_stages)

    rows = {name: np.full(n_stages, np.nan) for name in ("reached", "exited", "converted_next")}
    rows |= {name: np.full(n_stages, np.nan) for name in ("closed", "won_from")}
    for rank, code in enumerate(open_codes):
        reached = d.won | (d.progress >= rank)
        reached_next = d.won | (d.progress >= rank + 1) if rank + 1 < n_open_stages else d.won
        exited = reached & (d.current != code)
        rows["reached"][code] = reached.sum()
        rows["exited"][code] = exited.sum()
        rows["converted_next"][code] = (exited & reached_next).sum()
        rows["closed"][code] = (reached & closed).sum()
        rows["won_from"][code] = (reached & d.won).sum()
    current_counts = np.bincount(d.current, minlength=n_stages) if n_deals else np.zeros(n_stages)
    for code in np.flatnonzero(~open_mask):
        rows["reached"][code] = current_counts[code]

    with np.errstate(invalid="ignore", divide="ignore"):
        out = pd.DataFrame(
            {
                "order": table["order"].to_numpy(),
                "is_open": open_mask,
                "reached": rows["reached"],
                "in_stage": np.where(open_mask, current_counts, 0),
                "exited": rows["exited"],
                "converted_next": rows["converted_next"],
                "conversion_next": rows["converted_next"] / rows["exited"],
                "closed": rows["closed"],
                "won": rows["won_from"],
                "conversion_won": rows["won_from"] / rows["closed"],
                "avg_amount": np.where(amount_deals > 0, amount_sum / amount_deals, np.nan),
                "amount_deals": amount_deals,
                "visits": visits,
                "avg_days": np.where(visits > 0, dur_sum / visits, np.nan),
                "median_days": median_days,
                "open_days_mean": np.where(open_count > 0, open_age / open_count, np.nan),
            },
            index=table.index,
        )
    for col in ("reached", "exited", "converted_next", "closed", "won"):
        out[col] = out[col].astype("Int64") if out[col].isna().any() else out[col].astype(int)

    n_won = int(d.won.sum())
    n_lost = int(d.lost.sum())
    n_open = n_deals - n_won - n_lost
    win_rate = _ratio(n_won, n_won + n_lost)
    won_amounts = d.amount[d.won]
    won_amounts = won_amounts[np.isfinite(won_amounts)]
    avg_won = float(won_amounts.mean()) if won_amounts.shape[0] else math.nan
    cycle = (d.last_ns[d.won] - d.created_ns[d.won]) / NS_PER_DAY
    avg_cycle = float(cycle.mean()) if cycle.shape[0] else math.nan
    velocity = (
        n_open * win_rate * avg_won / avg_cycle
        if avg_cycle and math.isfinite(avg_cycle) and avg_cycle > 0
        else math.nan
    )
    return FunnelReport(
        stages=out,
        deals=n_deals,
        open_deals=n_open,
        won=n_won,
        lost=n_lost,
        win_rate=win_rate,
        avg_won_amount=avg_won,
        avg_cycle_days=avg_cycle,
        sales_velocity=float(velocity),
        cohorts=_cohorts(d, table, tz),
        notes=tuple(notes),
    )


def _cohorts(d: _Deals, table: pd.DataFrame, tz: str) -> pd.DataFrame:
    n_stages = len(table)
    columns = [*table.index, "deals", "open", "won", "lost", "win_rate"]
    if d.current.shape[0] == 0:
        return pd.DataFrame(columns=columns, index=pd.PeriodIndex([], freq="M", name="cohort"))
    created = pd.DatetimeIndex(d.created_ns.view("datetime64[ns]")).tz_localize("UTC")
    created = created.tz_convert(tz)
    months = created.tz_localize(None).to_period("M")
    codes, uniques = pd.factorize(months, sort=True)
    counts = np.bincount(codes * n_stages + d.current, minlength=len(uniques) * n_stages)
    grid = counts.reshape(len(uniques), n_stages)
    out = pd.DataFrame(grid, index=pd.PeriodIndex(uniques, name="cohort"), columns=table.index)
    won_cols = table.index[table["is_won"].to_numpy()]
    lost_cols = table.index[table["is_lost"].to_numpy()]
    open_cols = table.index[table["is_open"].to_numpy()]
    out["deals"] = grid.sum(axis=1)
    out["open"] = out[open_cols].sum(axis=1)
    out["won"] = out[won_cols].sum(axis=1)
    out["lost"] = out[lost_cols].sum(axis=1)
    closed = out["won"] + out["lost"]
    out["win_rate"] = (out["won"] / closed.where(closed > 0)).astype(float)
    out.columns.name = None
    return out
