"""Sales forecasting: candidate models chosen per series by a rolling-origin backtest.

Pure numpy / pandas / statsmodels: no Django imports.  The entry point is :func:`forecast`; the
automatic ARIMA search is also available on its own as :func:`auto_arima`.

Candidates (``m`` is the season length: 7 for daily, 52 for weekly, 12 for monthly data):

``naive``
    The last value, repeated.  Interval standard error ``sigma * sqrt(h)``.
``seasonal_naive``
    The value one season earlier.  Standard error ``sigma * sqrt(floor((h - 1) / m) + 1)``.
``ets``
    Exponential smoothing (statsmodels ``ETSModel``).  Error A/M, trend N/A/Ad, season N/A/M
    (additive error is not paired with a multiplicative season, nor multiplicative error with
    an additive season; multiplicative forms only for strictly positive data); the form with the
    lowest AICc is kept.  Seasonal forms need two full seasons.  For long seasons (``m > 24``,
    i.e. weekly data) the season is removed by a robust STL decomposition first and the
    non-seasonal ETS forms are fitted to the seasonally adjusted series, whose forecast gets the
    last year's seasonal component added back (``stlf`` in R's forecast package).
``arima``
    :func:`auto_arima`: the Hyndman-Khandakar stepwise search of R's ``auto.arima``.  ``D`` from
    the STL seasonal strength (``D = 1`` when it exceeds 0.64, as R's ``nsdiffs``), ``d`` from
    repeated KPSS tests at 5%, orders ranked by AICc of conditional-sum-of-squares fits (R's
    ``approximation=TRUE``), the winner refitted by exact maximum likelihood (statsmodels
    ``SARIMAX``) when the series has at most 400 points.  Seasonal AR/MA lags of length 52
    would need a state vector of more than 52 elements in every likelihood evaluation, far too
    slow, so for ``m > 24`` (weekly data) a strongly seasonal series gets seasonal differencing
    only, ARIMA(p,d,q)(0,1,0)[52] (a seasonal random walk with ARMA corrections), and a weakly
    seasonal one ``K`` Fourier pairs of period 365.25 / 7 weeks as regressors with ARIMA errors.
``theta``
    The Theta method (statsmodels ``ThetaModel``: SES with drift, multiplicative classical
    decomposition when the lag-m autocorrelation is significant at 10%).
``combination``
    The equal-weight mean of the ``ets``, ``arima`` and ``theta`` forecasts (intervals: the
    mean of their bounds).  Combinations are among the most reliable methods in forecasting
    competitions (M3, M4); its backtest reuses its members' fold forecasts, so it is free.

Selection: every candidate's structure (ETS form, ARIMA orders) is chosen once on the whole
training series by its information criterion.  Then each candidate is re-estimated on ``folds``
rolling origins near the end of the series (structure kept, parameters re-estimated) and
forecasts the next ``min(horizon, n // 4)`` points; the candidate with the lowest mean MASE over
the folds wins.  The origins are ``horizon`` apart, or closer when the series is short, and
leave every fold at least two seasons of training data when the series allows it.  MASE
divides the mean absolute error by the in-sample mean absolute seasonal-naive error of the data
before the origin (Hyndman & Koehler 2006; lag 1 when there is less than one season).  The
winner's full-sample fit gives the forecast and the 80% / 95% prediction intervals.

Nothing here raises on odd input: empty, non-numeric, constant and very short series return a
naive forecast with a note saying why.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import optimize, signal

__all__ = [
    "MODEL_NAMES",
    "SEASON_LENGTHS",
    "ArimaFit",
    "ArimaOrder",
    "ForecastResult",
    "auto_arima",
    "forecast",
    "mase",
    "mase_scale",
]

FloatArray = NDArray[np.float64]

MODEL_NAMES: tuple[str, ...] = (
    "naive",
    "seasonal_naive",
    "ets",
    "arima",
    "theta",
    "combination",
)
#: The members of the ``combination`` candidate (equal weights).
COMBINED: tuple[str, ...] = ("ets", "arima", "theta")
#: Season length for the usual frequency names (pandas offset aliases accepted too).
SEASON_LENGTHS: Mapping[str, int] = MappingProxyType(
    {
        "daily": 7,
        "d": 7,
        "b": 5,
        "weekly": 52,
        "w": 52,
        "monthly": 12,
        "m": 12,
        "ms": 12,
        "me": 12,
        "quarterly": 4,
        "q": 4,
        "qs": 4,
        "qe": 4,
        "yearly": 1,
        "y": 1,
        "a": 1,
        "ys": 1,
        "ye": 1,
    }
)
#: Weekly data: the seasonal period of the Fourier terms, in weeks.
WEEKS_PER_YEAR = 365.25 / 7
#: Seasons longer than this are not modelled by seasonal ETS states or SARIMA lags.
LONG_SEASON = 24

_Z80 = 1.2815515655446004  # standard normal 90% quantile
_Z95 = 1.959963984540054  # standard normal 97.5% quantile
_KPSS_CRIT_5PCT = 0.463
_SEASONAL_STRENGTH_THRESHOLD = 0.64


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence statsmodels / numpy warnings (convergence, interpolation, overflow) locally."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        yield


@contextmanager
def _single_threaded_blas() -> Iterator[None]:
    """Run BLAS/LAPACK on one thread: the matrices here are tiny, and OpenBLAS's thread pool
    made the Kalman filter several times slower on a busy two-core machine."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


# --------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class ForecastResult:
    """A forecast with its model choice and prediction intervals.

    ``candidate_mase`` holds every candidate's mean backtest MASE (NaN when it could not be
    fitted on every fold); ``backtest_mase`` is the chosen model's (NaN when the series was too
    short to backtest).  ``model_detail`` names the fitted form, e.g. ``ETS(M,Ad,M)`` or
    ``ARIMA(2,1,1)(0,1,0)[12]``.  The interval tuples have ``horizon`` elements and always
    satisfy ``lower_95 <= lower_80 <= point <= upper_80 <= upper_95``.
    """

    model: str
    model_detail: str
    backtest_mase: float
    candidate_mase: Mapping[str, float]
    point: tuple[float, ...]
    lower_80: tuple[float, ...]
    upper_80: tuple[float, ...]
    lower_95: tuple[float, ...]
    upper_95: tuple[float, ...]
    season_length: int
    horizon: int
    backtest_folds: int
    backtest_horizon: int
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Prediction:
    point: FloatArray
    lower_80: FloatArray
    upper_80: FloatArray
    lower_95: FloatArray
    upper_95: FloatArray


def _normal_prediction(point: FloatArray, se: FloatArray) -> _Prediction:
    se = np.where(np.isfinite(se), np.abs(se), 0.0)
    return _Prediction(
        point, point - _Z80 * se, point + _Z80 * se, point - _Z95 * se, point + _Z95 * se
    )


def _tidy(pred: _Prediction, h: int) -> _Prediction:
    """Replace non-finite values and make the intervals nested around the point forecast."""
    point = np.asarray(pred.point, dtype=float)[:h]
    if point.shape[0] != h or not np.all(np.isfinite(point)):
        raise ValueError("non-finite point forecast")

    def fix(a: FloatArray) -> FloatArray:
        a = np.asarray(a, dtype=float)[:h]
        return np.where(np.isfinite(a), a, point)

    lo80 = np.minimum(fix(pred.lower_80), point)
    hi80 = np.maximum(fix(pred.upper_80), point)
    lo95 = np.minimum(fix(pred.lower_95), lo80)
    hi95 = np.maximum(fix(pred.upper_95), hi80)
    return _Prediction(point, lo80, hi80, lo95, hi95)


# --------------------------------------------------------------------------------------------
# Accuracy


def mase_scale(insample: ArrayLike, season_length: int) -> float:
    """Mean absolute seasonal-naive error of ``insample`` (the MASE denominator).

    Lag ``season_length`` when the series is longer than one season, else lag 1.  When that
    error is zero (a constant or perfectly periodic history) the lag-1 error is used, then the
    mean absolute value, then 1, so the scale is always positive.
    """
    y = np.asarray(insample, dtype=float)
    y = y[np.isfinite(y)]
    m = season_length if season_length > 1 and y.shape[0] > season_length else 1
    for lag in (m, 1):
        if y.shape[0] > lag:
            scale = float(np.mean(np.abs(y[lag:] - y[:-lag])))
            if scale > 0:
                return scale
    level = float(np.mean(np.abs(y))) if y.shape[0] else 0.0
    return level if level > 0 else 1.0


def mase(actual: ArrayLike, predicted: ArrayLike, insample: ArrayLike, season_length: int) -> float:
    """Mean absolute scaled error of ``predicted`` against ``actual`` (Hyndman & Koehler 2006)."""
    a = np.asarray(actual, dtype=float)
    f = np.asarray(predicted, dtype=float)
    return float(np.mean(np.abs(a - f)) / mase_scale(insample, season_length))


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


# --------------------------------------------------------------------------------------------
# ARIMA


@dataclass(frozen=True)
class ArimaOrder:
    """ARIMA(p,d,q)(P,D,Q)[m], optionally with a constant and ``fourier_k`` Fourier pairs.

    The constant is the intercept of the differenced series, as in statsmodels ``SARIMAX``
    (``trend="c"``): a mean when ``d + D = 0``, a drift when ``d + D = 1``.
    """

    p: int
    d: int
    q: int
    P: int = 0
    D: int = 0
    Q: int = 0
    m: int = 1
    constant: bool = False
    fourier_k: int = 0
    fourier_period: float = 0.0

    @property
    def k_params(self) -> int:
        """Number of estimated coefficients, without the innovation variance."""
        return int(self.constant) + 2 * self.fourier_k + self.p + self.q + self.P + self.Q

    def label(self) -> str:
        text = f"ARIMA({self.p},{self.d},{self.q})"
        if self.m > 1:
            text += f"({self.P},{self.D},{self.Q})[{self.m}]"
        if self.constant:
            text += " with drift" if self.d + self.D == 1 else " with mean"
        if self.fourier_k:
            text += f" + Fourier(K={self.fourier_k}, period={self.fourier_period:.2f})"
        return text


@dataclass(frozen=True)
class ArimaFit:
    """An estimated ARIMA model.

    ``params`` are in ``SARIMAX`` order: intercept (if any), Fourier coefficients, AR, MA,
    seasonal AR, seasonal MA, innovation variance.  ``method`` is ``"ml"`` (exact Gaussian
    likelihood, Kalman filter with diffuse initial differencing states, which is the likelihood
    of the differenced series as in R) or ``"css"`` (conditional sum of squares).
    ``nobs`` counts the differenced observations used for the AICc correction.
    """

    order: ArimaOrder
    params: tuple[float, ...]
    loglik: float
    aic: float
    aicc: float
    bic: float
    method: str
    nobs: int


def _fourier(t: FloatArray, period: float, k: int) -> FloatArray:
    cols = []
    for j in range(1, k + 1):
        angle = 2 * np.pi * j * t / period
        cols.append(np.sin(angle))
        cols.append(np.cos(angle))
    return np.column_stack(cols) if cols else np.empty((t.shape[0], 0))


def _exog(order: ArimaOrder, start: int, stop: int) -> FloatArray | None:
    if not order.fourier_k:
        return None
    return _fourier(np.arange(start, stop, dtype=float), order.fourier_period, order.fourier_k)


def _seasonal_poly(coefs: FloatArray, m: int, sign: float) -> FloatArray:
    poly = np.zeros(coefs.shape[0] * m + 1)
    poly[0] = 1.0
    if coefs.shape[0]:
        poly[m::m] = sign * coefs
    return poly


def _info_criteria(loglik: float, npar: int, nobs: int) -> tuple[float, float, float]:
    aic = -2 * loglik + 2 * npar
    denom = nobs - npar - 1
    aicc = aic + 2 * npar * (npar + 1) / denom if denom > 0 else math.inf
    bic = -2 * loglik + npar * math.log(max(nobs, 1))
    return aic, aicc, bic


def _constrain(u: FloatArray) -> FloatArray:
    from statsmodels.tsa.statespace.tools import constrain_stationary_univariate

    return constrain_stationary_univariate(u) if u.shape[0] else u


def _unconstrain(c: FloatArray) -> FloatArray:
    from statsmodels.tsa.statespace.tools import unconstrain_stationary_univariate

    return unconstrain_stationary_univariate(c) if c.shape[0] else c


def _fir_valid(x: FloatArray, poly: FloatArray) -> FloatArray:
    """``sum_j poly[j] * x[t - j]`` for every ``t`` with a full window (poly[0] == 1).

    The multiplicative AR polynomials are sparse, so a loop over their non-zero lags is much
    cheaper than a convolution.
    """
    lags = poly.shape[0] - 1
    n = x.shape[0]
    out = x[lags:].copy()
    for j in np.flatnonzero(poly[1:]) + 1:
        out += poly[j] * x[lags - j : n - j]
    return out


def _least_squares_coef(a: FloatArray, b: FloatArray) -> FloatArray:
    """OLS coefficients by the normal equations (few, well-conditioned columns), else lstsq."""
    try:
        coef = np.linalg.solve(a.T @ a, a.T @ b)
    except np.linalg.LinAlgError:
        coef = np.linalg.lstsq(a, b, rcond=None)[0]
    return np.asarray(coef, dtype=np.float64)


def _arma_polys(
    theta: FloatArray, p: int, q: int, big_p: int, big_q: int, m: int
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Map unconstrained parameters to (coefficients, AR polynomial, MA polynomial)."""
    phi = _constrain(theta[:p])
    ma = -_constrain(theta[p : p + q])
    sphi = _constrain(theta[p + q : p + q + big_p])
    sma = -_constrain(theta[p + q + big_p : p + q + big_p + big_q])
    ar_poly = np.convolve(np.concatenate(([1.0], -phi)), _seasonal_poly(sphi, m, -1.0))
    ma_poly = np.convolve(np.concatenate(([1.0], ma)), _seasonal_poly(sma, m, 1.0))
    return np.concatenate((phi, ma, sphi, sma)), ar_poly, ma_poly


def _css_fit(
    order: ArimaOrder, y: FloatArray, exog: FloatArray | None, *, check_roots: bool = True
) -> ArimaFit | None:
    """Conditional-sum-of-squares estimate, as R's ``arima(method="CSS")``.

    AR and MA coefficients are searched (Levenberg-Marquardt) in the unconstrained space of
    Jones (1980), so every fit is stationary and invertible; the intercept and regression
    coefficients enter the residuals linearly and are solved by least squares inside each
    evaluation (variable projection), which keeps the search to at most ``p + q + P + Q``
    dimensions even with a dozen Fourier terms.
    """
    p, q, big_p, big_q, m = order.p, order.q, order.P, order.Q, order.m
    w = _difference(y, order.d, order.D, m)
    x = _difference(exog, order.d, order.D, m) if exog is not None else None
    k_ar = p + m * big_p
    n_w = w.shape[0]
    n_c = n_w - k_ar
    k_arma = p + q + big_p + big_q
    k = order.k_params
    if n_c <= k + 1 or n_w - (k + 1) - 1 <= 0:
        return None
    scale = float(np.std(w))
    if not scale > 0:
        return None
    ws = w / scale

    def project(theta: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Residuals, regression coefficients and ARMA coefficients for ``theta``."""
        coefs, ar_poly, ma_poly = _arma_polys(theta, p, q, big_p, big_q, m)
        target = _fir_valid(ws, ar_poly)
        blocks = []
        if order.constant:
            blocks.append(np.ones((n_c, 1)))
        if x is not None:
            blocks.append(_fir_valid(x, ar_poly))
        regs = np.column_stack(blocks) if blocks else None
        if ma_poly.shape[0] > 1:
            target = signal.lfilter([1.0], ma_poly, target)
            if regs is not None:
                regs = signal.lfilter([1.0], ma_poly, regs, axis=0)
        beta = np.empty(0)
        if regs is not None:
            beta = _least_squares_coef(regs, target)
            target = target - regs @ beta
        return target, beta, coefs

    with _quiet():
        try:
            theta = np.zeros(k_arma)
            if k_arma:
                sol = optimize.least_squares(
                    lambda t: project(t)[0], theta, method="lm", max_nfev=50 * (k_arma + 1)
                )
                theta = sol.x
            e, beta, coefs = project(theta)
        except (ValueError, np.linalg.LinAlgError):
            return None
    sse = float(e @ e) * scale * scale
    if not (math.isfinite(sse) and sse > 0):
        return None
    sigma2 = sse / n_c
    # R's arima(method="CSS"): the variance from the n_c conditional residuals, the likelihood
    # counted over all n_w differenced observations, so that models conditioning on more lags
    # are not favoured by a shorter sum.
    loglik = -0.5 * n_w * (math.log(2 * math.pi * sigma2) + 1)
    aic, aicc, bic = _info_criteria(loglik, k + 1, n_w)
    params = np.concatenate([beta * scale, coefs, [sigma2]])
    if check_roots and not _roots_ok(order, params):
        return None
    return ArimaFit(order, tuple(float(v) for v in params), loglik, aic, aicc, bic, "css", n_w)


def _sarimax(
    order: ArimaOrder,
    y: FloatArray,
    exog: FloatArray | None,
    *,
    simple: bool = False,
    concentrate: bool = False,
) -> Any:
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    seasonal = (order.P, order.D, order.Q, order.m) if order.m > 1 else (0, 0, 0, 0)
    return SARIMAX(
        y,
        exog=exog,
        order=(order.p, order.d, order.q),
        seasonal_order=seasonal,
        trend="c" if order.constant else "n",
        simple_differencing=simple,
        concentrate_scale=concentrate,
    )


def _ml_fit(
    order: ArimaOrder,
    y: FloatArray,
    exog: FloatArray | None,
    start: ArimaFit | None = None,
    *,
    check_roots: bool = True,
) -> ArimaFit | None:
    """Exact maximum likelihood of the differenced series (``SARIMAX``, simple differencing).

    Differencing first and running the Kalman filter on the stationary ARMA gives the same
    likelihood as R's ``arima`` (diffuse prior on the differencing states) with a smaller state
    vector; the innovation variance is concentrated out, one parameter less to search.
    """
    with _quiet():
        try:
            model = _sarimax(order, y, exog, simple=True, concentrate=True)
            if order.k_params == 0:
                res = model.filter(np.empty(0))
            else:
                start_params = np.asarray(start.params[:-1]) if start is not None else None
                res = model.fit(start_params=start_params, disp=False, cov_type="none")
        except (ValueError, np.linalg.LinAlgError):
            return None
        loglik = float(res.llf)
        params = np.r_[np.asarray(res.params, dtype=float), float(res.scale)]
    if not (math.isfinite(loglik) and np.all(np.isfinite(params))):
        return None
    if check_roots and not _roots_ok(order, params):
        return None
    n_w = y.shape[0] - order.d - order.D * order.m
    aic, aicc, bic = _info_criteria(loglik, order.k_params + 1, n_w)
    return ArimaFit(order, tuple(float(v) for v in params), loglik, aic, aicc, bic, "ml", n_w)


def _roots_ok(order: ArimaOrder, params: FloatArray) -> bool:
    """False when an AR or MA root lies within 1.01 of the unit circle (as R's auto.arima)."""
    i = int(order.constant) + 2 * order.fourier_k
    p, q, bp, bq, m = order.p, order.q, order.P, order.Q, order.m
    ar = np.convolve(
        np.r_[1.0, -params[i : i + p]], _seasonal_poly(params[i + p + q : i + p + q + bp], m, -1.0)
    )
    ma = np.convolve(
        np.r_[1.0, params[i + p : i + p + q]],
        _seasonal_poly(params[i + p + q + bp : i + p + q + bp + bq], m, 1.0),
    )
    for poly in (ar, ma):
        nz = np.flatnonzero(np.abs(poly) > 0)
        if nz.shape[0] > 1 and np.any(np.abs(np.roots(poly[: nz[-1] + 1][::-1])) < 1.01):
            return False
    return True


def _arima_predict(fit: ArimaFit, y: FloatArray, h: int, *, intervals: bool = True) -> _Prediction:
    n = y.shape[0]
    exog = _exog(fit.order, 0, n)
    future = _exog(fit.order, n, n + h)
    with _quiet():
        res = _sarimax(fit.order, y, exog).filter(np.asarray(fit.params))
        fc = res.get_forecast(h, exog=future)
        point = np.asarray(fc.predicted_mean, dtype=float)
        if not intervals:
            return _Prediction(point, point, point, point, point)
        se = np.sqrt(np.maximum(np.asarray(fc.var_pred_mean, dtype=float).reshape(-1), 0.0))
    return _normal_prediction(point, se)


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


# --------------------------------------------------------------------------------------------
# Candidates


class _Candidate:
    """A model family with its structure fixed on the full training series."""

    name = ""

    def detail(self) -> str:
        return self.name

    def point(self, y: FloatArray, h: int) -> FloatArray:
        """Re-estimate on ``y`` (structure kept) and return the point forecast."""
        raise NotImplementedError

    def predict(self, h: int) -> _Prediction:
        """Forecast with intervals from the fit on the full training series."""
        raise NotImplementedError


class _Naive(_Candidate):
    name = "naive"

    def __init__(self, y: FloatArray) -> None:
        self.y = y

    def point(self, y: FloatArray, h: int) -> FloatArray:
        return np.full(h, y[-1])

    def predict(self, h: int) -> _Prediction:
        res = np.diff(self.y)
        sigma = math.sqrt(float(np.mean(res * res))) if res.shape[0] else 0.0
        return _normal_prediction(self.point(self.y, h), sigma * np.sqrt(np.arange(1, h + 1)))


class _SeasonalNaive(_Candidate):
    name = "seasonal_naive"

    def __init__(self, y: FloatArray, m: int) -> None:
        self.y = y
        self.m = m

    def detail(self) -> str:
        return f"seasonal naive (lag {self.m})"

    def point(self, y: FloatArray, h: int) -> FloatArray:
        m = self.m
        if y.shape[0] < m or m < 2:
            return np.full(h, y[-1])
        return y[y.shape[0] - m + np.arange(h) % m]

    def predict(self, h: int) -> _Prediction:
        y, m = self.y, self.m
        if y.shape[0] <= m or m < 2:
            return _Naive(y).predict(h)
        res = y[m:] - y[:-m]
        sigma = math.sqrt(float(np.mean(res * res)))
        se = sigma * np.sqrt(np.floor(np.arange(h) / m) + 1)
        return _normal_prediction(self.point(y, h), se)


@dataclass(frozen=True)
class _EtsForm:
    error: str
    trend: str | None
    damped: bool
    seasonal: str | None

    def label(self) -> str:
        trend = "N" if self.trend is None else ("Ad" if self.damped else "A")
        season = {"add": "A", "mul": "M", None: "N"}[self.seasonal]
        return f"ETS({self.error[0].upper()},{trend},{season})"


def _ets_forms(y: FloatArray, seasonal: bool) -> list[_EtsForm]:
    positive = bool(np.all(y > 0))
    trends: list[tuple[str | None, bool]] = [(None, False), ("add", False), ("add", True)]
    forms = []
    for error in ("add", "mul") if positive else ("add",):
        seasons: list[str | None] = [None]
        if seasonal:
            seasons.append("add" if error == "add" else "mul")
        for trend, damped in trends:
            for season in seasons:
                forms.append(_EtsForm(error, trend, damped, season))
    return forms


def _fit_ets(y: FloatArray, form: _EtsForm, m: int) -> Any:
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    seasonal = form.seasonal is not None
    n = y.shape[0]
    heuristic = n >= 10 and (not seasonal or (n >= 2 * m and n >= 10 + 2 * (m // 2)))
    model = ETSModel(
        pd.Series(y),  # statsmodels' prediction results need a pandas index
        error=form.error,
        trend=form.trend,
        damped_trend=form.damped,
        seasonal=form.seasonal,
        seasonal_periods=m if seasonal else None,
        initialization_method="heuristic" if heuristic else "estimated",
    )
    return model.fit(disp=False, maxiter=200)


def _stl_split(y: FloatArray, m: int) -> tuple[FloatArray, FloatArray]:
    from statsmodels.tsa.seasonal import STL

    with _quiet():
        res = STL(y, period=m, robust=True).fit()
    seasonal = np.asarray(res.seasonal, dtype=float)
    return y - seasonal, seasonal


class _Ets(_Candidate):
    name = "ets"

    def __init__(self, y: FloatArray, m: int) -> None:
        self.y = y
        self.m = m
        self.stl = m > LONG_SEASON and y.shape[0] >= 2 * m + 1
        seasonal_states = 1 < m <= LONG_SEASON and y.shape[0] >= 2 * m + 2
        target = y
        self.seasonal_part: FloatArray | None = None
        if self.stl:
            target, self.seasonal_part = _stl_split(y, m)
        best: tuple[float, _EtsForm, Any] | None = None
        with _quiet():
            for form in _ets_forms(target, seasonal_states):
                try:
                    res = _fit_ets(target, form, m)
                except (ValueError, np.linalg.LinAlgError):
                    continue
                score = float(res.aicc)
                if math.isfinite(score) and (best is None or score < best[0]):
                    best = (score, form, res)
        if best is None:
            raise ValueError("no ETS form could be fitted")
        self.form = best[1]
        self.fit = best[2]

    def detail(self) -> str:
        return ("STL + " if self.stl else "") + self.form.label()

    def _season_ahead(self, seasonal: FloatArray, h: int) -> FloatArray:
        n = seasonal.shape[0]
        return seasonal[n - self.m + np.arange(h) % self.m]

    def point(self, y: FloatArray, h: int) -> FloatArray:
        with _quiet():
            if self.stl:
                adjusted, seasonal = _stl_split(y, self.m)
                res = _fit_ets(adjusted, self.form, self.m)
                return np.asarray(res.forecast(h)) + self._season_ahead(seasonal, h)
            return np.asarray(_fit_ets(y, self.form, self.m).forecast(h))

    def predict(self, h: int) -> _Prediction:
        n = self.fit.nobs
        with _quiet():
            point = np.asarray(self.fit.forecast(h), dtype=float)
            pred = self.fit.get_prediction(
                start=n, end=n + h - 1, simulate_repetitions=2000, rng=np.random.default_rng(0)
            )
            f80 = pred.summary_frame(alpha=0.2)
            f95 = pred.summary_frame(alpha=0.05)
        out = _Prediction(
            point,
            f80["pi_lower"].to_numpy(float),
            f80["pi_upper"].to_numpy(float),
            f95["pi_lower"].to_numpy(float),
            f95["pi_upper"].to_numpy(float),
        )
        if self.seasonal_part is not None:
            s = self._season_ahead(self.seasonal_part, h)
            out = _Prediction(
                out.point + s,
                out.lower_80 + s,
                out.upper_80 + s,
                out.lower_95 + s,
                out.upper_95 + s,
            )
        return out


class _Arima(_Candidate):
    name = "arima"

    def __init__(self, y: FloatArray, m: int) -> None:
        self.y = y
        with _quiet():
            self.fit = auto_arima(y, m)

    def detail(self) -> str:
        return self.fit.order.label()

    def point(self, y: FloatArray, h: int) -> FloatArray:
        order = self.fit.order
        exog = _exog(order, 0, y.shape[0])
        # Roots near the unit circle rule a form out of the search, not out of a re-estimate.
        fit = None
        if self.fit.method == "ml":
            fit = _ml_fit(order, y, exog, start=self.fit, check_roots=False)
        fit = fit or _css_fit(order, y, exog, check_roots=False)
        if fit is None:
            raise ValueError("ARIMA could not be re-estimated")
        return _arima_predict(fit, y, h, intervals=False).point

    def predict(self, h: int) -> _Prediction:
        return _arima_predict(self.fit, self.y, h)


class _Theta(_Candidate):
    name = "theta"

    def __init__(self, y: FloatArray, m: int) -> None:
        self.y = y
        self.m = m
        self.fit = self._fit(y)

    def _fit(self, y: FloatArray) -> Any:
        from statsmodels.tsa.forecasting.theta import ThetaModel

        seasonal = self.m > 1 and y.shape[0] >= 2 * self.m
        with _quiet():
            model = ThetaModel(
                y,
                period=self.m if seasonal else 1,
                deseasonalize=seasonal,
                method="auto" if np.all(y > 0) else "additive",
            )
            return model.fit()

    def point(self, y: FloatArray, h: int) -> FloatArray:
        with _quiet():
            return np.asarray(self._fit(y).forecast(h), dtype=float)

    def predict(self, h: int) -> _Prediction:
        with _quiet():
            point = np.asarray(self.fit.forecast(h), dtype=float)
            i80 = self.fit.prediction_intervals(h, alpha=0.2)
            i95 = self.fit.prediction_intervals(h, alpha=0.05)
        return _Prediction(
            point,
            i80["lower"].to_numpy(float),
            i80["upper"].to_numpy(float),
            i95["lower"].to_numpy(float),
            i95["upper"].to_numpy(float),
        )


class _Combination(_Candidate):
    """Equal-weight mean of the model-based forecasts.

    Intervals average the members' bounds (quantile averaging, "Vincentization"), which keeps
    the nominal coverage of similar members and is narrower than their union.
    """

    name = "combination"

    def __init__(self, parts: Sequence[_Candidate]) -> None:
        self.parts = list(parts)

    def detail(self) -> str:
        return "mean of " + ", ".join(p.detail() for p in self.parts)

    def point(self, y: FloatArray, h: int) -> FloatArray:
        return np.mean([p.point(y, h) for p in self.parts], axis=0)

    def predict(self, h: int) -> _Prediction:
        preds = [_tidy(p.predict(h), h) for p in self.parts]
        fields = ("point", "lower_80", "upper_80", "lower_95", "upper_95")
        means = [np.mean([getattr(pr, f) for pr in preds], axis=0) for f in fields]
        return _Prediction(*means)


_BUILDERS: Mapping[str, Any] = MappingProxyType(
    {
        "naive": lambda y, m: _Naive(y),
        "seasonal_naive": _SeasonalNaive,
        "ets": _Ets,
        "arima": _Arima,
        "theta": _Theta,
    }
)


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


def _backtest_plan(n: int, h: int, m: int, folds: int) -> tuple[int, list[int]]:
    """Backtest horizon and fold origins (training lengths), most recent first."""
    h_bt = max(1, min(h, n // 4))
    seasonal_min = 2 * m + 2 if m > 1 else 0
    n_min = seasonal_min if n - h_bt >= seasonal_min else max(6, (n - h_bt) // 2)
    n_min = max(n_min, 6)
    last = n - h_bt
    if last < n_min or folds < 1:
        return h_bt, []
    step = h_bt if folds == 1 else max(1, min(h_bt, (last - n_min) // (folds - 1)))
    origins = [last - i * step for i in range(folds)]
    return h_bt, [o for o in origins if o >= n_min]


def _constant_result(
    y: FloatArray, h: int, m: int, notes: list[str], *, reason: str | None
) -> ForecastResult:
    level = float(y[-1]) if y.shape[0] else 0.0
    pred = (
        _Naive(y).predict(h)
        if y.shape[0] >= 2
        else _normal_prediction(np.full(h, level), np.zeros(h))
    )
    if y.shape[0] == 0:
        pred = _normal_prediction(np.zeros(h), np.zeros(h))
    if reason:
        notes = [*notes, reason]
    return _result("naive", "naive", math.nan, {}, pred, m, h, 0, 0, notes)


def _result(
    model: str,
    detail: str,
    score: float,
    scores: Mapping[str, float],
    pred: _Prediction,
    m: int,
    h: int,
    n_folds: int,
    h_bt: int,
    notes: Sequence[str],
) -> ForecastResult:
    pred = _tidy(pred, h) if h else pred

    def tup(a: FloatArray) -> tuple[float, ...]:
        return tuple(float(v) for v in np.asarray(a)[:h])

    return ForecastResult(
        model=model,
        model_detail=detail,
        backtest_mase=float(score),
        candidate_mase=MappingProxyType(dict(scores)),
        point=tup(pred.point),
        lower_80=tup(pred.lower_80),
        upper_80=tup(pred.upper_80),
        lower_95=tup(pred.lower_95),
        upper_95=tup(pred.upper_95),
        season_length=m,
        horizon=h,
        backtest_folds=n_folds,
        backtest_horizon=h_bt,
        notes=tuple(notes),
    )


# --------------------------------------------------------------------------------------------
# Entry point


def forecast(
    y: ArrayLike | pd.Series,
    horizon: int,
    *,
    season_length: int | None = None,
    frequency: str | None = None,
    folds: int = 4,
    models: Sequence[str] | None = None,
) -> ForecastResult:
    """Forecast ``horizon`` steps of ``y`` with the candidate that backtests best.

    ``y`` is a sequence of numbers in time order (a pandas Series with a Period/Datetime index
    lets the season length be inferred).  The season length comes from ``season_length``, else
    from ``frequency`` (``"daily"``, ``"weekly"``, ``"monthly"`` or a pandas alias), else from
    the index, else 1.  ``models`` restricts the candidates (default :data:`MODEL_NAMES`).
    Never raises: if anything goes wrong the naive forecast is returned with a note.
    """
    try:
        h = max(0, int(horizon))
    except (TypeError, ValueError):
        h = 0
    try:
        m = int(season_length) if season_length else (_season_from(frequency, y) or 1)
        m = max(1, m)
    except (TypeError, ValueError):
        m = 1
    data, notes = _clean(y)
    try:
        with _single_threaded_blas():
            return _forecast(data, h, m, folds, models, notes)
    except Exception as exc:  # never raise: a forecast page must always render
        fallback = f"model selection failed ({type(exc).__name__}: {exc}); naive forecast"
        try:
            return _constant_result(data, h, m, notes, reason=fallback)
        except Exception:  # pragma: no cover - last resort
            empty = _normal_prediction(np.zeros(h), np.zeros(h))
            return _result("naive", "naive", math.nan, {}, empty, m, h, 0, 0, [fallback])


def _forecast(
    y: FloatArray,
    h: int,
    m: int,
    folds: int,
    models: Sequence[str] | None,
    notes: list[str],
) -> ForecastResult:
    n = y.shape[0]
    if h == 0:
        return _constant_result(y, 0, m, notes, reason="horizon is zero")
    if n == 0:
        return _constant_result(y, h, m, notes, reason="no data: forecasting zero")
    if _is_constant(y):
        return _constant_result(y, h, m, notes, reason="constant series")
    if n < 4:
        return _constant_result(y, h, m, notes, reason=f"only {n} observations")

    names = [name for name in (models or MODEL_NAMES) if name in MODEL_NAMES]
    if not names:
        names = ["naive"]
    candidates: dict[str, _Candidate] = {}
    needed = set(names) | (set(COMBINED) if "combination" in names else set())
    for name in [name for name in MODEL_NAMES if name in needed and name in _BUILDERS]:
        try:
            candidates[name] = _BUILDERS[name](y, m)
        except Exception as exc:  # a family that cannot be fitted just drops out
            notes.append(f"{name} not fitted ({type(exc).__name__}: {exc})")
    if not candidates:
        candidates["naive"] = _Naive(y)

    parts = [candidates[name] for name in COMBINED if name in candidates]
    if "combination" in names and len(parts) >= 2:
        candidates["combination"] = _Combination(parts)
    h_bt, origins = _backtest_plan(n, h, m, folds)
    scores: dict[str, float] = {}
    if origins:
        fold_points: dict[str, list[FloatArray]] = {}
        for name, cand in candidates.items():
            points: list[FloatArray] = []
            for origin in origins:
                try:
                    if isinstance(cand, _Combination):
                        pred = np.mean([fold_points[p.name][len(points)] for p in cand.parts], 0)
                    else:
                        pred = np.asarray(cand.point(y[:origin], h_bt), dtype=float)
                    if pred.shape[0] != h_bt or not np.all(np.isfinite(pred)):
                        raise ValueError("non-finite forecast")
                except Exception:  # a failed fold disqualifies the candidate
                    points = []
                    break
                points.append(pred)
            fold_points[name] = points
            errors = [
                mase(y[o : o + h_bt], f, y[:o], m) for o, f in zip(origins, points, strict=False)
            ]
            scores[name] = float(np.mean(errors)) if errors else math.nan
        if h_bt < h:
            notes.append(f"backtest horizon shortened to {h_bt} (series of {n} points)")
    else:
        notes.append(f"series of {n} points too short to backtest")
        scores = dict.fromkeys(candidates, math.nan)

    ranked = [name for name in candidates if name in names and math.isfinite(scores[name])]
    if ranked:
        chosen = min(ranked, key=lambda name: scores[name])
    else:
        fallback = "seasonal_naive" if m > 1 and n >= 2 * m else "naive"
        chosen = fallback if fallback in candidates else next(iter(candidates))
    for name in [chosen, "naive"]:
        cand = candidates.get(name) or _Naive(y)
        try:
            pred = _tidy(cand.predict(h), h)
        except Exception as exc:
            notes.append(f"{name} forecast failed ({type(exc).__name__}); naive forecast")
            continue
        return _result(
            cand.name,
            cand.detail(),
            scores.get(cand.name, math.nan),
            scores,
            pred,
            m,
            h,
            len(origins),
            h_bt,
            notes,
        )
    return _constant_result(y, h, m, notes, reason=None)
