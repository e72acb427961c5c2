"""Automatic ARIMA order selection (:func:`auto_arima`): the Hyndman-Khandakar stepwise search
of R's ``auto.arima``, with Fourier regressors for long, weakly seasonal seasons.

Estimation and prediction are in :mod:`crm.insights.analytics.forecast.arima`.
No Django imports.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from crm.insights.analytics.forecast.arima import (
    ArimaFit,
    ArimaOrder,
    _css_fit,
    _exog,
    _fourier,
    _ml_fit,
)
from crm.insights.analytics.forecast.common import (
    LONG_SEASON,
    WEEKS_PER_YEAR,
    FloatArray,
    _single_threaded_blas,
)
from crm.insights.analytics.forecast.series import (
    _difference,
    _is_constant,
    _ndiffs,
    _nsdiffs,
)


def _stepwise(
    fit_one: Any,
    *,
    seasonal: bool,
    allow_constant: bool,
    max_p: int,
    max_q: int,
    max_big_p: int,
    max_big_q: int,
    max_order: int,
    max_models: int,
) -> dict[tuple[int, int, int, int, bool], ArimaFit | None]:
    """Hyndman-Khandakar stepwise search over (p, q, P, Q, constant); returns every fit tried."""
    tried: dict[tuple[int, int, int, int, bool], ArimaFit | None] = {}

    def ok(key: tuple[int, int, int, int, bool]) -> bool:
        p, q, bp, bq, c = key
        return (
            0 <= p <= max_p
            and 0 <= q <= max_q
            and 0 <= bp <= (max_big_p if seasonal else 0)
            and 0 <= bq <= (max_big_q if seasonal else 0)
            and p + q + bp + bq <= max_order
            and (allow_constant or not c)
        )

    def visit(key: tuple[int, int, int, int, bool]) -> float:
        if key not in tried:
            if not ok(key) or len(tried) >= max_models:
                return math.inf
            tried[key] = fit_one(*key)
        fit = tried[key]
        return fit.aicc if fit is not None and math.isfinite(fit.aicc) else math.inf

    s = 1 if seasonal else 0
    starts = [(2, 2, s, s), (0, 0, 0, 0), (1, 0, s, 0), (0, 1, 0, s)]
    best_key: tuple[int, int, int, int, bool] | None = None
    best = math.inf
    for p, q, bp, bq in starts:
        key = (p, q, bp, bq, allow_constant)
        score = visit(key)
        if score < best:
            best, best_key = score, key
    if allow_constant:
        score = visit((0, 0, 0, 0, False))
        if score < best:
            best, best_key = score, (0, 0, 0, 0, False)
    if best_key is None:
        return tried
    improved = True
    while improved and len(tried) < max_models:
        improved = False
        p, q, bp, bq, c = best_key
        moves = [
            (p, q, bp - 1, bq, c),
            (p, q, bp + 1, bq, c),
            (p, q, bp, bq - 1, c),
            (p, q, bp, bq + 1, c),
            (p, q, bp - 1, bq - 1, c),
            (p, q, bp + 1, bq + 1, c),
            (p, q, bp - 1, bq + 1, c),
            (p, q, bp + 1, bq - 1, c),
            (p - 1, q, bp, bq, c),
            (p + 1, q, bp, bq, c),
            (p, q - 1, bp, bq, c),
            (p, q + 1, bp, bq, c),
            (p - 1, q - 1, bp, bq, c),
            (p + 1, q + 1, bp, bq, c),
            (p - 1, q + 1, bp, bq, c),
            (p + 1, q - 1, bp, bq, c),
            (p, q, bp, bq, not c),
        ]
        for key in moves:
            score = visit(key)
            if score < best:
                best, best_key = score, key
                improved = True
                break
    return tried


def auto_arima(
    y: ArrayLike,
    season_length: int = 1,
    *,
    method: str = "css",
    max_p: int = 5,
    max_q: int = 5,
    max_seasonal_p: int = 1,
    max_seasonal_q: int = 1,
    max_order: int = 5,
    max_d: int = 2,
    max_models: int = 30,
    refine_max_n: int = 400,
    max_fourier_k: int = 6,
) -> ArimaFit:
    """Automatic ARIMA order selection in the manner of R's ``forecast::auto.arima``.

    * ``D``: 1 when the STL seasonal strength exceeds 0.64 (R's ``nsdiffs(test="seas")``).
    * ``d``: first differences while the KPSS statistic of the (seasonally differenced) series
      rejects level stationarity at 5% (``d + D <= 2``).
    * Stepwise search (Hyndman & Khandakar 2008) from (2,d,2)(1,D,1), (0,d,0)(0,D,0),
      (1,d,0)(1,D,0), (0,d,1)(0,D,1), moving one or two of p, q, P, Q by one or toggling the
      constant (allowed only when ``d + D <= 1``), by AICc, at most ``max_models`` fits; models
      with a root within 1.01 of the unit circle are rejected.
    * ``method="ml"`` ranks by exact maximum likelihood (R's ``approximation=FALSE``; this is
      what reproduces R on Airline), ``"css"`` (default, 3-4x faster) by conditional sum of
      squares, the winner then refitted by ML when ``n <= refine_max_n`` (R's
      ``approximation=TRUE``).  ``"auto"`` follows R's rule: CSS when ``n > 150`` or
      ``m > 12``, else ML.

    To bound the cost the seasonal orders are limited to ``P, Q <= 1`` by default (R allows 2).
    Seasons longer than :data:`LONG_SEASON` get no seasonal AR/MA lags: seasonal differencing
    only when ``D = 1``, else ``K`` Fourier pairs as regressors with ARIMA errors (``K`` in
    1..``max_fourier_k`` by AICc with ARIMA(1,d,1) errors, then the stepwise search; kept as CSS
    estimates, since SARIMAX's ML with 2K regression coefficients takes seconds).
    Raises ``ValueError`` when nothing can be fitted; :func:`forecast` catches it.
    """
    with _single_threaded_blas():
        return _auto_arima(
            np.asarray(y, dtype=float),
            int(season_length),
            method=method,
            max_p=max_p,
            max_q=max_q,
            max_seasonal_p=max_seasonal_p,
            max_seasonal_q=max_seasonal_q,
            max_order=max_order,
            max_d=max_d,
            max_models=max_models,
            refine_max_n=refine_max_n,
            max_fourier_k=max_fourier_k,
        )


def _auto_arima(
    data: FloatArray,
    season_length: int,
    *,
    method: str,
    max_p: int,
    max_q: int,
    max_seasonal_p: int,
    max_seasonal_q: int,
    max_order: int,
    max_d: int,
    max_models: int,
    refine_max_n: int,
    max_fourier_k: int,
) -> ArimaFit:
    n = data.shape[0]
    if n < 4 or not np.all(np.isfinite(data)):
        raise ValueError("need at least four finite observations")
    if _is_constant(data):
        raise ValueError("constant series")
    m = int(season_length)
    if method not in ("css", "ml", "auto"):
        raise ValueError(f"unknown method {method!r}")
    use_ml = method == "ml" or (method == "auto" and n <= 150 and int(season_length) <= 12)
    seasonal = m > 1 and n >= 2 * m + 1
    long_season = m > LONG_SEASON
    big_d = _nsdiffs(data, m) if seasonal else 0
    if long_season and not big_d and n >= m + 10:
        return _auto_arima_fourier(
            data,
            float(m) if m != 52 else WEEKS_PER_YEAR,
            use_ml=use_ml,
            max_p=max_p,
            max_q=max_q,
            max_order=max_order,
            max_d=max_d,
            max_models=max_models,
            max_k=min(max_fourier_k, m // 2),
        )
    if not big_d and (not seasonal or long_season):
        m = 1
    # Long seasons: seasonal differencing only, no seasonal AR/MA lags.
    seasonal_terms = seasonal and not long_season
    d = _ndiffs(_difference(data, 0, big_d, m), max(0, min(max_d, 2 - big_d)))
    allow_constant = d + big_d <= 1

    def fit_one(p: int, q: int, bp: int, bq: int, c: bool) -> ArimaFit | None:
        order = ArimaOrder(p, d, q, bp, big_d, bq, m, c)
        return _ml_fit(order, data, None) if use_ml else _css_fit(order, data, None)

    tried = _stepwise(
        fit_one,
        seasonal=seasonal_terms,
        allow_constant=allow_constant,
        max_p=max_p,
        max_q=max_q,
        max_big_p=max_seasonal_p,
        max_big_q=max_seasonal_q,
        max_order=max_order,
        max_models=max_models,
    )
    best = _best(tried.values())
    if best is None:
        raise ValueError("no ARIMA model could be fitted")
    if best.method == "css" and n <= refine_max_n:
        return _ml_refit(best, data, None)
    return best


def _ml_refit(fit: ArimaFit, y: FloatArray, exog: FloatArray | None) -> ArimaFit:
    """Exact ML for a CSS-selected form, started from the CSS estimates (else the default)."""
    refined = _ml_fit(fit.order, y, exog, start=fit, check_roots=False)
    if refined is None:
        refined = _ml_fit(fit.order, y, exog, check_roots=False)
    return refined if refined is not None else fit


def _best(fits: Any) -> ArimaFit | None:
    ok = [f for f in fits if f is not None and math.isfinite(f.aicc)]
    return min(ok, key=lambda f: f.aicc) if ok else None


def _auto_arima_fourier(
    y: FloatArray,
    period: float,
    *,
    use_ml: bool,
    max_p: int,
    max_q: int,
    max_order: int,
    max_d: int,
    max_models: int,
    max_k: int,
) -> ArimaFit:
    n = y.shape[0]
    t = np.arange(n, dtype=float)
    # d from the KPSS test on the residuals of the largest harmonic regression, as R does with
    # xreg; the same d for every K keeps the AICc values comparable.
    design = np.column_stack([np.ones(n), _fourier(t, period, max(1, max_k))])
    resid = y - design @ np.linalg.lstsq(design, y, rcond=None)[0]
    d = _ndiffs(resid, min(max_d, 1))
    allow_constant = d <= 1

    def fit_with(k: int, p: int, q: int, c: bool) -> ArimaFit | None:
        order = ArimaOrder(p, d, q, constant=c, fourier_k=k, fourier_period=period)
        exog = _exog(order, 0, n)
        return _ml_fit(order, y, exog) if use_ml else _css_fit(order, y, exog)

    # K by AICc with ARIMA(1,d,1) errors (fpp3 runs a full search per K; one reference error
    # model is a fraction of the cost), then the stepwise search of the errors with that K.
    by_k = [fit_with(k, 1, 1, allow_constant) for k in range(1, max(1, max_k) + 1)]
    ref = _best(by_k)
    best_k = ref.order.fourier_k if ref is not None else 1

    def fit_one(p: int, q: int, bp: int, bq: int, c: bool) -> ArimaFit | None:
        return fit_with(best_k, p, q, c)

    tried = _stepwise(
        fit_one,
        seasonal=False,
        allow_constant=allow_constant,
        max_p=max_p,
        max_q=max_q,
        max_big_p=0,
        max_big_q=0,
        max_order=max_order,
        max_models=max_models,
    )
    best = _best([*tried.values(), ref])
    if best is None:
        raise ValueError("no ARIMA model could be fitted")
    # Exact ML with 2K regression coefficients costs seconds in SARIMAX: keep the CSS fit.
    return best
