"""Model selection by rolling-origin backtest and the entry point :func:`forecast`: the MASE
accuracy measure, the backtest plan, the fallbacks for odd input and the assembly of the
:class:`~crm.insights.analytics.forecast.common.ForecastResult`.  No Django imports.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from types import MappingProxyType

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from crm.insights.analytics.forecast.candidates import (
    _BUILDERS,
    _Candidate,
    _Combination,
    _Naive,
)
from crm.insights.analytics.forecast.common import (
    COMBINED,
    MODEL_NAMES,
    FloatArray,
    ForecastResult,
    _normal_prediction,
    _Prediction,
    _single_threaded_blas,
    _tidy,
)
from crm.insights.analytics.forecast.series import _clean, _is_constant, _season_from

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
# Backtest plan and results


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
