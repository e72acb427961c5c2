"""Benchmark the forecasting core: funnel metrics on 1,000,000 stage changes and one series'
forecast with model selection (monthly ~150 points, daily 2 years).

Run: ``.venv/bin/python benchmarks/bench_forecast.py``.  Prints JSON and writes
``benchmarks/results/forecast.json``.  Targets: funnel < 1 s, one forecast < 2 s.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from crm.insights.analytics.forecast import forecast  # noqa: E402
from crm.insights.analytics.funnel import StageInfo, funnel_metrics  # noqa: E402

STAGES = [
    StageInfo(1, 1, probability=10),
    StageInfo(2, 2, probability=30),
    StageInfo(3, 3, probability=60),
    StageInfo(4, 4, probability=80),
    StageInfo(5, 5, is_won=True, probability=100),
    StageInfo(6, 6, is_lost=True, probability=0),
]


def synthetic_changes(n_changes: int = 1_000_000, seed: int = 0) -> pd.DataFrame:
    """Deals walking lead -> ... -> won/lost/open with exponential gaps; rows shuffled."""
    rng = np.random.default_rng(seed)
    n_deals = n_changes // 3
    depth = rng.integers(0, 4, n_deals)  # highest open stage reached: 0..3
    outcome = rng.choice(3, n_deals, p=[0.3, 0.5, 0.2])  # won, lost, open
    rows_per_deal = depth + 1 + (outcome < 2)
    while rows_per_deal.sum() < n_changes:  # top up with extra deals
        more = rng.integers(0, 4, 1000)
        depth = np.r_[depth, more]
        outcome = np.r_[outcome, rng.choice(3, 1000, p=[0.3, 0.5, 0.2])]
        rows_per_deal = depth + 1 + (outcome < 2)
    deal = np.repeat(np.arange(depth.shape[0]), rows_per_deal)
    first_row = np.cumsum(rows_per_deal) - rows_per_deal
    pos = np.arange(deal.shape[0]) - np.repeat(first_row, rows_per_deal)
    last = pos == np.repeat(rows_per_deal - 1, rows_per_deal)
    closing = last & np.repeat(outcome < 2, rows_per_deal)
    to_stage = pos + 1
    to_stage[closing] = np.where(np.repeat(outcome, rows_per_deal)[closing] == 0, 5, 6)
    from_stage = np.where(pos == 0, 0, np.r_[0, to_stage[:-1]])
    start = (
        np.datetime64("2022-01-01", "ns").astype(np.int64)
        + rng.integers(0, 3 * 365 * 86_400, depth.shape[0]) * 10**9
    )
    gaps = (rng.exponential(7 * 86_400, deal.shape[0]) * 10**9).astype(np.int64)
    gaps[pos == 0] = 0
    cum = np.cumsum(gaps)
    at = np.repeat(start, rows_per_deal) + cum - np.repeat(cum[first_row], rows_per_deal)
    frame = pd.DataFrame(
        {
            "opportunity_id": deal,
            "from_stage": pd.array(np.where(from_stage > 0, from_stage, 0), dtype="Int64"),
            "to_stage": to_stage,
            "at": pd.to_datetime(at, utc=True),
            "amount": rng.gamma(2.0, 5000.0, deal.shape[0]).round(2),
        }
    )
    frame.loc[frame["from_stage"] == 0, "from_stage"] = pd.NA
    # deals are contiguous: cutting at n_changes shortens only the last deal's history
    return frame.iloc[:n_changes].sample(frac=1.0, random_state=seed).reset_index(drop=True)


def timed(fn: Callable[[], Any], repeat: int) -> list[float]:
    """Wall-clock seconds of each run."""
    return [pair[0] for pair in timed_cpu(fn, repeat)]


def timed_cpu(fn: Callable[[], Any], repeat: int) -> list[tuple[float, float]]:
    """(wall, process CPU) seconds of each run; CPU time is less disturbed by other load."""
    out = []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        out.append((time.perf_counter() - wall, time.process_time() - cpu))
    return out


def synthetic_daily(n: int = 730, seed: int = 1) -> pd.Series:
    rng = np.random.default_rng(seed)
    days = pd.date_range("2023-01-01", periods=n, freq="D")
    weekly = np.array([0.0, 12.0, 15.0, 14.0, 18.0, 40.0, 30.0])[days.day_of_week]
    yearly = 15.0 * np.sin(2 * np.pi * days.day_of_year / 365.25)
    level = 200.0 + 0.05 * np.arange(n) + np.cumsum(rng.normal(0.0, 2.0, n))
    return pd.Series(np.maximum(level + weekly + yearly + rng.normal(0.0, 10.0, n), 0.0), days)


def main() -> dict[str, Any]:
    sales = Path(os.environ.get("CRM_SHARED_DATA", str(ROOT.parent / "shared" / "data"))) / "sales"
    changes = synthetic_changes()
    ordered = changes.sort_values(["opportunity_id", "at"], kind="stable").reset_index(drop=True)
    funnel_metrics(changes.head(10_000), STAGES)  # warm-up
    shuffled = timed_cpu(lambda: funnel_metrics(changes, STAGES), 5)
    ordered_times = timed(lambda: funnel_metrics(ordered, STAGES), 5)
    shuffled_times = [wall for wall, _ in shuffled]

    wine = pd.read_csv(sales / "wineind.csv")["sales"].to_numpy(dtype=float)[:150]
    airline = pd.read_csv(sales / "Airline.csv")["Passengers"].to_numpy(dtype=float)
    daily = synthetic_daily()
    series = {
        "monthly wineind (150 points, h=12)": (wine, 12, 12),
        "monthly Airline (144 points, h=12)": (airline, 12, 12),
        "daily synthetic (730 points, h=28)": (daily, 7, 28),
    }
    forecast(airline[:60], 6, season_length=12)  # warm-up: first calls load statsmodels code
    forecast(daily.iloc[:200], 7, season_length=7)
    results: dict[str, Any] = {}
    for name, (y, m, h) in series.items():
        runs = timed_cpu(partial(forecast, y, h, season_length=m), 3)
        times = [wall for wall, _ in runs]
        chosen = forecast(y, h, season_length=m)
        results[name] = {
            "seconds_median": round(statistics.median(times), 3),
            "seconds_all": [round(t, 3) for t in times],
            "cpu_seconds_median": round(statistics.median(c for _, c in runs), 3),
            "chosen": chosen.model,
            "detail": chosen.model_detail,
            "target_seconds": 2.0,
        }
    report = {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average_1min": round(os.getloadavg()[0], 2)
            if hasattr(os, "getloadavg")
            else None,
        },
        "funnel_1m_changes": {
            "rows": len(changes),
            "deals": int(changes["opportunity_id"].nunique()),
            "seconds_shuffled_median": round(statistics.median(shuffled_times), 3),
            "seconds_shuffled_best": round(min(shuffled_times), 3),
            "cpu_seconds_shuffled_median": round(statistics.median(c for _, c in shuffled), 3),
            "seconds_sorted_median": round(statistics.median(ordered_times), 3),
            "target_seconds": 1.0,
        },
        "forecast_one_series": results,
    }
    out_dir = ROOT / "benchmarks" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "forecast.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
