"""Sales forecast reads: revenue per day, week or month (orders, or won opportunities) loaded in
bulk within the actor's visibility, forecast by :func:`crm.insights.analytics.forecast.forecast`
(model chosen per series by rolling-origin MASE), cached briefly.

The history ends with the last *complete* period (yesterday, last week, last month) so that a
half-finished period does not look like a slump; the forecast starts with the current period.
The cache key is the tenant, the parameters and a hash of the series itself, so any change of
the data (a new order, a deal won) is a new key: a cached answer is never stale.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

import numpy as np
import pandas as pd
from django.core.cache import cache
from django.utils.translation import gettext as _

from crm.core.writes import field_error
from crm.forecasts.rollup import clean
from crm.forecasts.selectors import (
    floats,
    tenant_zone,
    today_for,
    visible_opportunities,
)
from crm.sales.models import Order, OrderLine, OrderStatus
from crm.tenancy.models import Membership
from crm.tenancy.permissions import visible_q

Freq = Literal["D", "W", "M"]
Source = Literal["orders", "won"]
FREQS: tuple[str, ...] = ("D", "W", "M")
#: Longest horizon per frequency: one year ahead, two for weeks, three for months.
MAX_HORIZON: dict[str, int] = {"D": 366, "W": 104, "M": 36}
#: History used per frequency: two years of days, five of weeks, ten of months.
HISTORY: dict[str, int] = {"D": 730, "W": 260, "M": 120}
PERIOD_ALIAS: dict[str, str] = {"D": "D", "W": "W-SUN", "M": "M"}
NOT_REVENUE = (OrderStatus.CANCELLED, OrderStatus.REFUNDED)
CACHE_SECONDS = 300
CACHE_VERSION = 1


def check_request(freq: str, horizon: int, source: str, category: str) -> None:
    """The field errors a user can act on (422), before anything is loaded."""
    if freq not in FREQS:
        raise field_error("freq", _("Use D (days), W (weeks) or M (months)."))
    limit = MAX_HORIZON[freq]
    if not 1 <= horizon <= limit:
        raise field_error(
            "horizon",
            _("The horizon must be between 1 and %(limit)s for this frequency.") % {"limit": limit},
        )
    if category and source != "orders":
        raise field_error("category", _("Product categories exist only for orders."))


def current_period(freq: str, today: date) -> pd.Period:
    return pd.Period(today, freq=PERIOD_ALIAS[freq])


def _amounts(
    actor: Membership,
    source: str,
    since: pd.Timestamp,
    owner_id: int | None,
    team_id: int | None,
    category: str,
) -> tuple[list[Any], list[Any]]:
    """(moments, amounts) of the revenue events since ``since`` (aware, UTC)."""
    moment = since.to_pydatetime()
    if source == "won":
        qs = visible_opportunities(actor, owner_id=owner_id, team_id=team_id).filter(
            stage__is_won=True, closed_at__gte=moment
        )
        rows = list(qs.values_list("closed_at", "amount"))
    elif category:
        lines = OrderLine.objects.filter(
            visible_q(actor, "order__owner"),
            category=category,
            order__ordered_at__gte=moment,
            order__deleted_at__isnull=True,
        ).exclude(order__status__in=NOT_REVENUE)
        if owner_id is not None:
            lines = lines.filter(order__owner_id=owner_id)
        if team_id is not None:
            lines = lines.filter(order__owner__team_id=team_id)
        rows = list(lines.values_list("order__ordered_at", "amount"))
    else:
        orders = Order.objects.filter(
            visible_q(actor), ordered_at__gte=moment, deleted_at__isnull=True
        ).exclude(status__in=NOT_REVENUE)
        if owner_id is not None:
            orders = orders.filter(owner_id=owner_id)
        if team_id is not None:
            orders = orders.filter(owner__team_id=team_id)
        rows = list(orders.values_list("ordered_at", "total"))
    if not rows:
        return [], []
    moments, amounts = zip(*rows, strict=True)
    return list(moments), list(amounts)


def revenue_series(
    *,
    actor: Membership,
    freq: str,
    source: str = "orders",
    owner_id: int | None = None,
    team_id: int | None = None,
    category: str = "",
) -> pd.Series:
    """Revenue per complete period (PeriodIndex, tenant's calendar), zeros where nothing was
    sold, from the first sale in the history window to the last complete period."""
    zone = tenant_zone(actor)
    last = current_period(freq, today_for(actor)) - 1
    first_allowed = last - (HISTORY[freq] - 1)
    since = first_allowed.start_time.tz_localize(zone).tz_convert("UTC")
    moments, amounts = _amounts(actor, source, since, owner_id, team_id, category)
    if not moments:
        return pd.Series(dtype=float, index=pd.PeriodIndex([], freq=PERIOD_ALIAS[freq]))
    local = pd.DatetimeIndex(pd.to_datetime(pd.Series(moments, dtype=object), utc=True))
    periods = local.tz_convert(zone).tz_localize(None).to_period(PERIOD_ALIAS[freq])
    sums = pd.Series(floats(amounts), index=periods).groupby(level=0).sum()
    sums = sums.loc[sums.index <= last]
    if sums.empty:
        return pd.Series(dtype=float, index=pd.PeriodIndex([], freq=PERIOD_ALIAS[freq]))
    full = pd.period_range(sums.index.min(), last, freq=PERIOD_ALIAS[freq])
    return sums.reindex(full, fill_value=0.0).astype(float)


@dataclass(frozen=True)
class SalesForecastView:
    data: dict[str, Any]
    cached: bool


def _label(period: pd.Period) -> str:
    return period.start_time.date().isoformat()


def sales_forecast(
    *,
    actor: Membership,
    freq: str = "D",
    horizon: int = 30,
    source: str = "orders",
    owner_id: int | None = None,
    team_id: int | None = None,
    category: str = "",
) -> SalesForecastView:
    """History and forecast with 80% / 95% intervals, the chosen model and its backtest MASE
    next to seasonal naive's, as plain JSON-ready data."""
    check_request(freq, horizon, source, category)
    series = revenue_series(
        actor=actor,
        freq=freq,
        source=source,
        owner_id=owner_id,
        team_id=team_id,
        category=category,
    )
    values = series.to_numpy(dtype=float)
    start = _label(series.index[0]) if len(series) else ""
    digest = hashlib.sha256(values.tobytes() + start.encode()).hexdigest()[:32]
    key = f"forecasts:sales:v{CACHE_VERSION}:{actor.tenant_id}:{freq}:{horizon}:{digest}"
    found = cache.get(key)
    if found is not None:
        return SalesForecastView(found, cached=True)
    # Imported here: the model code pulls in scipy.signal and statsmodels, seconds of start-up
    # that no page but this one needs.
    from crm.insights.analytics.forecast import forecast

    result = forecast(values, horizon, frequency=freq.lower())
    next_period = current_period(freq, today_for(actor))
    ahead = pd.period_range(next_period, periods=horizon, freq=PERIOD_ALIAS[freq])
    candidates = {name: clean(score) for name, score in result.candidate_mase.items()}
    data: dict[str, Any] = {
        "freq": freq,
        "horizon": horizon,
        "source": source,
        "season_length": result.season_length,
        "model": result.model,
        "model_detail": result.model_detail,
        "backtest_mase": clean(result.backtest_mase),
        "seasonal_naive_mase": candidates.get("seasonal_naive"),
        "candidate_mase": candidates,
        "backtest_folds": result.backtest_folds,
        "backtest_horizon": result.backtest_horizon,
        "notes": list(result.notes),
        "history": [
            {"period": _label(p), "value": float(v)}
            for p, v in zip(series.index, values, strict=True)
        ],
        "forecast": [
            {
                "period": _label(p),
                # Revenue is never negative: the point and the bounds are cut at zero.
                "point": max(0.0, float(result.point[i])),
                "lower_80": max(0.0, float(result.lower_80[i])),
                "upper_80": max(0.0, float(result.upper_80[i])),
                "lower_95": max(0.0, float(result.lower_95[i])),
                "upper_95": max(0.0, float(result.upper_95[i])),
            }
            for i, p in enumerate(ahead)
        ],
        "total_point": float(np.clip(result.point, 0, None).sum()),
    }
    cache.set(key, data, CACHE_SECONDS)
    return SalesForecastView(data, cached=False)


def product_categories(*, actor: Membership) -> list[str]:
    """Categories that appear on the visible order lines, for the category picker."""
    qs = OrderLine.objects.filter(
        visible_q(actor, "order__owner"), order__deleted_at__isnull=True
    ).exclude(category="")
    return sorted(set(qs.values_list("category", flat=True).distinct()[:200]))
