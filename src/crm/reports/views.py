"""Pages of crm.reports: the index, one page per report (filters, chart, table, export) and the
schedule page. Thin: parse, call a selector or service, render."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from crm.activities.models import ActivityKind
from crm.core.errors import DomainError, NotFoundError, ValidationFailedError
from crm.integrations import files
from crm.reports import selectors, services
from crm.reports.export import CONTENT_TYPES, file_name, report_file
from crm.reports.models import FileFormat, Frequency, ReportKindChoice
from crm.reports.selectors import EXTRA_FILTERS, REPORT_TITLES, Report, ReportKind
from crm.sales.models import Pipeline
from crm.tenancy.models import Membership, Team
from crm.tenancy.pages import member_page
from crm.tenancy.selectors import visible_members

View = Callable[..., HttpResponseBase]

SLUGS: dict[str, str] = {
    "sales-performance": ReportKind.SALES_PERFORMANCE,
    "product-sales": ReportKind.PRODUCT_SALES,
    "activity-counts": ReportKind.ACTIVITY_COUNTS,
    "lead-sources": ReportKind.LEAD_SOURCES,
}
SLUG_OF = {kind: slug for slug, kind in SLUGS.items()}
FILTER_KEYS = ("start", "end", "owner_id", "team_id", "pipeline_id", "category", "source", "kind")


def _actor(request: HttpRequest) -> Membership:
    return cast(Membership, request.membership)  # type: ignore[attr-defined]


def _descriptions() -> dict[str, str]:
    return {
        ReportKind.SALES_PERFORMANCE: _(
            "Deals won, open pipeline, activities and lead-to-won conversion per rep."
        ),
        ReportKind.PRODUCT_SALES: _("Quantity and revenue by product and by category."),
        ReportKind.ACTIVITY_COUNTS: _(
            "Calls, emails, meetings, visits and notes per rep and week."
        ),
        ReportKind.LEAD_SOURCES: _("Leads by source, how many converted and the amount they won."),
    }


@member_page
@require_GET
def index(request: HttpRequest) -> HttpResponse:
    descriptions = _descriptions()
    reports = [
        {"slug": SLUG_OF[kind], "title": title, "description": descriptions[kind]}
        for kind, title in REPORT_TITLES.items()
    ]
    return render(request, "reports/index.html", {"reports": reports})


def _members_for(actor: Membership) -> list[Membership]:
    return sorted(visible_members(actor), key=str)


def _chart(report: Report) -> dict[str, Any]:
    """What report.js draws: category labels and one or more numeric series."""
    if report.kind == ReportKind.ACTIVITY_COUNTS:
        weeks = report.series["weeks"]
        return {
            "title": _("Activities per week"),
            "labels": [w["week"].isoformat() for w in weeks],
            "stacked": True,
            "series": [
                {"name": label, "data": [w[kind] for w in weeks]}
                for kind, label in zip(
                    report.series["kinds"], report.series["kind_labels"], strict=True
                )
            ],
        }
    if report.kind == ReportKind.PRODUCT_SALES:
        rows = report.rows[:20]
        return {
            "title": _("Revenue by product"),
            "labels": [r["product"] for r in rows],
            "stacked": False,
            "series": [{"name": _("Revenue"), "data": [float(r["revenue"]) for r in rows]}],
            "pie": {
                "name": _("Revenue by category"),
                "data": [
                    {"name": c["category"], "value": float(c["revenue"])}
                    for c in report.series["categories"]
                ],
            },
        }
    label_key = "rep" if report.kind == ReportKind.SALES_PERFORMANCE else "label"
    bars = (
        ["won_amount", "pipeline_amount"]
        if report.kind == ReportKind.SALES_PERFORMANCE
        else ["won_amount"]
    )
    labels = {c.key: c.label for c in report.columns}
    rows = report.rows[:20]
    return {
        "title": report.title,
        "labels": [r[label_key] for r in rows],
        "stacked": False,
        "series": [{"name": labels[b], "data": [float(r[b]) for r in rows]} for b in bars],
    }


def _raw_filters(request: HttpRequest) -> dict[str, str]:
    return {k: request.GET.get(k, "").strip() for k in FILTER_KEYS if request.GET.get(k)}


def _build(request: HttpRequest, kind: str) -> tuple[Report | None, dict[str, list[str]]]:
    try:
        filters = selectors.filters_from(_raw_filters(request), kind=kind)
    except ValidationFailedError as exc:
        return None, exc.fields
    return selectors.report_build(actor=_actor(request), kind=kind, filters=filters), {}


@member_page
@require_GET
def report_page(request: HttpRequest, slug: str) -> HttpResponse:
    kind = SLUGS.get(slug)
    if kind is None:
        raise Http404
    report, errors = _build(request, kind)
    if report is None:
        report = selectors.report_build(
            actor=_actor(request), kind=kind, filters=selectors.filters_from({}, kind=kind)
        )
    query = request.GET.urlencode()
    context = {
        "slug": slug,
        "report": report,
        "errors": errors,
        "chart": _chart(report),
        "filters": report.filters,
        "extra": EXTRA_FILTERS.get(kind, ()),
        "members": _members_for(_actor(request)),
        "teams": list(Team.objects.order_by("name")),
        "pipelines": list(Pipeline.objects.order_by("-is_default", "id")),
        "kinds": ActivityKind.choices,
        "query": query,
        "rows": [[(row.get(c.key), c.type) for c in report.columns] for row in report.rows],
        "totals": [(report.totals.get(c.key, ""), c.type) for c in report.columns[1:]],
    }
    return render(request, "reports/report.html", context)


@member_page
@require_GET
def report_export(request: HttpRequest, slug: str, file_format: str) -> HttpResponse:
    kind = SLUGS.get(slug)
    if kind is None or file_format not in CONTENT_TYPES:
        raise Http404
    report, errors = _build(request, kind)
    if report is None:
        messages.error(request, "; ".join(m for ms in errors.values() for m in ms))
        return redirect("reports:report", slug=slug)
    response = HttpResponse(
        report_file(report, file_format), content_type=CONTENT_TYPES[file_format]
    )
    response["Content-Disposition"] = f'attachment; filename="{file_name(report, file_format)}"'
    return response


# --- schedules ----------------------------------------------------------------------------------


def _schedule_values(request: HttpRequest) -> dict[str, Any]:
    post = request.POST
    kind = post.get("report_kind", "")
    filters = {k: post.get(k, "").strip() for k in services.STORED_FILTERS if post.get(k)}
    return {
        "name": post.get("name", "").strip()[:200],
        "report_kind": kind,
        "frequency": post.get("frequency", ""),
        "file_format": post.get("file_format", "xlsx"),
        "filters": filters,
        "recipient_ids": post.getlist("recipient_ids"),
    }


@member_page
@require_http_methods(["GET", "POST"])
def schedules(request: HttpRequest) -> HttpResponse:
    actor = _actor(request)
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        try:
            services.schedule_create(actor=actor, values=_schedule_values(request))
        except ValidationFailedError as exc:
            errors = exc.fields
        except DomainError as exc:
            raise PermissionDenied(exc.message) from exc
        else:
            messages.success(request, _("The report is scheduled."))
            return redirect("reports:schedules")
    rows = []
    for schedule in selectors.schedule_list(actor=actor)[:100]:
        deliveries = [
            {"delivery": d, "link": services.delivery_path(d)}
            for d in selectors.delivery_list(schedule=schedule)[:5]
        ]
        rows.append({"schedule": schedule, "deliveries": deliveries})
    context = {
        "rows": rows,
        "errors": errors,
        "form": request.POST if request.method == "POST" else {},
        "kinds": ReportKindChoice.choices,
        "frequencies": Frequency.choices,
        "formats": FileFormat.choices,
        "members": sorted(
            Membership.objects.filter(is_active=True).select_related("user"), key=str
        ),
        "can_write": actor.can_write,
    }
    return render(request, "reports/schedules.html", context, status=422 if errors else 200)


def _schedule_or_404(actor: Membership, schedule_id: int) -> Any:
    try:
        return selectors.schedule_get(actor=actor, schedule_id=schedule_id)
    except NotFoundError as exc:
        raise Http404 from exc


@member_page
@require_POST
def schedule_toggle(request: HttpRequest, schedule_id: int) -> HttpResponse:
    actor = _actor(request)
    schedule = _schedule_or_404(actor, schedule_id)
    try:
        services.schedule_update(
            actor=actor, schedule=schedule, values={"active": not schedule.active}
        )
    except NotFoundError as exc:
        raise Http404 from exc
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect("reports:schedules")


@member_page
@require_POST
def schedule_delete(request: HttpRequest, schedule_id: int) -> HttpResponse:
    actor = _actor(request)
    schedule = _schedule_or_404(actor, schedule_id)
    try:
        services.schedule_delete(actor=actor, schedule=schedule)
    except NotFoundError as exc:
        raise Http404 from exc
    except DomainError as exc:
        raise PermissionDenied(exc.message) from exc
    messages.success(request, _("The schedule is deleted."))
    return redirect("reports:schedules")


@member_page
@require_GET
def delivery_download(request: HttpRequest, token: str) -> FileResponse:
    """The file of a sent report, for its recipients (the link in the email)."""
    try:
        delivery = services.delivery_for_member(actor=_actor(request), token=token)
        path = files.resolve(delivery.file_path)
    except DomainError as exc:
        raise Http404 from exc
    if not path.exists():
        raise Http404
    return FileResponse(path.open("rb"), as_attachment=True, filename=delivery.file_name)
