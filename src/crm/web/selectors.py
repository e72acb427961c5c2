"""Reads the pages need beyond the apps' own selectors: dashboards, the kanban, global search,
and what a member chose for the pages (time zone, columns, saved views).

Everything starts from the apps' visibility-scoped selectors (`*_list(actor=...)`), so a number
on a dashboard never counts a row its reader could not open.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from typing import Any

from django.core.cache import cache
from django.db import models
from django.db.models import (
    Avg,
    Count,
    F,
    Func,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    Window,
)
from django.db.models.functions import RowNumber
from django.utils import timezone

from crm.activities.models import Activity, ActivityKind, Task, TaskStatus
from crm.activities.selectors import task_list
from crm.core.errors import NotFoundError
from crm.customers.models import Account, Contact
from crm.customers.selectors import account_list, contact_list
from crm.sales.models import Lead, LeadStatus, Opportunity, Pipeline, Stage
from crm.sales.selectors import lead_list, opportunity_list, pipeline_list, stage_list
from crm.sales.stats import (
    NO_OWNER,
    dwell_by_stage,
    pending,
    reached_by_order,
    visible_owner_keys,
)
from crm.tenancy.models import AuditHead, Membership, Team
from crm.tenancy.permissions import visible_q
from crm.tenancy.selectors import membership_list, team_list
from crm.web.models import ListColumns, SavedView, UserPreference

ZERO = Decimal("0")

# --- member preferences -------------------------------------------------------------------------


def preference_time_zone(*, actor: Membership) -> str:
    """The member's own time zone, else the tenant's."""
    pref = UserPreference.objects.filter(membership=actor).only("time_zone").first()
    return (pref.time_zone if pref else "") or actor.tenant.time_zone


def list_columns_get(*, actor: Membership, list_name: str) -> list[str] | None:
    row = ListColumns.objects.filter(membership=actor, list_name=list_name).first()
    return list(row.columns) if row else None


def saved_view_list(*, actor: Membership, list_name: str) -> QuerySet[SavedView]:
    return SavedView.objects.filter(membership=actor, list_name=list_name).order_by("name")


def saved_view_get(*, actor: Membership, view_id: int) -> SavedView:
    view = SavedView.objects.filter(membership=actor, pk=view_id).first()
    if view is None:
        raise NotFoundError("No such view.")
    return view


DELETABLE_MODELS: dict[str, type[models.Model]] = {
    "account": Account,
    "contact": Contact,
    "lead": Lead,
    "opportunity": Opportunity,
}


def deleted_record_get(*, actor: Membership, record_type: str, record_id: int) -> Any:
    """A soft-deleted record the actor could see (for undo); NotFoundError otherwise."""
    model = DELETABLE_MODELS.get(record_type)
    if model is None:
        raise NotFoundError("Not found.")
    row = (
        model._default_manager.filter(visible_q(actor), pk=record_id, deleted_at__isnull=False)
        .select_related("owner")
        .first()
    )
    if row is None:
        raise NotFoundError("Not found.")
    return row


def team_get(*, team_id: int) -> Team:
    team = team_list().filter(pk=team_id).first()
    if team is None:
        raise NotFoundError("No such team.")
    return team


def active_members() -> QuerySet[Membership]:
    return membership_list().filter(is_active=True)


# --- global search ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchHit:
    kind: str
    pk: int
    title: str
    detail: str


def global_search(*, actor: Membership, query: str, limit: int = 5) -> list[SearchHit]:
    """Accounts, contacts, leads and opportunities matching a name, pinyin, initials, or an exact
    email / phone; at most `limit` of each, each search an index range scan."""
    query = query.strip()[:100]
    if not query:
        return []
    hits: list[SearchHit] = []
    for account in account_list(actor=actor, search=query).order_by()[:limit]:
        hits.append(SearchHit("account", account.pk, account.name, account.city))
    for contact in contact_list(actor=actor, search=query).order_by()[:limit]:
        company = contact.account.name if contact.account else ""
        hits.append(SearchHit("contact", contact.pk, contact.name, company))
    for lead in lead_list(actor=actor, search=query).order_by()[:limit]:
        hits.append(SearchHit("lead", lead.pk, lead.name, lead.company))
    for opp in opportunity_list(actor=actor, search=query)[:limit]:
        hits.append(SearchHit("opportunity", opp.pk, opp.name, opp.stage.name))
    return hits


# --- dashboards ---------------------------------------------------------------------------------


def _day_bounds(now: datetime) -> tuple[datetime, datetime]:
    local = timezone.localtime(now)
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return start, start + timedelta(days=1)


def _month_start(day: date) -> date:
    return day.replace(day=1)


@dataclass
class StageTotal:
    stage_id: int
    name: str
    count: int
    amount: Decimal


@dataclass
class SalesDashboard:
    tasks_overdue: list[Task]
    tasks_today: list[Task]
    leads_breached: int
    leads_due_soon: int
    leads_on_time: int
    leads_no_sla: int
    leads_next: list[Any]
    pipeline: list[StageTotal]
    pipeline_count: int
    pipeline_amount: Decimal


SLA_SOON = timedelta(hours=4)


def sales_dashboard(*, actor: Membership, now: datetime | None = None) -> SalesDashboard:
    """My tasks due today and overdue, my open leads by first-response SLA, my open pipeline."""
    now = now or timezone.now()
    day_start, day_end = _day_bounds(now)
    tasks = list(
        task_list(
            actor=actor,
            status=TaskStatus.OPEN,
            assignee_id=actor.pk,
            due_before=day_end,
            ordering="due_at",
        )[:50]
    )
    open_leads = lead_list(actor=actor, owner_id=actor.pk).filter(
        status__in=[LeadStatus.NEW, LeadStatus.WORKING]
    )
    sla = open_leads.order_by().aggregate(
        breached=Count("id", filter=Q(first_response_due_at__lt=now)),
        soon=Count(
            "id",
            filter=Q(first_response_due_at__gte=now, first_response_due_at__lt=now + SLA_SOON),
        ),
        later=Count("id", filter=Q(first_response_due_at__gte=now + SLA_SOON)),
        none=Count("id", filter=Q(first_response_due_at__isnull=True)),
    )
    # Two steps: the first ten ids from the (owner, status, deleted_at, due) index alone, then
    # those rows; sorting the rep's open leads whole would read thousands of rows.
    next_ids = list(
        open_leads.filter(first_response_due_at__isnull=False)
        .order_by("first_response_due_at", "id")
        .values_list("pk", flat=True)[:10]
    )
    leads_next = sorted(
        open_leads.filter(pk__in=next_ids), key=lambda lead: next_ids.index(lead.pk)
    )
    pipeline = _stage_totals(opportunity_list(actor=actor, owner_id=actor.pk, is_open=True))
    return SalesDashboard(
        tasks_overdue=[t for t in tasks if t.due_at is not None and t.due_at < day_start],
        tasks_today=[t for t in tasks if t.due_at is not None and t.due_at >= day_start],
        leads_breached=sla["breached"],
        leads_due_soon=sla["soon"],
        leads_on_time=sla["later"],
        leads_no_sla=sla["none"],
        leads_next=leads_next,
        pipeline=pipeline,
        pipeline_count=sum(s.count for s in pipeline),
        pipeline_amount=sum((s.amount for s in pipeline), ZERO),
    )


def _stage_totals(opportunities: QuerySet[Opportunity]) -> list[StageTotal]:
    rows = (
        opportunities.order_by()
        .values("stage_id", "stage__name", "stage__order", "stage__pipeline_id")
        .annotate(n=Count("id"), total=Sum("amount"))
        .order_by("stage__pipeline_id", "stage__order", "stage_id")
    )
    return [StageTotal(r["stage_id"], r["stage__name"], r["n"], r["total"] or ZERO) for r in rows]


@dataclass
class FunnelStage:
    stage_id: int
    name: str
    is_won: bool
    count: int
    amount: Decimal
    average_amount: Decimal
    reached: int
    conversion_pct: float | None  # share of those who reached this stage that reached the next
    average_days: float | None  # mean time spent in this stage by opportunities that left it


@dataclass
class RepActivity:
    member_id: int
    name: str
    counts: dict[str, int]
    total: int


@dataclass
class ManagerDashboard:
    pipeline: Pipeline | None
    funnel: list[FunnelStage]
    won_this_month: Decimal
    won_this_month_count: int
    won_last_month: Decimal
    won_last_month_count: int
    reps: list[RepActivity]
    activity_kinds: list[str] = field(default_factory=list)


CYCLE_WINDOW = timedelta(days=365)
ACTIVITY_WINDOW = timedelta(days=30)


def _owned_by(keys: frozenset[int] | None) -> Q:
    """`visible_q` for the owner keys of `crm.sales.stats.visible_owner_keys` (no join: the
    keys are a handful of member ids)."""
    if keys is None:
        return Q()
    members = Q(owner_id__in=sorted(k for k in keys if k != NO_OWNER))
    return members | Q(owner__isnull=True) if NO_OWNER in keys else members


def _in_stages(
    keys: frozenset[int] | None, pipeline: Pipeline, stage_ids: list[int]
) -> dict[int, dict[str, Any]]:
    """Count, value and mean value of the visible live opportunities per stage. The owner ids as
    an IN list make it ranges of the (pipeline, stage, owner) covering index; an OR with the
    unowned ones would read every owner's rows, so those are looked for apart, and only when
    there are some is it the one query over both (its sums and means as the database makes
    them)."""

    def per_stage(visible: Q) -> dict[int, dict[str, Any]]:
        return {
            r["stage_id"]: dict(r)
            for r in Opportunity.objects.filter(
                visible, pipeline_id=pipeline.pk, stage_id__in=stage_ids, deleted_at__isnull=True
            )
            .order_by()
            .values("stage_id")
            .annotate(n=Count("id"), total=Sum("amount"), avg=Avg("amount"))
        }

    if keys is None or NO_OWNER not in keys:
        return per_stage(_owned_by(keys))
    unowned = Opportunity.objects.filter(
        owner__isnull=True, pipeline_id=pipeline.pk, stage_id__in=stage_ids, deleted_at__isnull=True
    )
    return per_stage(_owned_by(keys) if unowned.exists() else _owned_by(keys - {NO_OWNER}))


def funnel(
    *,
    actor: Membership,
    pipeline: Pipeline,
    now: datetime | None = None,
    keys: frozenset[int] | None = None,
) -> list[FunnelStage]:
    """Per stage of the pipeline (lost stages left out): the opportunities now in it (count,
    value, mean value), how many ever reached it or a later stage, the conversion to the next
    history's stored aggregates (crm.sales.stats), the rest from covering-index ranges.
    `keys`: the actor's `visible_owner_keys` when the caller has them already."""
    now = now or timezone.now()
    stages = [s for s in stage_list(pipeline_id=pipeline.pk) if not s.is_lost]
    if keys is None:
        keys = visible_owner_keys(actor)
    current = _in_stages(keys, pipeline, [s.pk for s in stages])
    # The furthest (non-lost) stage each opportunity ever entered, counted per stage order.
    dirty = pending()
    reached_at = reached_by_order(keys=keys, pipeline_id=pipeline.pk, dirty=dirty)
    days = {
        stage_id: round(timedelta(microseconds=micros / n).total_seconds() / 86400, 1)
        for stage_id, (n, micros) in dwell_by_stage(
            keys=keys, pipeline_id=pipeline.pk, since=now - CYCLE_WINDOW, dirty=dirty
        ).items()
    }
    result: list[FunnelStage] = []
    for stage in stages:
        row = current.get(stage.pk, {})
        reached = sum(n for order, n in reached_at.items() if order >= stage.order)
        result.append(
            FunnelStage(
                stage_id=stage.pk,
                name=stage.name,
                is_won=stage.is_won,
                count=row.get("n", 0),
                amount=row.get("total") or ZERO,
                average_amount=(row.get("avg") or ZERO),
                reached=reached,
                conversion_pct=None,
                average_days=days.get(stage.pk),
            )
        )
    for here, nxt in pairwise(result):
        here.conversion_pct = round(100 * nxt.reached / here.reached, 1) if here.reached else None
    for item in result:
        item.average_amount = Decimal(item.average_amount).quantize(Decimal("0.01"))
    return result


def _won_in_months(
    keys: frozenset[int] | None, last_month: datetime, this_month: datetime, next_month: datetime
) -> dict[str, Any]:
    """Won last month and this month (value and count): one range of the closing-date index."""
    this = Q(closed_at__gte=this_month)
    last = Q(closed_at__lt=this_month)
    return (
        Opportunity.objects.filter(
            _owned_by(keys),
            closed_at__gte=last_month,
            closed_at__lt=next_month,
            stage_id__in=Stage.objects.filter(is_won=True).values("pk"),
            deleted_at__isnull=True,
        )
        .order_by()
        .aggregate(
            now_total=Sum("amount", filter=this),
            now_n=Count("id", filter=this),
            last_total=Sum("amount", filter=last),
            last_n=Count("id", filter=last),
        )
    )


MANAGER_CACHE_SECONDS = 300


def _data_version(tenant_id: int) -> str:
    """The tenant's audit chain head: every audited write (crm.events.crud) moves it on (the
    hash too, which also tells apart two chains of the same length)."""
    head = AuditHead.objects.filter(tenant_id=tenant_id).values_list("seq", "hash").first()
    return f"{head[0]}-{head[1][:16]}" if head else "0"


def manager_dashboard(
    *, actor: Membership, pipeline_id: int | None = None, now: datetime | None = None
) -> ManagerDashboard:
    """The team view. Its aggregates walk the tenant's whole pipeline history (seconds on a
    large tenant), so the result is cached per member, pipeline and day, keyed by the audit
    chain head: any audited write anywhere in the tenant makes the next view recompute, so the
    numbers are never stale. An explicit `now` (tests, reports of another day) bypasses the
    cache."""
    if now is not None:
        return _manager_dashboard(actor=actor, pipeline_id=pipeline_id, now=now)
    key = ":".join(
        str(part)
        for part in (
            "crm:web:manager-dashboard:v1",
            actor.tenant_id,
            _data_version(actor.tenant_id),
            actor.pk,
            actor.visibility,
            actor.team_id,
            pipeline_id,
            timezone.localdate(),
            timezone.get_current_timezone_name(),
        )
    )
    board = cache.get(key)
    if not isinstance(board, ManagerDashboard):
        board = _manager_dashboard(actor=actor, pipeline_id=pipeline_id, now=timezone.now())
        cache.set(key, board, MANAGER_CACHE_SECONDS)
    return board


def _manager_dashboard(
    *, actor: Membership, pipeline_id: int | None, now: datetime
) -> ManagerDashboard:
    pipelines = pipeline_list()
    pipeline = (
        pipelines.filter(pk=pipeline_id).first() if pipeline_id is not None else None
    ) or pipelines.first()
    local_today = timezone.localtime(now).date()
    this_month = _month_start(local_today)
    last_month = _month_start(this_month - timedelta(days=1))
    tz = timezone.get_current_timezone()

    def at_midnight(day: date) -> datetime:
        return datetime(day.year, day.month, day.day, tzinfo=tz)

    next_month = _month_start(this_month + timedelta(days=32))
    keys = visible_owner_keys(actor)
    won = _won_in_months(
        keys, at_midnight(last_month), at_midnight(this_month), at_midnight(next_month)
    )
    reps, kinds = rep_activity(actor=actor, since=now - ACTIVITY_WINDOW, keys=keys)
    return ManagerDashboard(
        pipeline=pipeline,
        funnel=funnel(actor=actor, pipeline=pipeline, now=now, keys=keys) if pipeline else [],
        won_this_month=won["now_total"] or ZERO,
        won_this_month_count=won["now_n"],
        won_last_month=won["last_total"] or ZERO,
        won_last_month_count=won["last_n"],
        reps=reps,
        activity_kinds=kinds,
    )


def rep_activity(
    *, actor: Membership, since: datetime, keys: frozenset[int] | None = None
) -> tuple[list[RepActivity], list[str]]:
    """Activities logged since `since` per owner and kind, among the records the actor sees.
    One count per owner and kind, each a date range of the (owner, kind, deleted_at, at)
    covering index; the kinds are the field's choices (validated on every write)."""
    if keys is None:
        keys = visible_owner_keys(actor)
    owners = membership_list() if keys is None else membership_list().filter(pk__in=keys)

    def counted(kind: str) -> Subquery:
        return Subquery(
            Activity.objects.filter(
                owner_id=OuterRef("pk"), kind=kind, deleted_at__isnull=True, at__gte=since
            )
            .order_by()
            # COUNT as a plain function: no GROUP BY, so the database only counts the range.
            .annotate(n=Func(Value(1), function="COUNT"))
            .values("n")
        )

    kinds = list(ActivityKind.values)
    rows = owners.order_by().annotate(**{f"n_{i}": counted(k) for i, k in enumerate(kinds)})
    per_owner: dict[int, dict[str, int]] = defaultdict(dict)
    for row in rows.values_list("pk", *(f"n_{i}" for i in range(len(kinds)))):
        for kind, n in zip(kinds, row[1:], strict=True):
            if n:
                per_owner[row[0]][kind] = n
    names = {m.pk: str(m) for m in membership_list().filter(pk__in=list(per_owner))}
    reps = [
        RepActivity(pk, names.get(pk, "?"), counts, sum(counts.values()))
        for pk, counts in per_owner.items()
    ]
    reps.sort(key=lambda r: (-r.total, r.name))
    kinds = sorted({k for counts in per_owner.values() for k in counts})
    return reps, kinds


# --- kanban -------------------------------------------------------------------------------------


@dataclass
class KanbanColumn:
    stage: Stage
    cards: list[Opportunity]
    count: int
    amount: Decimal

    @property
    def hidden(self) -> int:
        return max(0, self.count - len(self.cards))


KANBAN_CARDS_PER_COLUMN = 40
# What a card shows: loading only these (not the accounts' and owners' other columns) halves
# the time to build a board.
KANBAN_CARD_FIELDS = (
    "name",
    "amount",
    "currency",
    "probability",
    "stage_id",
    "stage_entered_at",
    "account__name",
    "owner__display_name",
    "owner__user__username",
)


def kanban_opportunities(
    *,
    actor: Membership,
    pipeline_id: int,
    owner_id: int | None = None,
    team_id: int | None = None,
    close_before: date | None = None,
    close_after: date | None = None,
) -> QuerySet[Opportunity]:
    qs = opportunity_list(actor=actor, pipeline_id=pipeline_id, owner_id=owner_id)
    if team_id is not None:
        qs = qs.filter(owner__team_id=team_id)
    if close_before is not None:
        qs = qs.filter(expected_close_date__lte=close_before)
    if close_after is not None:
        qs = qs.filter(expected_close_date__gte=close_after)
    return qs


def kanban_totals(qs: QuerySet[Opportunity]) -> dict[int, tuple[int, Decimal]]:
    return {
        r["stage_id"]: (r["n"], r["total"] or ZERO)
        for r in qs.order_by().values("stage_id").annotate(n=Count("id"), total=Sum("amount"))
    }


def kanban_board(
    *,
    actor: Membership,
    pipeline: Pipeline,
    owner_id: int | None = None,
    team_id: int | None = None,
    close_before: date | None = None,
    close_after: date | None = None,
    per_column: int = KANBAN_CARDS_PER_COLUMN,
) -> list[KanbanColumn]:
    """Columns per stage with their totals and the first cards (largest amount first), each card
    with its owner, days in stage and next open task; three queries whatever the size."""
    qs = kanban_opportunities(
        actor=actor,
        pipeline_id=pipeline.pk,
        owner_id=owner_id,
        team_id=team_id,
        close_before=close_before,
        close_after=close_after,
    )
    totals = kanban_totals(qs)
    # Two steps so that the per-card subqueries run for the shown cards only: first the ids of
    # the largest `per_column` per stage (a window over two columns), then those cards in full.
    ranked = (
        qs.order_by()
        .annotate(
            rank=Window(
                RowNumber(), partition_by=[F("stage_id")], order_by=[F("amount").desc(), F("id")]
            )
        )
        .filter(rank__lte=per_column)
        .values_list("pk", flat=True)
    )
    next_task = Task.objects.filter(
        record_type="opportunity",
        record_id=OuterRef("pk"),
        status=TaskStatus.OPEN,
        deleted_at__isnull=True,
    ).order_by(F("due_at").asc(nulls_last=True), "id")
    cards = (
        Opportunity.objects.filter(pk__in=list(ranked))
        .select_related("owner__user", "account")
        .only(*KANBAN_CARD_FIELDS)
        .annotate(
            next_task_title=Subquery(next_task.values("title")[:1]),
            next_task_due=Subquery(next_task.values("due_at")[:1]),
        )
        .order_by("stage_id", "-amount", "id")
    )
    by_stage: dict[int, list[Opportunity]] = defaultdict(list)
    for card in cards:
        by_stage[card.stage_id].append(card)
    return [
        KanbanColumn(
            stage=stage,
            cards=by_stage.get(stage.pk, []),
            count=totals.get(stage.pk, (0, ZERO))[0],
            amount=totals.get(stage.pk, (0, ZERO))[1],
        )
        for stage in stage_list(pipeline_id=pipeline.pk)
    ]
