"""Shared pieces of the forecasting package: season lengths and other constants, the
warning and BLAS-thread guards, and the result types.

:class:`ForecastResult` is the public result of :func:`~crm.insights.analytics.forecast.forecast`;
``_Prediction`` carries a point forecast with its 80% / 95% intervals between the modules, and
``_tidy`` makes such intervals finite and nested.  No Django imports.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
from numpy.typing import NDArray

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
