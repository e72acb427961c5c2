"""Series preparation and statistics for the forecasting package: input cleaning, season
length inference, differencing, the KPSS unit-root test and the STL seasonal strength.

Pure numpy / pandas / statsmodels: no Django imports.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crm.insights.analytics.forecast.common import SEASON_LENGTHS, FloatArray, _quiet

_KPSS_CRIT_5PCT = 0.463
_SEASONAL_STRENGTH_THRESHOLD = 0.64


# --------------------------------------------------------------------------------------------
# Input handling


def _season_from(frequency: str | None, y: object) -> int | None:
    freq = frequency
    if freq is None and isinstance(y, pd.Series):
        index = y.index
        if isinstance(index, pd.PeriodIndex):
            freq = index.freqstr
        elif isinstance(index, pd.DatetimeIndex) and index.shape[0] >= 3:
            freq = index.freqstr or pd.infer_freq(index)
    if not freq:
        return None
    key = str(freq).lower()
    if key in SEASON_LENGTHS:
        return SEASON_LENGTHS[key]
    base = key.split("-")[0].lstrip("0123456789")
    return SEASON_LENGTHS.get(base)


def _clean(y: object) -> tuple[FloatArray, list[str]]:
    notes: list[str] = []
    try:
        values = y.to_numpy() if isinstance(y, pd.Series | pd.DataFrame) else y
        arr = np.asarray(pd.to_numeric(np.ravel(np.asarray(values)), errors="coerce"), float)
    except (TypeError, ValueError):
        return np.empty(0), ["input is not a numeric sequence"]
    finite = np.isfinite(arr)
    if not np.all(finite):
        if not np.any(finite):
            return np.empty(0), ["no finite values"]
        first = int(np.argmax(finite))
        arr = arr[first:]
        finite = finite[first:]
        if not np.all(finite):
            idx = np.arange(arr.shape[0])
            arr = np.interp(idx, idx[finite], arr[finite])
            notes.append(f"{int((~finite).sum())} missing or non-finite values interpolated")
        if first:
            notes.append(f"{first} leading missing values dropped")
    return arr, notes


# --------------------------------------------------------------------------------------------
# Differencing, unit-root and seasonality tests


def _difference(x: FloatArray, d: int, big_d: int, m: int) -> FloatArray:
    for _ in range(big_d):
        x = x[m:] - x[:-m]
    for _ in range(d):
        x = x[1:] - x[:-1]
    return x


def _kpss_stat(x: FloatArray) -> float:
    """KPSS level-stationarity statistic with ``trunc(4 (n/100)^0.25)`` Bartlett lags (urca)."""
    n = x.shape[0]
    e = x - x.mean()
    s = np.cumsum(e)
    lags = int(4 * (n / 100) ** 0.25)
    gamma0 = float(e @ e) / n
    long_run = gamma0
    for lag in range(1, min(lags, n - 1) + 1):
        long_run += 2 * (1 - lag / (lags + 1)) * float(e[lag:] @ e[:-lag]) / n
    if long_run <= 0:
        return 0.0
    return float(s @ s) / (n * n * long_run)


def _is_constant(x: FloatArray) -> bool:
    return x.shape[0] == 0 or bool(np.ptp(x) <= 1e-12 * max(1.0, float(np.max(np.abs(x)))))


def _ndiffs(x: FloatArray, max_d: int) -> int:
    """Number of first differences for KPSS level stationarity at 5% (R's ``ndiffs``)."""
    d = 0
    while d < max_d and x.shape[0] > 3 and not _is_constant(x):
        if _kpss_stat(x) <= _KPSS_CRIT_5PCT:
            break
        x = np.diff(x)
        d += 1
    return d


def seasonal_strength(y: FloatArray, m: int) -> float:
    """STL seasonal strength ``max(0, 1 - var(remainder) / var(season + remainder))``."""
    from statsmodels.tsa.seasonal import STL

    if m < 2 or y.shape[0] < 2 * m + 1 or _is_constant(y):
        return 0.0
    with _quiet():
        res = STL(y, period=m, robust=False).fit()
    remainder = np.asarray(res.resid)
    detrended = remainder + np.asarray(res.seasonal)
    var_sr = float(np.var(detrended))
    if var_sr <= 0:
        return 0.0
    return max(0.0, min(1.0, 1.0 - float(np.var(remainder)) / var_sr))


def _nsdiffs(y: FloatArray, m: int) -> int:
    return int(seasonal_strength(y, m) > _SEASONAL_STRENGTH_THRESHOLD)
