"""Pipeline forecast for a period: weighted amounts, forecast categories and what-if overrides.

Pure numpy / pandas: no Django imports.

Inputs

* ``opportunities`` -- the open deals, one row each: ``opportunity_id``, ``stage``, ``amount``
  and optionally ``expected_close_date``, ``stage_entered_at``, ``probability`` (the deal's own
  nominal probability in percent, overriding the stage's) and ``forecast_category``
  (``commit`` / ``best_case`` / ``pipeline`` / ``omitted``, set by the rep).  Rows in won or
  lost stages are ignored.
* ``stages`` -- as for :func:`crm.insights.analytics.funnel.funnel_metrics`.
* ``win_rates`` -- optional, from :func:`stage_win_rates`: what history says about each stage.

Per deal

* **nominal probability** ``p_nominal`` -- the deal's ``probability``, else its stage's, in 0..1.
* **win rate** ``p_win`` -- the what-if override for its stage, else the learned rate of its
  stage (``win_rates.rate``), else ``p_nominal``.
* **close date** -- ``expected_close_date`` when given (and ``use_expected_close``), else
  ``as_of`` + the expected remaining time: what is left of the stage's average days
  (``max(0, avg_days - days already in the stage)``) plus the average days of every later open
  stage.  A cycle-time what-if shifts every close date by the change in that remaining time.
  Open deals cannot close in the past: dates before ``as_of`` become ``as_of``.
* **category** -- the rep's ``forecast_category`` when given, else ``commit`` when
  ``p_win >= commit_threshold``, ``best_case`` when ``p_win >= best_case_threshold``, else
  ``pipeline``.

Totals over the deals whose close date falls in the period (inclusive), ``omitted`` excluded:

* ``weighted_stage`` = sum of amount x p_nominal; ``weighted_win_rate`` = sum of amount x p_win.
* ``commit`` = closed won + commit amounts; ``best_case`` = commit + best-case amounts;
  ``pipeline`` = best case + pipeline amounts (the usual cumulative roll-up).

:func:`what_if` re-runs a forecast with :class:`WhatIf` overrides (win rate, average deal size,
days in stage, per stage) and returns a new :class:`PipelineForecast`; nothing is mutated.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
import pandas as pd

from crm.insights.analytics.funnel import StageInfo, funnel_metrics, stage_table

__all__ = [
    "CATEGORIES",
    "PipelineForecast",
    "PipelineSettings",
    "WhatIf",
    "pipeline_forecast",
    "stage_win_rates",
    "what_if",
]

CATEGORIES: tuple[str, ...] = ("commit", "best_case", "pipeline", "omitted")
_Z95 = 1.959963984540054


def _wilson(successes: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score 95% interval for a binomial proportion (NaN where ``n == 0``)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        p = successes / n
        z2 = _Z95 * _Z95
        centre = (p + z2 / (2 * n)) / (1 + z2 / n)
        half = _Z95 * np.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    low = np.where(n > 0, centre - half, np.nan)
    high = np.where(n > 0, centre + half, np.nan)
    return low, high


def stage_win_rates(
    changes: pd.DataFrame,
    stages: Sequence[StageInfo] | pd.DataFrame,
    *,
    prior_weight: float = 10.0,
) -> pd.DataFrame:
    """Win rate from each open stage learned from the stage-change history.

    For open stage ``k``: ``n`` = closed deals that reached ``k`` (as defined in
    :mod:`~crm.insights.analytics.funnel`), ``won`` = those won, ``raw_rate = won / n`` with a
    Wilson 95% interval (``low``, ``high``).  ``rate`` shrinks the raw rate toward the stage's
    nominal probability with ``prior_weight`` pseudo-deals,
    ``(won + prior_weight * nominal) / (n + prior_weight)``, so a stage seen five times does not
    get a rate of 0 or 1 (the overall win rate stands in for a missing nominal probability).
    ``avg_days`` / ``median_days`` are the funnel's days in stage.  Won stages get rate 1,
    lost stages 0.
    """
    report = funnel_metrics(changes, stages)
    table = stage_table(stages)
    st = report.stages
    n = st["closed"].astype(float).fillna(0).to_numpy()
    won = st["won"].astype(float).fillna(0).to_numpy()
    nominal = table["probability"].to_numpy() / 100.0
    prior = np.where(np.isfinite(nominal), nominal, report.win_rate)
    prior = np.where(np.isfinite(prior), prior, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        raw = np.where(n > 0, won / n, np.nan)
        rate = (won + prior_weight * prior) / (n + prior_weight)
    low, high = _wilson(won, n)
    is_open = table["is_open"].to_numpy()
    rate = np.where(is_open, rate, np.where(table["is_won"].to_numpy(), 1.0, 0.0))
    return pd.DataFrame(
        {
            "n": np.where(is_open, n, 0).astype(int),
            "won": np.where(is_open, won, 0).astype(int),
            "raw_rate": np.where(is_open, raw, np.nan),
            "low": np.where(is_open, low, np.nan),
            "high": np.where(is_open, high, np.nan),
            "nominal": nominal,
            "rate": rate,
            "avg_days": st["avg_days"].to_numpy(dtype=float),
            "median_days": st["median_days"].to_numpy(dtype=float),
        },
        index=table.index,
    )


@dataclass(frozen=True)
class WhatIf:
    """Overrides per stage key.

    * ``win_rate`` -- probability 0..1 used instead of the learned rate.
    * ``avg_deal_size`` -- the deals in the stage are scaled so that their mean amount becomes
      this (relative sizes kept; all set to it when the current mean is 0).
    * ``cycle_days`` -- average days in the stage used instead of the learned one (moves close
      dates, hence which deals fall in the period).
    """

    win_rate: Mapping[Hashable, float] = field(default_factory=dict)
    avg_deal_size: Mapping[Hashable, float] = field(default_factory=dict)
    cycle_days: Mapping[Hashable, float] = field(default_factory=dict)


@dataclass(frozen=True)
class PipelineSettings:
    """Everything besides the deals that a forecast depends on (kept for :func:`what_if`)."""

    period_start: pd.Timestamp
    period_end: pd.Timestamp
    as_of: pd.Timestamp
    commit_threshold: float = 0.7
    best_case_threshold: float = 0.4
    use_expected_close: bool = True
    closed_won: float = 0.0


@dataclass(frozen=True)
class PipelineForecast:
    """A period's pipeline forecast.

    ``deals`` has one row per open deal (inputs plus ``p_nominal``, ``p_win``, ``close_date``,
    ``in_period``, ``category``, ``weighted_stage``, ``weighted_win_rate``); ``by_stage`` and
    ``by_category`` sum the in-period deals (``deals``, ``amount``, ``weighted_stage``,
    ``weighted_win_rate``; ``by_stage`` also has ``win_rate`` and its sample size ``n``).
    """

    settings: PipelineSettings
    commit: float
    best_case: float
    pipeline: float
    weighted_stage: float
    weighted_win_rate: float
    deals_in_period: int
    by_stage: pd.DataFrame
    by_category: pd.DataFrame
    deals: pd.DataFrame
    overrides: WhatIf | None = None
    notes: tuple[str, ...] = ()
    # inputs, for what_if()
    _opportunities: pd.DataFrame | None = field(default=None, repr=False, compare=False)
    _stages: pd.DataFrame | None = field(default=None, repr=False, compare=False)
    _win_rates: pd.DataFrame | None = field(default=None, repr=False, compare=False)

    def totals(self) -> Mapping[str, float]:
        """The headline figures as a read-only mapping."""
        return MappingProxyType(
            {
                "closed_won": self.settings.closed_won,
                "commit": self.commit,
                "best_case": self.best_case,
                "pipeline": self.pipeline,
                "weighted_stage": self.weighted_stage,
                "weighted_win_rate": self.weighted_win_rate,
                "deals_in_period": float(self.deals_in_period),
            }
        )


def _day(value: object) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts.normalize()


def pipeline_forecast(
    opportunities: pd.DataFrame,
    stages: Sequence[StageInfo] | pd.DataFrame,
    period: tuple[object, object],
    *,
    win_rates: pd.DataFrame | None = None,
    as_of: object | None = None,
    closed_won: float = 0.0,
    commit_threshold: float = 0.7,
    best_case_threshold: float = 0.4,
    use_expected_close: bool = True,
    overrides: WhatIf | None = None,
) -> PipelineForecast:
    """Forecast the period ``(start, end)`` (dates, inclusive) from the open deals.

    ``as_of`` (default: the period start) is the day the forecast is made; ``closed_won`` the
    amount already won in the period.  See the module docstring for the definitions.
    """
    start, end = _day(period[0]), _day(period[1])
    if end < start:
        raise ValueError("period end is before its start")
    settings = PipelineSettings(
        period_start=start,
        period_end=end,
        as_of=_day(as_of) if as_of is not None else start,
        commit_threshold=commit_threshold,
        best_case_threshold=best_case_threshold,
        use_expected_close=use_expected_close,
        closed_won=float(closed_won),
    )
    return _compute(opportunities, stage_table(stages), win_rates, settings, overrides)


def what_if(base: PipelineForecast, overrides: WhatIf) -> PipelineForecast:
    """The forecast ``base`` recomputed with ``overrides`` (``base`` is left unchanged)."""
    if base._opportunities is None or base._stages is None:
        raise ValueError("the forecast does not carry its inputs")
    return _compute(base._opportunities, base._stages, base._win_rates, base.settings, overrides)


def _remaining_days(rank: np.ndarray, age: np.ndarray, days_by_rank: np.ndarray) -> np.ndarray:
    """Expected days left: the rest of the current stage plus every later open stage."""
    later = np.concatenate([np.cumsum(days_by_rank[::-1])[::-1][1:], [0.0]])
    return np.maximum(0.0, days_by_rank[rank] - age) + later[rank]


def _compute(
    opportunities: pd.DataFrame,
    table: pd.DataFrame,
    win_rates: pd.DataFrame | None,
    settings: PipelineSettings,
    overrides: WhatIf | None,
) -> PipelineForecast:
    missing = [c for c in ("opportunity_id", "stage", "amount") if c not in opportunities]
    if missing:
        raise ValueError(f"opportunities lack columns: {', '.join(missing)}")
    notes: list[str] = []
    ov = overrides or WhatIf()
    unknown = [k for m in (ov.win_rate, ov.avg_deal_size, ov.cycle_days) for k in m]
    unknown = [k for k in unknown if k not in table.index]
    if unknown:
        raise ValueError(f"unknown stages in overrides: {unknown}")
    for key, value in ov.win_rate.items():
        if not 0.0 <= float(value) <= 1.0:
            raise ValueError(f"win rate override for {key!r} must be within 0..1")

    deals = opportunities.copy()
    code = table.index.get_indexer(deals["stage"])
    is_open = np.zeros(len(deals), dtype=bool)
    is_open[code >= 0] = table["is_open"].to_numpy()[code[code >= 0]]
    if not is_open.all():
        notes.append(f"{int((~is_open).sum())} deals not in an open stage ignored")
    deals = deals.loc[is_open].reset_index(drop=True)
    code = code[is_open]
    stage_keys = table.index[code]
    open_table = table[table["is_open"]]
    rank = table["open_rank"].to_numpy()[code]
    amount = np.array(pd.to_numeric(deals["amount"], errors="coerce").fillna(0.0), dtype=float)

    # Average deal size what-if: scale each overridden stage's amounts to the target mean.
    for key, target in ov.avg_deal_size.items():
        mask = np.asarray(stage_keys == key)
        if not mask.any():
            continue
        current = float(amount[mask].mean())
        amount[mask] = amount[mask] * (target / current) if current else float(target)
    deals["amount"] = amount

    nominal = table["probability"].to_numpy()[code] / 100.0
    if "probability" in deals:
        own = pd.to_numeric(deals["probability"], errors="coerce").to_numpy(dtype=float) / 100.0
        nominal = np.where(np.isfinite(own), own, nominal)
    nominal = np.where(np.isfinite(nominal), nominal, 0.0)
    learned = nominal.copy()
    sample = np.zeros(len(deals), dtype=int)
    days_by_rank = np.zeros(len(open_table))
    if win_rates is not None:
        rates = win_rates.reindex(table.index)
        rate_by_code = rates["rate"].to_numpy(dtype=float)[code]
        learned = np.where(np.isfinite(rate_by_code), rate_by_code, nominal)
        sample = rates["n"].fillna(0).astype(int).to_numpy()[code]
        days = rates.loc[open_table.index, "avg_days"].to_numpy(dtype=float)
        days_by_rank = np.where(np.isfinite(days), days, 0.0)
    p_win = learned.copy()
    for key, value in ov.win_rate.items():
        p_win[np.asarray(stage_keys == key)] = float(value)

    # Close dates.
    as_of = settings.as_of
    if "stage_entered_at" in deals:
        entered = pd.to_datetime(deals["stage_entered_at"], utc=True, errors="coerce")
        entered = entered.dt.tz_localize(None).dt.normalize()
        age = ((as_of - entered).dt.days).fillna(0).clip(lower=0).to_numpy(dtype=float)
    else:
        age = np.zeros(len(deals))
    base_left = _remaining_days(rank, age, days_by_rank)
    new_days = days_by_rank.copy()
    for key, value in ov.cycle_days.items():
        if key in open_table.index:
            new_days[int(open_table.loc[key, "open_rank"])] = float(value)
    shift = _remaining_days(rank, age, new_days) - base_left
    estimated = as_of + pd.to_timedelta(np.round(base_left), unit="D")
    close = pd.Series(estimated)
    if settings.use_expected_close and "expected_close_date" in deals:
        expected = pd.to_datetime(deals["expected_close_date"], errors="coerce", utc=True)
        expected = expected.dt.tz_localize(None).dt.normalize()
        close = expected.where(expected.notna(), close)
    close = close + pd.to_timedelta(np.round(shift), unit="D")
    close = close.where(close >= as_of, as_of)
    in_period = ((close >= settings.period_start) & (close <= settings.period_end)).to_numpy()

    category = np.where(
        p_win >= settings.commit_threshold,
        "commit",
        np.where(p_win >= settings.best_case_threshold, "best_case", "pipeline"),
    ).astype(object)
    if "forecast_category" in deals:
        given = deals["forecast_category"].astype(object).to_numpy()
        valid = np.isin(given, list(CATEGORIES))
        category = np.where(valid, given, category)

    deals["p_nominal"] = nominal
    deals["p_win"] = p_win
    deals["win_rate_n"] = sample
    deals["close_date"] = close.to_numpy()
    deals["in_period"] = in_period
    deals["category"] = category
    deals["weighted_stage"] = amount * nominal
    deals["weighted_win_rate"] = amount * p_win

    counted = deals.loc[in_period & (category != "omitted")]
    sums = ["amount", "weighted_stage", "weighted_win_rate"]
    by_stage = (
        counted.assign(deals=1)
        .groupby("stage", sort=False)[["deals", *sums]]
        .sum()
        .reindex(open_table.index, fill_value=0)
    )
    by_stage["deals"] = by_stage["deals"].astype(int)
    if win_rates is not None:
        learned_rates = win_rates.reindex(open_table.index)
        by_stage["win_rate"] = learned_rates["rate"].to_numpy(dtype=float)
        by_stage["n"] = learned_rates["n"].fillna(0).astype(int).to_numpy()
    else:
        by_stage["win_rate"] = open_table["probability"].to_numpy() / 100.0
        by_stage["n"] = 0
    for key, value in ov.win_rate.items():
        if key in by_stage.index:
            by_stage.loc[key, "win_rate"] = float(value)

    by_category = (
        deals.loc[in_period]
        .assign(deals=1)
        .groupby("category")[["deals", *sums]]
        .sum()
        .reindex(list(CATEGORIES), fill_value=0)
    )
    by_category["deals"] = by_category["deals"].astype(int)
    amounts = by_category["amount"]
    commit = settings.closed_won + float(amounts["commit"])
    best_case = commit + float(amounts["best_case"])
    pipeline = best_case + float(amounts["pipeline"])
    return PipelineForecast(
        settings=settings,
        commit=commit,
        best_case=best_case,
        pipeline=pipeline,
        weighted_stage=float(counted["weighted_stage"].sum()),
        weighted_win_rate=float(counted["weighted_win_rate"].sum()),
        deals_in_period=len(counted),
        by_stage=by_stage,
        by_category=by_category,
        deals=deals,
        overrides=overrides,
        notes=tuple(notes),
        _opportunities=opportunities.copy(),
        _stages=table,
        _win_rates=None if win_rates is None else win_rates.copy(),
    )
