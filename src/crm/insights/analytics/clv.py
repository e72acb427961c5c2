"""Customer lifetime value: BG/NBD purchase model, Gamma-Gamma spend model and discounted CLV.

Pure numpy/scipy: no Django imports.  Time is measured in the unit of the summary
(:func:`crm.insights.analytics.rfm.summary_data_from_transactions`, weeks by default).

BG/NBD (Fader, Hardie & Lee 2005, "Counting your customers the easy way", *Marketing Science*
24(2)).  While alive a customer buys as a Poisson process with rate ``lambda ~ Gamma(r, alpha)``;
after every purchase they drop out with probability ``p ~ Beta(a, b)``.  For a customer with
``x`` repeat purchases, the last at ``t_x``, observed for ``T``::

    L = B(a, b+x)/B(a, b) * G(r+x) alpha^r / (G(r) (alpha+T)^(r+x))
        + [x > 0] B(a+1, b+x-1)/B(a, b) * G(r+x) alpha^r / (G(r) (alpha+t_x)^(r+x))

The parameters are fitted by maximum likelihood on log-parameters with L-BFGS-B and the exact
gradient (digamma terms); identical ``(x, t_x, T)`` rows are collapsed and weighted, and the
special functions of ``x`` alone are evaluated once per distinct ``x``.  The optimiser runs with
BLAS limited to one thread: its tiny vector operations gain nothing from threads, and on a busy
host an oversubscribed OpenBLAS makes the fit 10-40x slower.

Gamma-Gamma (Fader & Hardie, "The Gamma-Gamma model of monetary value", 2013): a repeat buyer's
transaction values are ``Gamma(p, nu)`` with ``nu ~ Gamma(q, v)``.  Fitted by ML on the repeat
buyers' ``(x, zbar)``; the conditional expected average spend is
``(p (v + x zbar)) / (p x + q - 1)``.

CLV over ``months`` months: ``sum_m (E[Y(m)] - E[Y(m-1)]) * spend / (1 + d)^m`` with ``E[Y(m)]``
the BG/NBD conditional expected purchases by the end of month ``m`` and ``d`` the monthly
discount rate (the same convention as ``lifetimes``).

Hypergeometric terms use Euler's transformation
``(1-z)^(r+x) 2F1(r+x, b+x; a+b+x-1; z) = (1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z)``, which keeps
the series well conditioned for customers with many purchases.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import optimize, special
from threadpoolctl import threadpool_limits

__all__ = [
    "BGNBDParams",
    "GammaGammaParams",
    "bgnbd_conditional_expected_purchases",
    "bgnbd_expected_purchases",
    "bgnbd_log_likelihood",
    "bgnbd_p_alive",
    "customer_lifetime_value",
    "fit_bgnbd",
    "fit_gamma_gamma",
    "gamma_gamma_expected_spend",
    "gamma_gamma_log_likelihood",
]

FloatArray = npt.NDArray[np.float64]
ArrayLike = npt.ArrayLike

#: Average month length in days (365.25 / 12).
DAYS_PER_MONTH = 365.25 / 12


@dataclass(frozen=True)
class BGNBDParams:
    """Fitted BG/NBD parameters and the fit's total log-likelihood."""

    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float = float("nan")
    n_customers: int = 0
    converged: bool = True


@dataclass(frozen=True)
class GammaGammaParams:
    """Fitted Gamma-Gamma parameters and the fit's total log-likelihood."""

    p: float
    q: float
    v: float
    log_likelihood: float = float("nan")
    n_customers: int = 0
    converged: bool = True

    @property
    def population_mean_spend(self) -> float:
        """Expected spend per transaction of a customer with no repeats: ``p v / (q - 1)``."""
        return self.p * self.v / (self.q - 1.0) if self.q > 1.0 else float("inf")


def _as_float(values: ArrayLike) -> FloatArray:
    return np.asarray(values, dtype=np.float64)


def _dot(u: npt.NDArray[Any], v: npt.NDArray[Any]) -> float:
    """``sum(u * v)`` without BLAS: these reductions are memory-bound, and a multi-threaded
    BLAS call on a busy worker host can be a thousand times slower than the plain loop."""
    return float(np.sum(u * v))


def _check_summary(x: FloatArray, t_x: FloatArray, big_t: FloatArray) -> None:
    if not (x.shape == t_x.shape == big_t.shape):
        raise ValueError("x, t_x and T must have the same shape")
    if np.any(x < 0) or np.any(t_x < 0) or np.any(t_x > big_t + 1e-9):
        raise ValueError("need x >= 0 and 0 <= t_x <= T")
    if np.any((x == 0) & (t_x > 0)):
        raise ValueError("t_x must be 0 when x is 0")


def _collapse(
    *columns: FloatArray,
) -> tuple[list[FloatArray], FloatArray, npt.NDArray[np.intp]]:
    """Unique rows of the stacked columns, their counts (weights) and each row's unique index.

    Same result as ``np.unique(..., axis=0)`` (rows in lexicographic order) via ``np.lexsort``,
    which is several times faster on hundreds of thousands of rows.
    """
    n = len(columns[0])
    if n == 0:
        empty = np.empty(0, dtype=np.float64)
        return [empty.copy() for _ in columns], empty, np.empty(0, dtype=np.intp)
    order = np.lexsort(columns[::-1])
    sorted_cols = [c[order] for c in columns]
    change = np.zeros(n, dtype=bool)
    change[0] = True
    for c in sorted_cols:  # one pass per column (3 at most), not per customer
        change[1:] |= c[1:] != c[:-1]
    group = np.cumsum(change) - 1
    inverse = np.empty(n, dtype=np.intp)
    inverse[order] = group
    counts = np.bincount(group).astype(np.float64)
    return [np.ascontiguousarray(c[change]) for c in sorted_cols], counts, inverse


@dataclass(frozen=True)
class _Histories:
    """Customer histories prepared for likelihood evaluation.

    Special functions of ``x`` alone (gammaln, betaln, digamma) are evaluated once per distinct
    ``x`` (``x_values``) and combined per row through ``x_index``; rows may carry weights.
    """

    x: FloatArray
    t_x: FloatArray
    big_t: FloatArray
    weights: FloatArray
    x_values: FloatArray
    x_index: npt.NDArray[np.intp]

    @classmethod
    def build(
        cls, x: FloatArray, t_x: FloatArray, big_t: FloatArray, *, collapse: bool
    ) -> _Histories:
        if collapse:
            (x, t_x, big_t), weights, _ = _collapse(x, t_x, big_t)
        else:
            weights = np.ones(x.shape, dtype=np.float64)
        x_values, x_index = np.unique(x, return_inverse=True)
        return cls(x, t_x, big_t, weights, x_values, x_index.reshape(-1))


# --------------------------------------------------------------------------------------------
# BG/NBD
# --------------------------------------------------------------------------------------------


def _bgnbd_terms(
    r: float, alpha: float, a: float, b: float, h: _Histories
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Per-row log-likelihood pieces A1, A2, A3 (A3 = -inf where x = 0); ``ll = A1 + lse``."""
    xv = h.x_values
    repeat_v = xv > 0
    a1_v = special.gammaln(r + xv) - special.gammaln(r) + r * np.log(alpha) - special.betaln(a, b)
    b2_v = special.betaln(a, b + xv)
    b3_v = np.where(repeat_v, special.betaln(a + 1.0, np.where(repeat_v, b + xv - 1.0, 1.0)), 0)
    idx = h.x_index
    rx = r + h.x
    a1 = a1_v[idx]
    a2 = b2_v[idx] - rx * np.log(alpha + h.big_t)
    a3 = np.where(h.x > 0, b3_v[idx] - rx * np.log(alpha + h.t_x), -np.inf)
    return a1, a2, a3


def _bgnbd_neg_ll_and_grad(
    log_params: FloatArray, h: _Histories, penalizer: float
) -> tuple[float, FloatArray]:
    r, alpha, a, b = np.exp(log_params)
    a1, a2, a3 = _bgnbd_terms(r, alpha, a, b, h)
    log_mix = np.logaddexp(a2, a3)
    w = h.weights
    total_w = w.sum()
    value = -_dot(w, a1 + log_mix) / total_w
    # responsibilities of the two mixture terms, and weighted sums per distinct x
    pi2 = np.exp(a2 - log_mix)
    pi3 = 1.0 - pi2
    groups = len(h.x_values)
    w_g = np.bincount(h.x_index, weights=w, minlength=groups)
    w2_g = np.bincount(h.x_index, weights=w * pi2, minlength=groups)
    w3_g = np.bincount(h.x_index, weights=w * pi3, minlength=groups)
    psi = special.digamma
    xv = h.x_values
    repeat_v = xv > 0
    psi_abx = psi(a + b + xv)
    psi_b1 = np.where(repeat_v, psi(np.where(repeat_v, b + xv - 1.0, 1.0)), 0.0)
    inv_at = 1.0 / (alpha + h.big_t)
    inv_atx = 1.0 / (alpha + h.t_x)
    rx = r + h.x
    d_r = _dot(w_g, psi(r + xv) - psi(r) + np.log(alpha)) - _dot(
        w, pi2 * np.log(alpha + h.big_t) + pi3 * np.log(alpha + h.t_x)
    )
    d_alpha = total_w * r / alpha - _dot(w, rx * (pi2 * inv_at + pi3 * inv_atx))
    d_a = (
        -total_w * (psi(a) - psi(a + b))
        + _dot(w2_g, psi(a) - psi_abx)
        + _dot(w3_g, np.where(repeat_v, psi(a + 1.0) - psi_abx, 0.0))
    )
    d_b = (
        -total_w * (psi(b) - psi(a + b))
        + _dot(w2_g, psi(b + xv) - psi_abx)
        + _dot(w3_g, np.where(repeat_v, psi_b1 - psi_abx, 0.0))
    )
    params = np.array([r, alpha, a, b])
    grad = -(np.array([d_r, d_alpha, d_a, d_b]) * params) / total_w  # d/d log-params
    if penalizer > 0:
        value += penalizer * _dot(params, params)
        grad += 2.0 * penalizer * params * params
    return float(value), grad


def bgnbd_log_likelihood(
    params: BGNBDParams | tuple[float, float, float, float],
    x: ArrayLike,
    t_x: ArrayLike,
    big_t: ArrayLike,
) -> FloatArray:
    """Per-customer BG/NBD log-likelihood (sum it for the total)."""
    r, alpha, a, b = _unpack_bgnbd(params)
    xs, txs, ts = np.broadcast_arrays(_as_float(x), _as_float(t_x), _as_float(big_t))
    h = _Histories.build(xs.ravel(), txs.ravel(), ts.ravel(), collapse=False)
    a1, a2, a3 = _bgnbd_terms(r, alpha, a, b, h)
    return (a1 + np.logaddexp(a2, a3)).reshape(xs.shape)


def _unpack_bgnbd(
    params: BGNBDParams | tuple[float, float, float, float],
) -> tuple[float, float, float, float]:
    if isinstance(params, BGNBDParams):
        return params.r, params.alpha, params.a, params.b
    r, alpha, a, b = params
    return float(r), float(alpha), float(a), float(b)


def _away_from_one(a: float) -> float:
    """The expectations divide by ``a - 1``; at ``a == 1`` use the (continuous) limit."""
    return a if abs(a - 1.0) > 1e-9 else 1.0 + 1e-9


def fit_bgnbd(
    frequency: ArrayLike,
    recency: ArrayLike,
    big_t: ArrayLike,
    *,
    penalizer: float = 0.0,
    initial: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0),
) -> BGNBDParams:
    """Maximum-likelihood BG/NBD fit on ``(x, t_x, T)`` (frequency, recency, T).

    ``penalizer`` adds ``penalizer * sum(params**2)`` to the mean negative log-likelihood (as in
    ``lifetimes``), useful for small tenants; 0 gives the plain MLE.
    """
    x, t_x, ts = _as_float(frequency), _as_float(recency), _as_float(big_t)
    _check_summary(x, t_x, ts)
    if x.size == 0:
        raise ValueError("no customers to fit")
    h = _Histories.build(x, t_x, ts, collapse=True)
    with threadpool_limits(limits=1, user_api="blas"):
        result = optimize.minimize(
            _bgnbd_neg_ll_and_grad,
            np.log(np.asarray(initial, dtype=np.float64)),
            args=(h, penalizer),
            jac=True,
            method="L-BFGS-B",
            options={"maxiter": 2000, "ftol": 1e-15, "gtol": 1e-10},
        )
    r, alpha, a, b = (float(v) for v in np.exp(result.x))
    a1, a2, a3 = _bgnbd_terms(r, alpha, a, b, h)
    ll = _dot(h.weights, a1 + np.logaddexp(a2, a3))
    return BGNBDParams(
        r=r,
        alpha=alpha,
        a=a,
        b=b,
        log_likelihood=ll,
        n_customers=int(x.size),
        converged=bool(result.success),
    )


def _hyp2f1(
    a_: FloatArray | float, b_: FloatArray | float, c_: FloatArray | float, z: FloatArray
) -> FloatArray:
    return np.asarray(special.hyp2f1(a_, b_, c_, z), dtype=np.float64)


def bgnbd_expected_purchases(
    params: BGNBDParams | tuple[float, float, float, float], t: ArrayLike
) -> FloatArray:
    """Expected purchases ``E[X(t)]`` of a new customer in ``(0, t]`` (FHL 2005, eq. 7)."""
    r, alpha, a, b = _unpack_bgnbd(params)
    a = _away_from_one(a)
    ts = _as_float(t)
    z = ts / (alpha + ts)
    # (alpha/(alpha+t))^r 2F1(r, b; a+b-1; z) = (1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b-1; z)
    hyp = _hyp2f1(a + b - 1.0 - r, a - 1.0, a + b - 1.0, z)
    term = np.exp((a - 1.0) * np.log1p(-z)) * hyp
    return (a + b - 1.0) / (a - 1.0) * (1.0 - term)


def _log_alive_odds(
    r: float, alpha: float, a: float, b: float, x: FloatArray, t_x: FloatArray, big_t: FloatArray
) -> FloatArray:
    """log of ``[x>0] a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x)`` (-inf where x = 0)."""
    has_repeat = x > 0
    safe = np.where(has_repeat, b + x - 1.0, 1.0)
    value = np.log(a) - np.log(safe) + (r + x) * (np.log(alpha + big_t) - np.log(alpha + t_x))
    return np.where(has_repeat, value, -np.inf)


def bgnbd_p_alive(
    params: BGNBDParams | tuple[float, float, float, float],
    x: ArrayLike,
    t_x: ArrayLike,
    big_t: ArrayLike,
) -> FloatArray:
    """Probability that a customer with history ``(x, t_x, T)`` is still alive (FHL eq. 11)."""
    r, alpha, a, b = _unpack_bgnbd(params)
    xs, txs, ts = np.broadcast_arrays(_as_float(x), _as_float(t_x), _as_float(big_t))
    return np.exp(-np.logaddexp(0.0, _log_alive_odds(r, alpha, a, b, xs, txs, ts)))


def _expected_if_alive(
    r: float, alpha: float, a: float, b: float, t: FloatArray, x: FloatArray, big_t: FloatArray
) -> FloatArray:
    """Expected purchases in ``(T, T + t]`` for a customer known to be alive at ``T``."""
    z = t / (alpha + big_t + t)
    c = a + b + x - 1.0
    hyp = _hyp2f1(a + b - 1.0 - r, a - 1.0, c, z)
    term = np.exp((a - 1.0) * np.log1p(-z)) * hyp
    return c / (a - 1.0) * (1.0 - term)


def bgnbd_conditional_expected_purchases(
    params: BGNBDParams | tuple[float, float, float, float],
    t: ArrayLike,
    x: ArrayLike,
    t_x: ArrayLike,
    big_t: ArrayLike,
) -> FloatArray:
    """Expected purchases in ``(T, T + t]`` given ``(x, t_x, T)`` (FHL 2005, eq. 10).

    Equal to P(alive) times the expectation for a customer alive at ``T`` (which depends on
    ``x`` and ``T`` only).  All inputs broadcast, so ``t`` of shape ``(m, 1)`` against customers
    of shape ``(n,)`` gives an ``(m, n)`` matrix.
    """
    r, alpha, a, b = _unpack_bgnbd(params)
    a = _away_from_one(a)
    ts, xs, txs, bigs = np.broadcast_arrays(
        _as_float(t), _as_float(x), _as_float(t_x), _as_float(big_t)
    )
    if_alive = _expected_if_alive(r, alpha, a, b, ts, xs, bigs)
    log_odds = _log_alive_odds(r, alpha, a, b, xs, txs, bigs)
    return if_alive * np.exp(-np.logaddexp(0.0, log_odds))


# --------------------------------------------------------------------------------------------
# Gamma-Gamma
# --------------------------------------------------------------------------------------------


def _gg_neg_ll_and_grad(
    log_params: FloatArray,
    x: FloatArray,
    zbar: FloatArray,
    weights: FloatArray,
    x_values: FloatArray,
    x_index: npt.NDArray[np.intp],
    penalizer: float,
) -> tuple[float, FloatArray]:
    p, q, v = np.exp(log_params)
    pxv = p * x_values
    # terms in x only, once per distinct x
    lgam_v = special.gammaln(pxv + q) - special.gammaln(pxv) - special.gammaln(q)
    psi_pxq_v = special.digamma(pxv + q)
    dp_v = x_values * (psi_pxq_v - special.digamma(pxv))
    dq_v = psi_pxq_v - special.digamma(q)
    px = p * x
    log_x = np.log(x)
    log_z = np.log(zbar)
    log_xz_v = np.log(x * zbar + v)
    total_w = weights.sum()
    w_g = np.bincount(x_index, weights=weights, minlength=len(x_values))
    ll_sum = _dot(w_g, lgam_v) + _dot(
        weights, q * np.log(v) + (px - 1.0) * log_z + px * log_x - (px + q) * log_xz_v
    )
    value = -ll_sum / total_w
    d_p = _dot(w_g, dp_v) + _dot(weights, x * (log_z + log_x - log_xz_v))
    d_q = _dot(w_g, dq_v) + _dot(weights, np.log(v) - log_xz_v)
    d_v = _dot(weights, q / v - (px + q) / (x * zbar + v))
    params = np.array([p, q, v])
    grad = -(np.array([d_p, d_q, d_v]) * params) / total_w
    if penalizer > 0:
        value += penalizer * _dot(params, params)
        grad += 2.0 * penalizer * params * params
    return float(value), grad


def gamma_gamma_log_likelihood(
    params: GammaGammaParams | tuple[float, float, float], x: ArrayLike, zbar: ArrayLike
) -> FloatArray:
    """Per-customer Gamma-Gamma log-likelihood of repeat buyers (``x > 0``, ``zbar > 0``)."""
    p, q, v = _unpack_gg(params)
    xs, zs = _as_float(x), _as_float(zbar)
    px = p * xs
    value = (
        special.gammaln(px + q)
        - special.gammaln(px)
        - special.gammaln(q)
        + q * np.log(v)
        + (px - 1.0) * np.log(zs)
        + px * np.log(xs)
        - (px + q) * np.log(xs * zs + v)
    )
    return np.asarray(value, dtype=np.float64)


def _unpack_gg(params: GammaGammaParams | tuple[float, float, float]) -> tuple[float, float, float]:
    if isinstance(params, GammaGammaParams):
        return params.p, params.q, params.v
    p, q, v = params
    return float(p), float(q), float(v)


def fit_gamma_gamma(
    frequency: ArrayLike,
    monetary_value: ArrayLike,
    *,
    penalizer: float = 0.0,
    initial: tuple[float, float, float] = (1.0, 1.0, 1.0),
) -> GammaGammaParams:
    """Maximum-likelihood Gamma-Gamma fit on repeat buyers.

    Rows with ``frequency == 0`` or a non-positive ``monetary_value`` are ignored, so the whole
    summary can be passed in.
    """
    x, zbar = _as_float(frequency), _as_float(monetary_value)
    keep = (x > 0) & (zbar > 0)
    if not np.any(keep):
        raise ValueError("Gamma-Gamma needs at least one repeat buyer with positive spend")
    (ux, uz), weights, _ = _collapse(x[keep], zbar[keep])
    x_values, x_index = np.unique(ux, return_inverse=True)
    with threadpool_limits(limits=1, user_api="blas"):
        result = optimize.minimize(
            _gg_neg_ll_and_grad,
            np.log(np.asarray(initial, dtype=np.float64)),
            args=(ux, uz, weights, x_values, x_index.reshape(-1), penalizer),
            jac=True,
            method="L-BFGS-B",
            options={"maxiter": 5000, "ftol": 1e-15, "gtol": 1e-10},
        )
    p, q, v = (float(val) for val in np.exp(result.x))
    ll = _dot(weights, gamma_gamma_log_likelihood((p, q, v), ux, uz))
    return GammaGammaParams(
        p=p,
        q=q,
        v=v,
        log_likelihood=ll,
        n_customers=int(keep.sum()),
        converged=bool(result.success),
    )


def gamma_gamma_expected_spend(
    params: GammaGammaParams | tuple[float, float, float],
    frequency: ArrayLike,
    monetary_value: ArrayLike,
) -> FloatArray:
    """Conditional expected average spend per transaction ``p (v + x zbar) / (p x + q - 1)``.

    Customers without repeats (``x = 0``) get the population mean ``p v / (q - 1)``.
    """
    p, q, v = _unpack_gg(params)
    if q <= 1.0:
        raise ValueError("expected spend is infinite for q <= 1")
    x, zbar = _as_float(frequency), _as_float(monetary_value)
    zbar = np.where(x > 0, zbar, 0.0)
    return p * (v + x * zbar) / (p * x + q - 1.0)


# --------------------------------------------------------------------------------------------
# CLV
# --------------------------------------------------------------------------------------------


def customer_lifetime_value(
    bgnbd: BGNBDParams,
    gamma_gamma: GammaGammaParams,
    frequency: ArrayLike,
    recency: ArrayLike,
    big_t: ArrayLike,
    monetary_value: ArrayLike,
    *,
    months: int = 12,
    monthly_discount_rate: float = 0.01,
    freq_days: float = 7.0,
    units_per_month: float | None = None,
) -> FloatArray:
    """Discounted CLV over ``months`` months.

    ``CLV = sum_{m=1..months} (E[Y(m)] - E[Y(m-1)]) * spend / (1 + d)^m`` with ``E[Y(m)]`` the
    conditional expected purchases by the end of month ``m`` and ``spend`` the Gamma-Gamma
    conditional expected average spend.  A month is 365.25/12 days, i.e.
    ``DAYS_PER_MONTH / freq_days`` summary time units, unless ``units_per_month`` is given
    (``lifetimes`` uses 4.345 weeks).  Vectorised: one ``(months, distinct (x, T))`` evaluation
    times P(alive) per customer.
    """
    if months < 1:
        raise ValueError("months must be >= 1")
    if monthly_discount_rate <= -1.0:
        raise ValueError("monthly_discount_rate must be > -1")
    x, t_x, ts = _as_float(frequency), _as_float(recency), _as_float(big_t)
    spend = gamma_gamma_expected_spend(gamma_gamma, x, monetary_value)
    step = DAYS_PER_MONTH / freq_days if units_per_month is None else units_per_month
    horizons = (np.arange(1, months + 1, dtype=np.float64) * step)[:, None]
    # E[Y(t) | x, t_x, T] = P(alive) * E[Y(t) | alive, x, T]: the hypergeometric part depends
    # on (x, T) only, so it is evaluated once per distinct (x, T) and mapped back
    (ux, ut), _, index = _collapse(x, ts)
    r, alpha, a, b = bgnbd.r, bgnbd.alpha, _away_from_one(bgnbd.a), bgnbd.b
    cumulative = _expected_if_alive(r, alpha, a, b, horizons, ux[None, :], ut[None, :])
    per_month = np.diff(cumulative, axis=0, prepend=0.0)
    discount = (1.0 + monthly_discount_rate) ** -np.arange(1, months + 1, dtype=np.float64)
    discounted_if_alive = (discount[:, None] * per_month).sum(axis=0)
    return discounted_if_alive[index] * bgnbd_p_alive(bgnbd, x, t_x, ts) * spend
