"""ARIMA models for the forecasting package: the model and fit types, conditional-sum-of-squares
and exact maximum-likelihood estimation (statsmodels ``SARIMAX``), and prediction.

The automatic order search built on these lives in
:mod:`crm.insights.analytics.forecast.arima_search`.  No Django imports.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import optimize, signal

from crm.insights.analytics.forecast.common import (
    FloatArray,
    _normal_prediction,
    _Prediction,
    _quiet,
)
from crm.insights.analytics.forecast.series import _difference

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
