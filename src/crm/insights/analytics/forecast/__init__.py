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

Modules: :mod:`~crm.insights.analytics.forecast.common` (constants, result types),
:mod:`~crm.insights.analytics.forecast.series` (input cleaning, differencing, KPSS and
seasonal-strength tests), :mod:`~crm.insights.analytics.forecast.arima` (ARIMA estimation and
prediction), :mod:`~crm.insights.analytics.forecast.arima_search` (:func:`auto_arima`),
:mod:`~crm.insights.analytics.forecast.candidates` (the candidate models) and
:mod:`~crm.insights.analytics.forecast.selection` (MASE, the backtest and :func:`forecast`).
Import the public names from this package.
"""

from __future__ import annotations

# ``X as X``: public names outside ``__all__`` that the single-module version also offered.
from crm.insights.analytics.forecast.arima import ArimaFit, ArimaOrder
from crm.insights.analytics.forecast.arima_search import auto_arima
from crm.insights.analytics.forecast.common import COMBINED as COMBINED
from crm.insights.analytics.forecast.common import LONG_SEASON as LONG_SEASON
from crm.insights.analytics.forecast.common import MODEL_NAMES, SEASON_LENGTHS, ForecastResult
from crm.insights.analytics.forecast.common import WEEKS_PER_YEAR as WEEKS_PER_YEAR
from crm.insights.analytics.forecast.common import FloatArray as FloatArray
from crm.insights.analytics.forecast.selection import forecast, mase, mase_scale
from crm.insights.analytics.forecast.series import seasonal_strength as seasonal_strength

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
