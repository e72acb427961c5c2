"""The four reports, aggregated in SQL and limited to what the actor may see.

Every report takes a :class:`ReportFilters` (period in the tenant's time zone, owner, team and,
where it applies, pipeline / product category / lead source) and returns a :class:`Report`:
columns, rows, a totals row and the extra series its chart needs. Each figure is one grouped
query (``values(...).annotate(...)``) over indexed columns; Python only merges the few grouped
rows (one per rep, product, source or week), never the records themselves.

Record visibility (own / team / all) is applied to every query with
:func:`crm.tenancy.permissions.visible_q` on the record's own owner, so a sales rep's report
shows their own records and a manager's report their team's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Count, Q, QuerySet, Sum
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm.activities.models import Activity, ActivityKind
from crm.core.errors import NotFoundError
from crm.core.writes import field_error
from crm.reports.models import ReportDelivery, ReportSchedule
from crm.reports.periods import counts_by_local_day, tenant_zone, today_local
from crm.sales.models import Lead, LeadStatus, Opportunity, OrderLine, OrderStatus
from crm.tenancy.models import Membership
from crm.tenancy.permissions import visible_q

CENT = Decimal("0.01")
MAX_DAYS = 3660  # ten years: a longer period is almost certainly a typo
DEFAULT_DAYS = 30
# Orders that did not (or no longer) bring revenue.
NO_REVENUE = (OrderStatus.CANCELLED, OrderStatus.REFUNDED)


class ReportKind:
    SALES_PERFORMANCE = "sales_performance"
    PRODUCT_SALES = "product_sales"
    ACTIVITY_COUNTS = "activity_counts"
    LEAD_SOURCES = "lead_sources"


REPORT_TITLES: dict[str, Promise] = {
    ReportKind.SALES_PERFORMANCE: gettext_lazy("Sales performance by rep"),
    ReportKind.PRODUCT_SALES: gettext_lazy("Product sales"),
    ReportKind.ACTIVITY_COUNTS: gettext_lazy("Activity counts"),
    ReportKind.LEAD_SOURCES: gettext_lazy("Lead-source ROI"),
}
REPORT_KINDS: tuple[str, ...] = tuple(REPORT_TITLES)
# The optional filters each report understands besides period, owner and team.
EXTRA_FILTERS: dict[str, tuple[str, ...]] = {
    ReportKind.SALES_PERFORMANCE: ("pipeline_id",),
    ReportKind.PRODUCT_SALES: ("category",),
    ReportKind.ACTIVITY_COUNTS: ("kind",),
    ReportKind.LEAD_SOURCES: ("source", "pipeline_id"),
}


@dataclass(frozen=True)
class ReportFilters:
    """What to report on. `start` and `end` are whole days (both included) in tenant time."""

    start: date
    end: date
    owner_id: int | None = None
    team_id: int | None = None
    pipeline_id: int | None = None
    category: str = ""
    source: str = ""
    kind: str = ""

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"start": self.start.isoformat(), "end": self.end.isoformat()}
        for name in ("owner_id", "team_id", "pipeline_id", "category", "source", "kind"):
            value = getattr(self, name)
            if value not in (None, ""):
                data[name] = value
        return data


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    type: str = "text"  # text | int | money | pct | date


@dataclass
class Report:
    kind: str
    title: str
    filters: ReportFilters
    columns: list[Column]
    rows: list[dict[str, Any]]
    totals: dict[str, Any]
    series: dict[str, Any] = field(default_factory=dict)


def _as_int(name: str, value: Any) -> int | None:
    if value in (None, ""):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError) as exc:
        raise field_error(name, _("Enter a whole number.")) from exc
    if not 1 <= number <= 2**63 - 1:
        raise field_error(name, _("Enter a whole number."))
    return number


def _as_date(name: str, value: Any) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, date):
        day = value
    else:
        try:
            day = date.fromisoformat(str(value)[:10])
        except ValueError as exc:
            raise field_error(name, _("Enter a date as YYYY-MM-DD.")) from exc
    if not 1900 <= day.year <= 2999:
        raise field_error(name, _("Enter a date between 1900 and 2999."))
    return day


def filters_from(data: Mapping[str, Any], *, kind: str | None = None) -> ReportFilters:
    """Filters from query parameters or stored JSON; a missing period is the last 30 days."""
    end = _as_date("end", data.get("end")) or today_local()
    start = _as_date("start", data.get("start")) or end - timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        raise field_error("start", _("The start must not be after the end."))
    if (end - start).days > MAX_DAYS:
        raise field_error("start", _("A report can cover at most ten years."))
    text = {k: str(data.get(k) or "").strip()[:100] for k in ("category", "source", "kind")}
    if text["kind"] and text["kind"] not in ActivityKind.values:
        raise field_error("kind", _("Unknown activity type."))
    built = ReportFilters(
        start=start,
        end=end,
        owner_id=_as_int("owner_id", data.get("owner_id")),
        team_id=_as_int("team_id", data.get("team_id")),
        pipeline_id=_as_int("pipeline_id", data.get("pipeline_id")),
        **text,
    )
    if kind is not None:
        # Filters a report does not understand are dropped, so they are not shown as applied.
        unused = {"pipeline_id": None, "category": "", "source": "", "kind": ""}
        for name in EXTRA_FILTERS.get(kind, ()):
            unused.pop(name, None)
        built = replace(built, **unused)  # type: ignore[arg-type]
    return built


def period_bounds(filters: ReportFilters) -> tuple[datetime, datetime]:
    """[start, end) as aware datetimes: local midnight of `start` to the midnight after `end`."""
    zone = tenant_zone()
    begin = datetime.combine(filters.start, time.min, tzinfo=zone)
    finish = datetime.combine(filters.end + timedelta(days=1), time.min, tzinfo=zone)
    return begin, finish


def _people(qs: QuerySet[Any], filters: ReportFilters, owner: str) -> QuerySet[Any]:
    if filters.owner_id is not None:
        qs = qs.filter(**{f"{owner}_id": filters.owner_id})
    if filters.team_id is not None:
        qs = qs.filter(**{f"{owner}__team_id": filters.team_id})
    return qs


def _money(value: Any) -> Decimal:
    # SQLite sums decimals as floats: back to cents.
    return Decimal(str(value or 0)).quantize(CENT)


def _pct(part: int | Decimal, whole: int | Decimal) -> float | None:
    return round(float(part) * 100 / float(whole), 1) if whole else None


def member_names(ids: Iterable[int | None]) -> dict[int | None, str]:
    wanted = {i for i in ids if i is not None}
    names: dict[int | None, str] = {None: _("(unassigned)")}
    for member in Membership.objects.filter(pk__in=wanted).select_related("user"):
        names[member.pk] = str(member)
    return names


# --- sales performance by rep -------------------------------------------------------------------


def sales_performance(*, actor: Membership, filters: ReportFilters) -> Report:
    """Per rep: deals won in the period (count, amount), open pipeline now, activities logged in
    the period, and of the leads they got in the period how many became a won deal."""
    begin, finish = period_bounds(filters)
    opportunities = _people(
        Opportunity.objects.filter(visible_q(actor), deleted_at__isnull=True), filters, "owner"
    )
    if filters.pipeline_id is not None:
        opportunities = opportunities.filter(pipeline_id=filters.pipeline_id)
    won = (
        opportunities.filter(stage__is_won=True, closed_at__gte=begin, closed_at__lt=finish)
        .values("owner_id")
        .annotate(n=Count("id"), amount=Sum("amount"))
    )
    pipeline = (
        opportunities.filter(closed_at__isnull=True)
        .values("owner_id")
        .annotate(n=Count("id"), amount=Sum("amount"))
    )
    activities = (
        _people(
            Activity.objects.filter(visible_q(actor), deleted_at__isnull=True), filters, "owner"
        )
        .filter(at__gte=begin, at__lt=finish)
        .values("owner_id")
        .annotate(n=Count("id"))
    )
    leads = (
        _people(Lead.objects.filter(visible_q(actor), deleted_at__isnull=True), filters, "owner")
        .filter(created_at__gte=begin, created_at__lt=finish)
        .values("owner_id")
        .annotate(n=Count("id"))
    )
    # Leads of the period that became a won deal, counted once however many deals they won.
    lead_wins = _people(
        Opportunity.objects.filter(
            visible_q(actor, "lead__owner"),
            deleted_at__isnull=True,
            stage__is_won=True,
            lead__deleted_at__isnull=True,
            lead__created_at__gte=begin,
            lead__created_at__lt=finish,
        ),
        filters,
        "lead__owner",
    )
    if filters.pipeline_id is not None:
        lead_wins = lead_wins.filter(pipeline_id=filters.pipeline_id)
    leads_won = lead_wins.values("lead__owner_id").annotate(n=Count("lead_id", distinct=True))

    rows: dict[int | None, dict[str, Any]] = {}

    def row(owner_id: int | None) -> dict[str, Any]:
        return rows.setdefault(
            owner_id,
            {
                "owner_id": owner_id,
                "won_count": 0,
                "won_amount": Decimal("0.00"),
                "pipeline_count": 0,
                "pipeline_amount": Decimal("0.00"),
                "activities": 0,
                "leads": 0,
                "leads_won": 0,
            },
        )

    for g in won:
        row(g["owner_id"]).update(won_count=g["n"], won_amount=_money(g["amount"]))
    for g in pipeline:
        row(g["owner_id"]).update(pipeline_count=g["n"], pipeline_amount=_money(g["amount"]))
    for g in activities:
        row(g["owner_id"])["activities"] = g["n"]
    for g in leads:
        row(g["owner_id"])["leads"] = g["n"]
    for g in leads_won:
        row(g["lead__owner_id"])["leads_won"] = g["n"]

    names = member_names(rows)
    result = []
    for owner_id, r in rows.items():
        r["rep"] = names.get(owner_id, "")
        r["conversion_pct"] = _pct(r["leads_won"], r["leads"])
        result.append(r)
    result.sort(key=lambda r: (-r["won_amount"], -r["pipeline_amount"], r["rep"]))
    totals = _sum_rows(
        result,
        ("won_count", "won_amount", "pipeline_count", "pipeline_amount", "activities", "leads"),
    )
    totals["leads_won"] = sum(r["leads_won"] for r in result)
    totals["conversion_pct"] = _pct(totals["leads_won"], totals["leads"])
    columns = [
        Column("rep", _("Rep")),
        Column("won_count", _("Deals won"), "int"),
        Column("won_amount", _("Won amount"), "money"),
        Column("pipeline_count", _("Open deals"), "int"),
        Column("pipeline_amount", _("Open pipeline"), "money"),
        Column("activities", _("Activities"), "int"),
        Column("leads", _("Leads"), "int"),
        Column("leads_won", _("Leads won"), "int"),
        Column("conversion_pct", _("Lead → won"), "pct"),
    ]
    return Report(
        ReportKind.SALES_PERFORMANCE,
        str(REPORT_TITLES[ReportKind.SALES_PERFORMANCE]),
        filters,
        columns,
        result,
        totals,
        {"label": "rep", "bars": ["won_amount", "pipeline_amount"]},
    )


def _sum_rows(rows: list[dict[str, Any]], keys: Iterable[str]) -> dict[str, Any]:
    totals: dict[str, Any] = {}
    for key in keys:
        values = [r[key] for r in rows]
        totals[key] = (
            sum(values, Decimal("0.00"))
            if any(isinstance(v, Decimal) for v in values)
            else sum(values)
        )
    return totals


# --- product sales ------------------------------------------------------------------------------


def _live_activities(actor: Membership) -> QuerySet[Activity]:
    return Activity.objects.filter(visible_q(actor), deleted_at__isnull=True)


def product_sales(*, actor: Membership, filters: ReportFilters) -> Report:
    """Quantity and revenue by product and by category, from order lines of the period's orders
    (cancelled and refunded orders excluded). A line's category is the one it was sold under."""
    begin, finish = period_bounds(filters)
    lines = _people(
        OrderLine.objects.filter(
            visible_q(actor, "order__owner"),
            order__ordered_at__gte=begin,
            order__ordered_at__lt=finish,
        ).exclude(order__status__in=NO_REVENUE),
        filters,
        "order__owner",
    )
    lines = lines.filter(order__deleted_at__isnull=True)  # deleted orders bring no revenue
    if filters.category:
        lines = lines.filter(category=filters.category)
    measures = {
        "quantity": Sum("quantity"),
        "revenue": Sum("amount"),
        "orders": Count("order_id", distinct=True),
    }
    by_product = lines.values("product_id", "product__name", "category").annotate(**measures)
    by_category = lines.values("category").annotate(**measures)
    overall = lines.aggregate(**measures)

    rows = [
        {
            "product_id": g["product_id"],
            "product": g["product__name"] or _("(no product)"),
            "category": g["category"],
            "quantity": _money(g["quantity"]),
            "revenue": _money(g["revenue"]),
            "orders": g["orders"],
        }
        for g in by_product
    ]
    rows.sort(key=lambda r: (-r["revenue"], r["product"]))
    categories = [
        {
            "category": g["category"] or _("(no category)"),
            "quantity": _money(g["quantity"]),
            "revenue": _money(g["revenue"]),
            "orders": g["orders"],
        }
        for g in by_category
    ]
    categories.sort(key=lambda r: (-r["revenue"], r["category"]))
    revenue = _money(overall["revenue"])
    for r in rows:
        r["share_pct"] = _pct(r["revenue"], revenue)
    for c in categories:
        c["share_pct"] = _pct(c["revenue"], revenue)
    totals = {
        "quantity": _money(overall["quantity"]),
        "revenue": revenue,
        "orders": overall["orders"] or 0,
        "share_pct": 100.0 if revenue else None,
    }
    columns = [
        Column("product", _("Product")),
        Column("category", _("Category")),
        Column("quantity", _("Quantity"), "number"),
        Column("revenue", _("Revenue"), "money"),
        Column("orders", _("Orders"), "int"),
        Column("share_pct", _("Share of revenue"), "pct"),
    ]
    return Report(
        ReportKind.PRODUCT_SALES,
        str(REPORT_TITLES[ReportKind.PRODUCT_SALES]),
        filters,
        columns,
        rows,
        totals,
        {"categories": categories},
    )


# --- activity counts ----------------------------------------------------------------------------


def activity_counts(*, actor: Membership, filters: ReportFilters) -> Report:
    """Activities logged in the period: per rep and kind, and per week (weeks start Monday,
    in the tenant's time zone)."""
    begin, finish = period_bounds(filters)
    qs = _people(
        Activity.objects.filter(visible_q(actor), deleted_at__isnull=True), filters, "owner"
    ).filter(at__gte=begin, at__lt=finish)
    if filters.kind:
        qs = qs.filter(kind=filters.kind)
    kinds = [filters.kind] if filters.kind else list(ActivityKind.values)
    by_rep = qs.values("owner_id", "kind").annotate(n=Count("id"))
    empty = dict.fromkeys(kinds, 0)
    reps: dict[int | None, dict[str, Any]] = {}
    for g in by_rep:
        r = reps.setdefault(g["owner_id"], {"owner_id": g["owner_id"], **empty})
        r[g["kind"]] = r.get(g["kind"], 0) + g["n"]
    names = member_names(reps)
    rows = []
    for owner_id, r in reps.items():
        r["rep"] = names.get(owner_id, "")
        r["total"] = sum(r[k] for k in kinds)
        rows.append(r)
    rows.sort(key=lambda r: (-r["total"], r["rep"]))
    weeks: dict[date, dict[str, Any]] = {}
    for day, kind, n in counts_by_local_day(qs, "at", "kind", begin, finish):
        monday = day - timedelta(days=day.weekday())
        w = weeks.setdefault(monday, {"week": monday, **empty})
        w[kind] = w.get(kind, 0) + n
    week_rows = []
    for day in sorted(weeks):
        w = weeks[day]
        w["total"] = sum(w[k] for k in kinds)
        week_rows.append(w)
    totals = {k: sum(r[k] for r in rows) for k in kinds}
    totals["total"] = sum(totals.values())
    labels = dict(ActivityKind.choices)
    columns = [
        Column("rep", _("Rep")),
        *(Column(k, str(labels[k]), "int") for k in kinds),
        Column("total", _("Total"), "int"),
    ]
    return Report(
        ReportKind.ACTIVITY_COUNTS,
        str(REPORT_TITLES[ReportKind.ACTIVITY_COUNTS]),
        filters,
        columns,
        rows,
        totals,
        {"kinds": kinds, "kind_labels": [str(labels[k]) for k in kinds], "weeks": week_rows},
    )


# --- lead-source ROI ----------------------------------------------------------------------------


def lead_sources(*, actor: Membership, filters: ReportFilters) -> Report:
    """Leads received in the period by source, how many were converted, how many became a won
    deal and the amount won from them (deals are counted however late they closed)."""
    begin, finish = period_bounds(filters)
    leads = _people(
        Lead.objects.filter(
            visible_q(actor), deleted_at__isnull=True, created_at__gte=begin, created_at__lt=finish
        ),
        filters,
        "owner",
    )
    won = _people(
        Opportunity.objects.filter(
            visible_q(actor),
            deleted_at__isnull=True,
            stage__is_won=True,
            lead__deleted_at__isnull=True,
            lead__created_at__gte=begin,
            lead__created_at__lt=finish,
        ),
        filters,
        "owner",
    )
    if filters.source:
        leads = leads.filter(source=filters.source)
        won = won.filter(lead__source=filters.source)
    if filters.pipeline_id is not None:
        won = won.filter(pipeline_id=filters.pipeline_id)
    by_source = leads.values("source").annotate(
        leads=Count("id"), converted=Count("id", filter=Q(status=LeadStatus.CONVERTED))
    )
    wins = won.values("lead__source").annotate(
        leads_won=Count("lead_id", distinct=True), deals=Count("id"), amount=Sum("amount")
    )
    rows: dict[str, dict[str, Any]] = {}

    def row(source: str) -> dict[str, Any]:
        return rows.setdefault(
            source,
            {
                "source": source,
                "leads": 0,
                "converted": 0,
                "leads_won": 0,
                "deals_won": 0,
                "won_amount": Decimal("0.00"),
            },
        )

    for g in by_source:
        row(g["source"] or "").update(leads=g["leads"], converted=g["converted"])
    for g in wins:
        row(g["lead__source"] or "").update(
            leads_won=g["leads_won"], deals_won=g["deals"], won_amount=_money(g["amount"])
        )
    result = []
    for r in rows.values():
        r["label"] = r["source"] or _("(no source)")
        _ratios(r)
        result.append(r)
    result.sort(key=lambda r: (-r["won_amount"], -r["leads"], r["label"]))
    totals = _sum_rows(result, ("leads", "converted", "leads_won", "deals_won", "won_amount"))
    _ratios(totals)
    columns = [
        Column("label", _("Source")),
        Column("leads", _("Leads"), "int"),
        Column("converted", _("Converted"), "int"),
        Column("conversion_pct", _("Converted %"), "pct"),
        Column("leads_won", _("Leads won"), "int"),
        Column("win_pct", _("Lead → won"), "pct"),
        Column("deals_won", _("Deals won"), "int"),
        Column("won_amount", _("Won amount"), "money"),
        Column("amount_per_lead", _("Won per lead"), "money"),
    ]
    return Report(
        ReportKind.LEAD_SOURCES,
        str(REPORT_TITLES[ReportKind.LEAD_SOURCES]),
        filters,
        columns,
        result,
        totals,
        {"label": "label", "bars": ["won_amount"], "line": "leads"},
    )


def _ratios(r: dict[str, Any]) -> None:
    r["conversion_pct"] = _pct(r["converted"], r["leads"])
    r["win_pct"] = _pct(r["leads_won"], r["leads"])
    r["amount_per_lead"] = (r["won_amount"] / r["leads"]).quantize(CENT) if r["leads"] else None


BUILDERS = {
    ReportKind.SALES_PERFORMANCE: sales_performance,
    ReportKind.PRODUCT_SALES: product_sales,
    ReportKind.ACTIVITY_COUNTS: activity_counts,
    ReportKind.LEAD_SOURCES: lead_sources,
}


def report_build(*, actor: Membership, kind: str, filters: ReportFilters) -> Report:
    builder = BUILDERS.get(kind)
    if builder is None:
        raise field_error("kind", _("Unknown report."))
    return builder(actor=actor, filters=filters)


# --- schedules ----------------------------------------------------------------------------------


def schedule_list(*, actor: Membership) -> QuerySet[ReportSchedule]:
    """The actor's own schedules; an admin sees every schedule of the tenant."""
    qs = (
        ReportSchedule.objects.all()
        if actor.is_admin
        else ReportSchedule.objects.filter(owner=actor)
    )
    return qs.select_related("owner__user").order_by("-id")


def schedule_get(*, actor: Membership, schedule_id: int) -> ReportSchedule:
    schedule = schedule_list(actor=actor).filter(pk=schedule_id).first()
    if schedule is None:
        raise NotFoundError("No such report schedule.")
    return schedule


def delivery_list(*, schedule: ReportSchedule) -> QuerySet[ReportDelivery]:
    return ReportDelivery.objects.filter(schedule=schedule).order_by("-period_start", "-id")
