"""Pages of crm.forecasts: funnel, sales forecast, pipeline forecast with the what-if panel,
quota settings. Thin: parse, call a selector or service, render."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import wraps
from typing import Any, cast

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from crm.core.errors import DomainError, NotFoundError
from crm.forecasts import present, sales, selectors, services
from crm.sales.models import Pipeline
from crm.tenancy.models import Membership, Role, Team

View = Callable[..., HttpResponse]
SELLING = frozenset({Role.ADMIN, Role.MANAGER, Role.SALES, Role.VIEWER})
QUOTA_EDITORS = frozenset({Role.ADMIN, Role.MANAGER})


def _actor(request: HttpRequest) -> Membership:
    return cast(Membership, request.membership)  # type: ignore[attr-defined]


def selling_page(view: View) -> View:
    """Signed in, a member of the tenant, in a selling role (admin, manager, sales, viewer)."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        membership = getattr(request, "membership", None)
        if membership is None or membership.role not in SELLING:
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapped


# --- parsing the filters ------------------------------------------------------------------------


def _int(params: QueryDict, name: str) -> int | None:
    raw = params.get(name, "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError as exc:
        raise Http404 from exc
    if not 1 <= value <= 2**63 - 1:
        raise Http404
    return value


def _date(params: QueryDict, name: str, errors: list[str]) -> date | None:
    raw = params.get(name, "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        errors.append(_("“%(value)s” is not a date (YYYY-MM-DD).") % {"value": raw[:20]})
        return None


def _filters(request: HttpRequest, errors: list[str]) -> dict[str, Any]:
    """pipeline / owner / team ids (another tenant's or unknown ones: 404) and the period."""
    params = request.GET if request.method == "GET" else request.POST
    actor = _actor(request)
    pipeline_id = _int(params, "pipeline")
    owner_id = _int(params, "owner")
    team_id = _int(params, "team")
    if pipeline_id is not None and not Pipeline.objects.filter(pk=pipeline_id).exists():
        raise Http404
    if owner_id is not None and owner_id not in {m.pk for m in selectors.member_choices(actor)}:
        raise Http404
    if team_id is not None and not Team.objects.filter(pk=team_id).exists():
        raise Http404
    start = _date(params, "start", errors)
    end = _date(params, "end", errors)
    if start and end and end < start:
        errors.append(_("The end is before the start."))
        end = None
    return {
        "pipeline_id": pipeline_id,
        "owner_id": owner_id,
        "team_id": team_id,
        "start": start,
        "end": end,
    }


def _choices(actor: Membership) -> dict[str, Any]:
    return {
        "pipelines": list(selectors.pipeline_list()),
        "members": selectors.member_choices(actor),
        "teams": selectors.team_choices(actor),
    }


# --- funnel -------------------------------------------------------------------------------------


@selling_page
@require_http_methods(["GET"])
def funnel_page(request: HttpRequest) -> HttpResponse:
    actor = _actor(request)
    errors: list[str] = []
    filters = _filters(request, errors)
    view = selectors.funnel(actor=actor, **filters)
    data = present.funnel_data(view)
    cohorts = present.cohorts_data(view)
    chart = {
        "title": data["pipeline_name"],
        "stages": [
            {"name": s["name"], "reached": s["reached"] or 0, "conversion": s["conversion_next"]}
            for s in data["stages"]
            if s["is_open"] or s["is_won"]
        ],
    }
    return render(
        request,
        "forecasts/funnel.html",
        {
            "active": "funnel",
            "data": data,
            "cohorts": cohorts,
            "chart": chart,
            "filters": filters,
            "errors": errors,
            **_choices(actor),
        },
    )


# --- sales forecast -----------------------------------------------------------------------------


@selling_page
@require_http_methods(["GET"])
def forecast_page(request: HttpRequest) -> HttpResponse:
    actor = _actor(request)
    errors: list[str] = []
    filters = _filters(request, errors)
    freq = request.GET.get("freq", "M")
    freq = freq if freq in sales.FREQS else "M"
    source = "won" if request.GET.get("source") == "won" else "orders"
    category = request.GET.get("category", "").strip()[:100]
    default_horizon = {"D": 30, "W": 13, "M": 12}[freq]
    try:
        horizon = int(request.GET.get("horizon") or default_horizon)
    except ValueError:
        horizon = default_horizon
    if not 1 <= horizon <= sales.MAX_HORIZON[freq]:
        errors.append(
            _("The horizon must be between 1 and %(limit)s for this frequency.")
            % {"limit": sales.MAX_HORIZON[freq]}
        )
        horizon = min(max(horizon, 1), sales.MAX_HORIZON[freq])
    if source != "orders":
        category = ""
    result = sales.sales_forecast(
        actor=actor,
        freq=freq,
        horizon=horizon,
        source=source,
        owner_id=filters["owner_id"],
        team_id=filters["team_id"],
        category=category,
    ).data
    improvement = None
    if result["backtest_mase"] is not None and result["seasonal_naive_mase"]:
        improvement = 100 * (1 - result["backtest_mase"] / result["seasonal_naive_mase"])
    return render(
        request,
        "forecasts/forecast.html",
        {
            "active": "forecast",
            "result": result,
            "improvement": improvement,
            "freq": freq,
            "horizon": horizon,
            "max_horizon": sales.MAX_HORIZON[freq],
            "source": source,
            "category": category,
            "categories": sales.product_categories(actor=actor),
            "filters": filters,
            "errors": errors,
            "freqs": [("D", _("Days")), ("W", _("Weeks")), ("M", _("Months"))],
            "chart": {
                "history": result["history"][-120:],
                "forecast": result["forecast"],
                "labels": {
                    "history": _("History"),
                    "forecast": _("Forecast"),
                    "band80": _("%(level)s%% interval") % {"level": 80},
                    "band95": _("%(level)s%% interval") % {"level": 95},
                },
            },
            **_choices(actor),
        },
    )


# --- pipeline forecast and what-if --------------------------------------------------------------


def _pipeline_context(request: HttpRequest, errors: list[str]) -> dict[str, Any]:
    actor = _actor(request)
    filters = _filters(request, errors)
    first, last = selectors.month_bounds(selectors.today_for(actor))
    start = filters["start"] or first
    end = filters["end"] or max(last, start)
    return {**filters, "start": start, "end": end}


@selling_page
@require_http_methods(["GET"])
def pipeline_page(request: HttpRequest) -> HttpResponse:
    actor = _actor(request)
    errors: list[str] = []
    filters = _pipeline_context(request, errors)
    view = selectors.pipeline_view(actor=actor, **filters)
    return render(
        request,
        "forecasts/pipeline.html",
        {
            "active": "pipeline",
            "data": present.pipeline_data(view),
            "filters": filters,
            "errors": errors,
            **_choices(actor),
        },
    )


def _number(raw: str, low: float, high: float) -> float | None:
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if low <= value <= high else None


@selling_page
@require_POST
def what_if_panel(request: HttpRequest) -> HttpResponse:
    """The what-if result for the panel's inputs (an HTMX fragment). Nothing is saved."""
    actor = _actor(request)
    errors: list[str] = []
    filters = _pipeline_context(request, errors)
    overrides = []
    for stage_id in selectors.open_stage_ids(pipeline_id=filters["pipeline_id"]):
        rate = _number(request.POST.get(f"win_rate_{stage_id}", ""), 0, 100)
        size = _number(request.POST.get(f"avg_deal_size_{stage_id}", ""), 0, 1e13)
        days = _number(request.POST.get(f"cycle_days_{stage_id}", ""), 0, 3650)
        if rate is not None or size is not None or days is not None:
            overrides.append(
                selectors.Override(stage_id, None if rate is None else rate / 100, size, days)
            )
    base = present.pipeline_data(selectors.pipeline_view(actor=actor, **filters))
    changed = present.pipeline_data(
        selectors.pipeline_view(actor=actor, **filters, overrides=overrides)
    )
    rows = [
        {
            "label": label,
            "base": base["totals"][key],
            "what_if": changed["totals"][key],
            "change": changed["totals"][key] - base["totals"][key],
        }
        for key, label in (
            ("commit", _("Commit")),
            ("best_case", _("Best case")),
            ("pipeline", _("Pipeline")),
            ("weighted_stage", _("Weighted by stage probability")),
            ("weighted_win_rate", _("Weighted by learned win rate")),
        )
    ]
    return render(
        request,
        "forecasts/partials/what_if_result.html",
        {"rows": rows, "deals": (base["totals"]["deals"], changed["totals"]["deals"])},
    )


# --- quotas -------------------------------------------------------------------------------------


@selling_page
@require_http_methods(["GET", "POST"])
def quota_page(request: HttpRequest) -> HttpResponse:
    actor = _actor(request)
    if actor.role not in QUOTA_EDITORS:
        raise PermissionDenied
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        try:
            services.quota_set(actor=actor, **_quota_values(request.POST))
            return redirect("forecasts:quotas")
        except DomainError as exc:
            errors = exc.fields or {"__all__": [exc.message]}
    return render(
        request,
        "forecasts/quotas.html",
        {
            "active": "quotas",
            "quotas": list(selectors.quota_list(actor=actor)[:500]),
            "members": selectors.member_choices(actor),
            "errors": errors,
            "general_errors": errors.get("__all__", []),
            "form": request.POST if errors else {},
        },
        status=422 if errors else 200,
    )


def _quota_values(post: QueryDict) -> dict[str, Any]:
    """member, a month (YYYY-MM) or a start and end date, and the amount."""
    fields: dict[str, list[str]] = {}
    try:
        member_id = int(post.get("member_id") or 0)
    except ValueError:
        member_id = 0
    if member_id < 1:
        fields["member_id"] = [_("Choose a member.")]
    start = end = None
    month = post.get("month", "").strip()
    try:
        if month:
            start, end = selectors.month_bounds(date.fromisoformat(f"{month}-01"))
        else:
            start = date.fromisoformat(post.get("period_start", "").strip())
            end = date.fromisoformat(post.get("period_end", "").strip())
    except ValueError:
        fields["month"] = [_("Give a month, or a start and an end date.")]
    try:
        amount = Decimal(post.get("amount", "").strip())
        if not amount.is_finite() or amount < 0 or amount >= Decimal("1e12"):
            raise InvalidOperation
    except InvalidOperation:
        fields["amount"] = [_("Give an amount of 0 or more.")]
    if fields:
        raise DomainError(_("Some fields are not valid."), fields=fields)
    return {
        "member_id": member_id,
        "period_start": start,
        "period_end": end,
        "amount": amount.quantize(Decimal("0.01")),
    }


@selling_page
@require_POST
def quota_delete(request: HttpRequest, quota_id: int) -> HttpResponse:
    actor = _actor(request)
    if actor.role not in QUOTA_EDITORS:
        raise PermissionDenied
    try:
        quota = selectors.quota_get(actor=actor, quota_id=quota_id)
        services.quota_delete(actor=actor, quota=quota)
    except NotFoundError as exc:
        raise Http404 from exc
    except DomainError as exc:
        raise PermissionDenied(exc.message) from exc
    return redirect("forecasts:quotas")
