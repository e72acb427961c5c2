"""The forecasting candidates: naive, seasonal naive, ETS (with STL for long seasons), ARIMA,
Theta and their equal-weight combination, each with its structure fixed on the full training
series, and ``_BUILDERS``, which constructs them by name.  No Django imports.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from crm.insights.analytics.forecast.arima import _arima_predict, _css_fit, _exog, _ml_fit
from crm.insights.analytics.forecast.arima_search import auto_arima
from crm.insights.analytics.forecast.common import (
    LONG_SEASON,
    FloatArray,
    _normal_prediction,
    _Prediction,
    _quiet,
    _tidy,
)

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
