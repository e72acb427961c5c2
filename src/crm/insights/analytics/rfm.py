"""RFM (recency, frequency, monetary) per customer, and the lifetimes-style summary.

Pure pandas/numpy: no Django imports.  All functions take a transactions DataFrame with one
row per order line, columns ``customer_id``, ``date`` and ``amount`` (the names can be
overridden by keyword).

RFM definitions (:func:`compute_rfm`):

* ``recency_days`` -- whole days from the customer's last purchase to ``as_of`` (default: the
  latest date in the data).  Lower is better.
* ``frequency`` -- number of distinct purchase days (several lines on the same day are one
  purchase, as in the BG/NBD summary).
* ``monetary`` -- total amount spent.

Scores are 1..5 (5 = best).  By default they are *quintiles within the tenant*: values are ranked
(ties broken by ``customer_id`` order with ``rank(method="first")``) and the ranks cut into five
equal bins, so every score holds 20% of customers (+/- one) however many ties or distinct values
there are, and any number of customers (even fewer than five) works.  With
``ties="shared"`` equal values always share the score of their lowest rank (``method="min"``),
so the bins may be unequal.  Alternatively :class:`RFMThresholds` gives fixed, business-defined
cut points.

:func:`summary_data_from_transactions` rebuilds the ``(frequency, recency, T, monetary_value)``
summary used by BG/NBD and Gamma-Gamma exactly like ``lifetimes.utils.
summary_data_from_transaction_data`` with daily periods, divided by ``freq_days``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

__all__ = [
    "RFMThresholds",
    "compute_rfm",
    "fixed_scores",
    "holdout_purchase_counts",
    "purchase_days",
    "quintile_scores",
    "summary_data_from_transactions",
]

N_SCORES = 5


@dataclass(frozen=True)
class RFMThresholds:
    """Fixed cut points for RFM scores: four ascending values each, giving five bins.

    * recency: ``days <= recency_days[0]`` scores 5, ``<= recency_days[1]`` scores 4, ...,
      more than ``recency_days[3]`` days scores 1.
    * frequency / monetary: below ``x[0]`` scores 1, ``>= x[0]`` scores 2, ..., ``>= x[3]``
      scores 5.
    """

    recency_days: tuple[float, float, float, float] = (30.0, 90.0, 180.0, 365.0)
    frequency: tuple[float, float, float, float] = (2.0, 3.0, 5.0, 10.0)
    monetary: tuple[float, float, float, float] = (100.0, 500.0, 1000.0, 5000.0)

    def __post_init__(self) -> None:
        for name in ("recency_days", "frequency", "monetary"):
            cuts = np.asarray(getattr(self, name), dtype=float)
            if cuts.shape != (N_SCORES - 1,) or np.any(np.diff(cuts) <= 0):
                raise ValueError(f"{name} needs four strictly ascending thresholds")


def quintile_scores(
    values: pd.Series,
    *,
    higher_is_better: bool = True,
    ties: Literal["split", "shared"] = "split",
) -> pd.Series:
    """Scores 1..5 by quintile of ``values`` (5 = best).

    Values are ranked (``method="first"`` for ``ties="split"``: equal values are ordered by
    their position, so bins stay equal; ``method="min"`` for ``ties="shared"``) and rank ``k`` of
    ``n`` gets ``floor((k - 1) * 5 / n) + 1`` -- the same bins as ``pd.qcut(ranks, 5)`` but
    defined for any ``n >= 1``.  NaN values get score 1 (worst).
    """
    n = len(values)
    if n == 0:
        return pd.Series([], index=values.index, dtype="int8")
    method: Literal["first", "min"] = "first" if ties == "split" else "min"
    filled = values.astype(float)
    worst = -np.inf if higher_is_better else np.inf
    filled = filled.fillna(worst)
    ranks = filled.rank(method=method, ascending=higher_is_better).to_numpy()
    scores = np.floor((ranks - 1.0) * N_SCORES / n).astype(np.int8) + 1
    return pd.Series(np.clip(scores, 1, N_SCORES), index=values.index, dtype="int8")


def fixed_scores(
    values: pd.Series | npt.ArrayLike,
    thresholds: tuple[float, ...],
    *,
    higher_is_better: bool = True,
) -> npt.NDArray[np.int8]:
    """Scores 1..5 from four fixed ascending thresholds (see :class:`RFMThresholds`)."""
    arr = np.asarray(values, dtype=float)
    cuts = np.asarray(thresholds, dtype=float)
    if higher_is_better:
        out = 1 + np.searchsorted(cuts, arr, side="right")
    else:
        out = N_SCORES - np.searchsorted(cuts, arr, side="left")
    out = np.where(np.isnan(arr), 1, out)
    return out.astype(np.int8)


def purchase_days(
    transactions: pd.DataFrame,
    *,
    customer_col: str = "customer_id",
    date_col: str = "date",
    amount_col: str = "amount",
) -> pd.DataFrame:
    """One row per customer and calendar day: columns customer_id, day, amount (day total)."""
    day = pd.to_datetime(transactions[date_col]).dt.normalize()
    frame = pd.DataFrame(
        {
            "customer_id": transactions[customer_col].to_numpy(),
            "day": day.to_numpy(),
            "amount": transactions[amount_col].to_numpy(dtype=float)
            if amount_col in transactions
            else 0.0,
        }
    )
    return frame.groupby(["customer_id", "day"], sort=True, as_index=False)["amount"].sum()


def compute_rfm(
    transactions: pd.DataFrame,
    as_of: pd.Timestamp | str | None = None,
    *,
    thresholds: RFMThresholds | None = None,
    ties: Literal["split", "shared"] = "split",
    customer_col: str = "customer_id",
    date_col: str = "date",
    amount_col: str = "amount",
) -> pd.DataFrame:
    """RFM values and 1..5 scores per customer.

    Returns a frame indexed by customer id (sorted) with columns ``recency_days`` (int),
    ``frequency`` (distinct purchase days), ``monetary`` (total spend), ``first_purchase``,
    ``last_purchase``, ``r_score``, ``f_score``, ``m_score``, ``rfm_code`` (e.g. ``"545"``) and
    ``rfm_total`` (3..15).  Transactions after ``as_of`` are ignored.  Scores are tenant
    quintiles unless ``thresholds`` is given.
    """
    days = purchase_days(
        transactions, customer_col=customer_col, date_col=date_col, amount_col=amount_col
    )
    if as_of is None:
        as_of_ts = days["day"].max() if len(days) else pd.Timestamp("1970-01-01")
    else:
        as_of_ts = pd.Timestamp(as_of).normalize()
        days = days[days["day"] <= as_of_ts]
    grouped = days.groupby("customer_id", sort=True)
    out = pd.DataFrame(
        {
            "first_purchase": grouped["day"].min(),
            "last_purchase": grouped["day"].max(),
            "frequency": grouped.size().astype(np.int64),
            "monetary": grouped["amount"].sum(),
        }
    )
    out.index.name = customer_col
    out.insert(0, "recency_days", (as_of_ts - out["last_purchase"]).dt.days.astype(np.int64))
    if thresholds is None:
        out["r_score"] = quintile_scores(out["recency_days"], higher_is_better=False, ties=ties)
        out["f_score"] = quintile_scores(out["frequency"], ties=ties)
        out["m_score"] = quintile_scores(out["monetary"], ties=ties)
    else:
        out["r_score"] = fixed_scores(
            out["recency_days"], thresholds.recency_days, higher_is_better=False
        )
        out["f_score"] = fixed_scores(out["frequency"], thresholds.frequency)
        out["m_score"] = fixed_scores(out["monetary"], thresholds.monetary)
    out["rfm_code"] = (
        out["r_score"].astype(str) + out["f_score"].astype(str) + out["m_score"].astype(str)
    )
    out["rfm_total"] = (out["r_score"].astype(np.int64) + out["f_score"] + out["m_score"]).astype(
        np.int64
    )
    return out


def summary_data_from_transactions(
    transactions: pd.DataFrame,
    calibration_end: pd.Timestamp | str,
    freq_days: float = 7,
    *,
    customer_col: str = "customer_id",
    date_col: str = "date",
    amount_col: str = "amount",
) -> pd.DataFrame:
    """BG/NBD / Gamma-Gamma summary per customer, as ``lifetimes`` builds it.

    Only transactions on or before ``calibration_end`` (inclusive) count; all lines of a customer
    on one calendar day are one purchase whose value is the day's total.

    * ``frequency`` -- number of *repeat* purchase days (purchase days minus one);
    * ``recency`` -- days from the first to the last purchase / ``freq_days``;
    * ``T`` -- days from the first purchase to ``calibration_end`` / ``freq_days``;
    * ``monetary_value`` -- mean value of the repeat purchase days (0 without repeats).

    Indexed by customer id (sorted).
    """
    end = pd.Timestamp(calibration_end).normalize()
    days = purchase_days(
        transactions, customer_col=customer_col, date_col=date_col, amount_col=amount_col
    )
    days = days[days["day"] <= end]
    grouped = days.groupby("customer_id", sort=True)
    first = grouped["day"].min()
    last = grouped["day"].max()
    n_days = grouped.size()
    total = grouped["amount"].sum()
    # days are sorted within each customer, so the first row of every group is the first day
    first_amount = grouped["amount"].first()
    frequency = (n_days - 1).astype(np.int64)
    repeat_total = (total - first_amount).to_numpy()
    freq_arr = frequency.to_numpy()
    monetary = np.divide(
        repeat_total,
        freq_arr,
        out=np.zeros(len(freq_arr), dtype=float),
        where=freq_arr > 0,
    )
    out = pd.DataFrame(
        {
            "frequency": frequency,
            "recency": (last - first).dt.days.to_numpy() / freq_days,
            "T": (end - first).dt.days.to_numpy() / freq_days,
            "monetary_value": monetary,
        },
        index=first.index,
    )
    out.index.name = customer_col
    return out


def holdout_purchase_counts(
    transactions: pd.DataFrame,
    calibration_end: pd.Timestamp | str,
    observation_end: pd.Timestamp | str,
    *,
    customer_col: str = "customer_id",
    date_col: str = "date",
) -> pd.Series:
    """Purchase days per customer in ``(calibration_end, observation_end]``.

    Only customers whose first purchase is on or before ``calibration_end`` are counted; the
    result is indexed like :func:`summary_data_from_transactions` (zeros included).
    """
    cal = pd.Timestamp(calibration_end).normalize()
    obs = pd.Timestamp(observation_end).normalize()
    days = purchase_days(
        transactions, customer_col=customer_col, date_col=date_col, amount_col="__none__"
    )
    first = days.groupby("customer_id", sort=True)["day"].min()
    cohort = first.index[first.to_numpy() <= cal.to_datetime64()]
    window = days[(days["day"] > cal) & (days["day"] <= obs)]
    counts = window.groupby("customer_id").size()
    out = counts.reindex(cohort, fill_value=0).astype(np.int64)
    out.index.name = customer_col
    out.name = "holdout_purchases"
    return out
