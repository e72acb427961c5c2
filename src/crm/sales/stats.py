"""Stored aggregates of the opportunities' stage history, read by the manager's funnel.

Two numbers of the funnel depend on every stage change ever made: how many opportunities
reached each stage (the furthest non-lost stage each one entered) and the mean days spent in a
stage (from the change that brought an opportunity into it to the change that took it out).
Recomputed from ``StageChange`` they take seconds on a large tenant, so they are kept per
pipeline and owner (``owner_key``: the membership id, 0 for unowned), which is what record
visibility filters on:

* ``FunnelReach``: opportunities per furthest stage order;
* ``StageDwell``: moves out of a stage per UTC day, with the total time spent in it.

Each opportunity's history is *folded* into them under the key it had then, recorded on the
opportunity (``stats_folded``, ``stats_owner``, ``stats_pipeline``, ``stats_furthest``) and on
its changes (``folded``, ``entered_at``). The sales services call `refold` in the same
transaction as every write that changes what an opportunity contributes (create, move, owner
change, delete). A write that bypasses them (a bulk import, the undo of a delete, a member's
removal) leaves the opportunity *dirty* (``STATS_DIRTY``: its fold is not what the row says; a
partial index holds those rows) or one of its changes unfolded; the readers correct for those
few rows exactly, and `refresh_dirty` (``crm sales_stats``) folds them. `rebuild` recomputes
everything from the history.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.apps import apps as django_apps
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q, Sum

from crm.core.context import current_tenant_id
from crm.sales.models import (
    STATS_DIRTY,
    FunnelReach,
    Opportunity,
    Stage,
    StageChange,
    StageDwell,
)
from crm.tenancy.models import Membership, Visibility

UNFOLDED = -1  # the fold key of an opportunity whose history is in no aggregate
NO_OWNER = 0  # owner_key of unowned opportunities
NO_STAGE = -1  # stats_furthest of an opportunity that never entered a non-lost stage


def owner_key(owner_id: int | None) -> int:
    return owner_id or NO_OWNER


def fold_key(stats_folded: bool, stats_owner: int | None) -> int:
    """The owner key an opportunity's history is folded under; UNFOLDED if in none."""
    return owner_key(stats_owner) if stats_folded else UNFOLDED


FOLD_FIELDS = ("stats_folded", "stats_owner", "stats_pipeline", "stats_furthest")


def visible_owner_keys(actor: Membership) -> frozenset[int] | None:
    """The owner keys whose records the actor sees (`crm.tenancy.permissions.visible_q` in
    keys); None: every record."""
    if actor.visibility == Visibility.ALL:
        return None
    if actor.visibility == Visibility.TEAM and actor.team_id is not None:
        team = Membership.objects.filter(team_id=actor.team_id).values_list("pk", flat=True)
        return frozenset({*team, actor.pk, NO_OWNER})
    return frozenset({actor.pk})


def _sees(keys: frozenset[int] | None, key: int) -> bool:
    return keys is None or key in keys


# --- one opportunity's history ------------------------------------------------------------------


@dataclass(frozen=True)
class Move:
    """A change out of a stage: when, and when the opportunity had entered that stage."""

    change_id: int
    from_stage_id: int
    at: datetime
    entered_at: datetime | None

    @property
    def micros(self) -> int:
        assert self.entered_at is not None
        spent = self.at - self.entered_at
        return (spent.days * 86_400 + spent.seconds) * 1_000_000 + spent.microseconds


@dataclass(frozen=True)
class History:
    furthest: int
    moves: list[Move]


def history(
    changes: Iterable[tuple[int, int | None, int, datetime]], stages: Mapping[int, tuple[int, bool]]
) -> History:
    """`changes`: (id, from_stage_id, to_stage_id, at); `stages`: id -> (order, is_lost).
    A move's time in the stage starts at the latest earlier change into that stage."""
    furthest = NO_STAGE
    entered: dict[int, datetime] = {}
    moves: list[Move] = []
    for change_id, from_stage_id, to_stage_id, at in sorted(changes, key=lambda c: c[0]):
        order, is_lost = stages[to_stage_id]
        if not is_lost:
            furthest = max(furthest, order)
        if from_stage_id is not None:
            moves.append(Move(change_id, from_stage_id, at, entered.get(from_stage_id)))
        entered[to_stage_id] = at
    return History(furthest, moves)


def utc_day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def _stage_map() -> dict[int, tuple[int, bool]]:
    return {
        pk: (order, lost) for pk, order, lost in Stage.objects.values_list("pk", "order", "is_lost")
    }


# --- keeping the aggregates ---------------------------------------------------------------------


def _add(
    model: type[FunnelReach] | type[StageDwell], key: dict[str, object], **deltas: int
) -> None:
    """Add to one aggregate row, creating it when missing (safe against a concurrent creator)."""
    increments = {name: F(name) + value for name, value in deltas.items()}
    if model.objects.filter(**key).update(**increments):
        return
    try:
        with transaction.atomic():
            model.objects.create(**key, **deltas)
    except IntegrityError:
        model.objects.filter(**key).update(**increments)


def _apply(
    reach: Counter[tuple[int, int, int]], dwell: dict[tuple[int, int, int, date], list[int]]
) -> None:
    for (pipeline_id, key, furthest), n in reach.items():
        if n:
            _add(
                FunnelReach,
                {"pipeline_id": pipeline_id, "owner_key": key, "furthest": furthest},
                n=n,
            )
    for (pipeline_id, key, stage_id, day), (n, micros) in dwell.items():
        if n or micros:
            _add(
                StageDwell,
                {"pipeline_id": pipeline_id, "owner_key": key, "stage_id": stage_id, "day": day},
                n=n,
                micros=micros,
            )


@transaction.atomic
def refold(opportunity_ids: Iterable[int]) -> None:
    """Take these opportunities' histories out of the aggregates and fold them in again as
    they are now (deleted ones stay out). Called by the services in their transaction."""
    ids = sorted(set(opportunity_ids))
    if not ids:
        return
    opps = [
        (pk, owner_id, pipeline_id, deleted_at, fold_key(folded, s_owner), s_pipeline, furthest)
        for pk, owner_id, pipeline_id, deleted_at, folded, s_owner, s_pipeline, furthest in (
            Opportunity.objects.select_for_update()
            .filter(pk__in=ids)
            .values_list("pk", "owner_id", "pipeline_id", "deleted_at", *FOLD_FIELDS)
        )
    ]
    changes: dict[int, list[tuple[int, int | None, int, datetime, bool, datetime | None]]] = (
        defaultdict(list)
    )
    for row in StageChange.objects.filter(opportunity_id__in=ids).values_list(
        "opportunity_id", "pk", "from_stage_id", "to_stage_id", "at", "folded", "entered_at"
    ):
        changes[row[0]].append(row[1:])
    stages = _stage_map()
    reach: Counter[tuple[int, int, int]] = Counter()
    dwell: dict[tuple[int, int, int, date], list[int]] = defaultdict(lambda: [0, 0])
    folded_changes: list[tuple[int, datetime | None]] = []
    deleted_changes: list[int] = []
    for pk, owner_id, pipeline_id, deleted_at, s_owner, s_pipeline, s_furthest in opps:
        mine = changes.get(pk, [])
        if s_owner != UNFOLDED:  # take the folded contribution out
            if s_furthest != NO_STAGE:
                reach[(s_pipeline, s_owner, s_furthest)] -= 1
            for _, from_stage_id, _, at, folded, entered_at in mine:
                if folded and from_stage_id is not None and entered_at is not None:
                    bucket = dwell[(s_pipeline, s_owner, from_stage_id, utc_day(at))]
                    bucket[0] -= 1
                    bucket[1] -= Move(0, from_stage_id, at, entered_at).micros
        if deleted_at is not None:
            Opportunity.all_tenants.filter(pk=pk).update(
                stats_folded=False, stats_owner=None, stats_pipeline=None, stats_furthest=NO_STAGE
            )
            deleted_changes.extend(c[0] for c in mine)
            continue
        key = owner_key(owner_id)
        past = history([c[:4] for c in mine], stages)
        if past.furthest != NO_STAGE:
            reach[(pipeline_id, key, past.furthest)] += 1
        entered = {m.change_id: m.entered_at for m in past.moves}
        for move in past.moves:
            if move.entered_at is not None:
                bucket = dwell[(pipeline_id, key, move.from_stage_id, utc_day(move.at))]
                bucket[0] += 1
                bucket[1] += move.micros
        folded_changes.extend(
            (c[0], entered.get(c[0])) for c in mine if not c[4] or c[5] != entered.get(c[0])
        )
        Opportunity.all_tenants.filter(pk=pk).update(
            stats_folded=True,
            stats_owner=owner_id,
            stats_pipeline=pipeline_id,
            stats_furthest=past.furthest,
        )
    _apply(reach, dwell)
    if deleted_changes:  # accounted for: their opportunity is out of the aggregates
        StageChange.all_tenants.filter(pk__in=deleted_changes).update(folded=True, entered_at=None)
    for change_id, entered_at in folded_changes:
        StageChange.all_tenants.filter(pk=change_id).update(folded=True, entered_at=entered_at)


def dirty_opportunity_ids() -> set[int]:
    """Opportunities of the tenant in context whose fold is not what they are now: changed by a
    write that did not go through the services, or with a change not folded yet."""
    ids = set(Opportunity.objects.filter(STATS_DIRTY).values_list("pk", flat=True))
    ids.update(StageChange.objects.filter(folded=False).values_list("opportunity_id", flat=True))
    return ids


REBUILD_ABOVE = 5000  # folding one by one costs more than a rebuild past this many


def refresh_dirty() -> int:
    """Fold what the readers would otherwise correct for (after a bulk import, a demo load);
    the number of opportunities. Many of them: the tenant's aggregates are rebuilt instead."""
    ids = sorted(dirty_opportunity_ids())
    if len(ids) > REBUILD_ABOVE:
        rebuild(current_tenant_id())
        return len(ids)
    for start in range(0, len(ids), 500):
        refold(ids[start : start + 500])
    return len(ids)


@dataclass
class _Folds:
    reach: Counter[tuple[int, int, int]]
    dwell: dict[tuple[int, int, int, date], list[int]]
    opp_rows: list[tuple[bool, int | None, int | None, int, int]]
    change_rows: list[tuple[bool, datetime | None, int]]


def _fold_all(tenant_id: int, registry: Any) -> _Folds:
    """Every live opportunity of the tenant folded from its whole history, in memory."""
    stages = {
        pk: (order, lost)
        for pk, order, lost in registry.get_model("sales", "Stage")
        ._base_manager.filter(tenant_id=tenant_id)
        .values_list("pk", "order", "is_lost")
    }
    opps = registry.get_model("sales", "Opportunity")._base_manager.filter(tenant_id=tenant_id)
    per_opp: dict[int, list[tuple[int, int | None, int, datetime]]] = defaultdict(list)
    rows = (
        registry.get_model("sales", "StageChange")
        ._base_manager.filter(tenant_id=tenant_id)
        .values_list("opportunity_id", "pk", "from_stage_id", "to_stage_id", "at")
    )
    for opp_id, *change in rows.iterator(chunk_size=20_000):
        per_opp[opp_id].append((change[0], change[1], change[2], change[3]))
    folds = _Folds(Counter(), defaultdict(lambda: [0, 0]), [], [])
    for pk, owner_id, pipeline_id, deleted_at in opps.values_list(
        "pk", "owner_id", "pipeline_id", "deleted_at"
    ).iterator(chunk_size=20_000):
        mine = per_opp.get(pk, [])
        if deleted_at is not None:
            folds.opp_rows.append((False, None, None, NO_STAGE, pk))
            folds.change_rows.extend((True, None, c[0]) for c in mine)
            continue
        key = owner_key(owner_id)
        past = history(mine, stages)
        if past.furthest != NO_STAGE:
            folds.reach[(pipeline_id, key, past.furthest)] += 1
        entered = {m.change_id: m.entered_at for m in past.moves}
        for move in past.moves:
            if move.entered_at is not None:
                bucket = folds.dwell[(pipeline_id, key, move.from_stage_id, utc_day(move.at))]
                bucket[0] += 1
                bucket[1] += move.micros
        folds.opp_rows.append((True, owner_id, pipeline_id, past.furthest, pk))
        folds.change_rows.extend((True, entered.get(c[0]), c[0]) for c in mine)
    return folds


def rebuild(tenant_id: int, registry: Any = None) -> None:
    """Recompute one tenant's aggregates from its whole stage history (the migration that
    added them, ``crm sales_stats --rebuild``, a change of stage order), in one transaction.
    `registry`: the migration's app registry (its historical models), else the project's."""
    registry = registry or django_apps
    reach_model = registry.get_model("sales", "FunnelReach")
    dwell_model = registry.get_model("sales", "StageDwell")
    with transaction.atomic():
        reach_model._base_manager.filter(tenant_id=tenant_id).delete()
        dwell_model._base_manager.filter(tenant_id=tenant_id).delete()
        folds = _fold_all(tenant_id, registry)
        _write_folds(folds.opp_rows, folds.change_rows)
        reach_model._base_manager.bulk_create(
            [
                reach_model(tenant_id=tenant_id, pipeline_id=p, owner_key=k, furthest=f, n=n)
                for (p, k, f), n in folds.reach.items()
            ],
            batch_size=2000,
        )
        dwell_model._base_manager.bulk_create(
            [
                dwell_model(
                    tenant_id=tenant_id,
                    pipeline_id=p,
                    owner_key=k,
                    stage_id=s,
                    day=d,
                    n=n,
                    micros=micros,
                )
                for (p, k, s, d), (n, micros) in folds.dwell.items()
            ],
            batch_size=2000,
        )


def differences(tenant_id: int) -> list[str]:
    """Where the tenant's stored aggregates differ from its history folded afresh (the
    opportunities to correct for left out: run `refresh_dirty` first for a full check)."""
    folds = _fold_all(tenant_id, django_apps)
    stored_reach = {
        (p, k, f): n
        for p, k, f, n in FunnelReach.all_tenants.filter(tenant_id=tenant_id)
        .exclude(n=0)
        .values_list("pipeline_id", "owner_key", "furthest", "n")
    }
    stored_dwell = {
        (p, k, s, d): [n, micros]
        for p, k, s, d, n, micros in StageDwell.all_tenants.filter(tenant_id=tenant_id)
        .exclude(n=0, micros=0)
        .values_list("pipeline_id", "owner_key", "stage_id", "day", "n", "micros")
    }
    found = [
        f"reach {key}: stored {stored_reach.get(key, 0)}, history {n}"
        for key, n in folds.reach.items()
        if stored_reach.get(key, 0) != n
    ]
    found += [
        f"reach {key}: stored {n}, history 0"
        for key, n in stored_reach.items()
        if key not in folds.reach
    ]
    found += [
        f"dwell {key}: stored {stored_dwell.get(key, [0, 0])}, history {value}"
        for key, value in folds.dwell.items()
        if stored_dwell.get(key, [0, 0]) != value
    ]
    found += [
        f"dwell {key}: stored {value}, history [0, 0]"
        for key, value in stored_dwell.items()
        if key not in folds.dwell
    ]
    return found


def _write_folds(
    opp_rows: list[tuple[bool, int | None, int | None, int, int]],
    change_rows: list[tuple[bool, datetime | None, int]],
) -> None:
    """Plain batched UPDATEs: a model-by-model save of half a million rows takes minutes."""
    ops = connection.ops
    opp_sql = (
        "UPDATE {} SET stats_folded = %s, stats_owner = %s, stats_pipeline = %s, "
        "stats_furthest = %s WHERE id = %s"
    )
    change_sql = "UPDATE {} SET folded = %s, entered_at = %s WHERE id = %s"
    opp_sql = opp_sql.format(ops.quote_name(Opportunity._meta.db_table))
    change_sql = change_sql.format(ops.quote_name(StageChange._meta.db_table))
    with connection.cursor() as cursor:
        for start in range(0, len(opp_rows), 5000):
            cursor.executemany(opp_sql, opp_rows[start : start + 5000])
        for start in range(0, len(change_rows), 5000):
            batch = change_rows[start : start + 5000]
            cursor.executemany(
                change_sql,
                [(folded, ops.adapt_datetimefield_value(at), pk) for folded, at, pk in batch],
            )


# --- reading ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pending:
    """The opportunities the readers correct for (`dirty_opportunity_ids`), with their
    changes; read once per page."""

    rows: list[tuple[int, int | None, int, datetime | None, int, int | None, int]]
    changes: dict[int, list[tuple[int, int | None, int, datetime, bool, datetime | None]]]


def pending() -> Pending:
    ids = dirty_opportunity_ids()
    if not ids:
        return Pending([], {})
    rows = [
        (pk, owner_id, pipeline_id, deleted_at, fold_key(folded, s_owner), s_pipeline, furthest)
        for pk, owner_id, pipeline_id, deleted_at, folded, s_owner, s_pipeline, furthest in (
            Opportunity.objects.filter(pk__in=ids).values_list(
                "pk", "owner_id", "pipeline_id", "deleted_at", *FOLD_FIELDS
            )
        )
    ]
    changes: dict[int, list[tuple[int, int | None, int, datetime, bool, datetime | None]]] = (
        defaultdict(list)
    )
    for row in StageChange.objects.filter(opportunity_id__in=ids).values_list(
        "opportunity_id", "pk", "from_stage_id", "to_stage_id", "at", "folded", "entered_at"
    ):
        changes[row[0]].append(row[1:])
    return Pending(rows, changes)


def reached_by_order(
    *, keys: frozenset[int] | None, pipeline_id: int, dirty: Pending | None = None
) -> dict[int, int]:
    """Live opportunities of the pipeline owned by `keys` (`visible_owner_keys`) per the
    furthest non-lost stage order they entered."""
    qs = FunnelReach.objects.filter(pipeline_id=pipeline_id)
    if keys is not None:
        qs = qs.filter(owner_key__in=keys)
    counts: Counter[int] = Counter()
    for furthest, n in (
        qs.order_by().values("furthest").annotate(n=Sum("n")).values_list("furthest", "n")
    ):
        counts[furthest] += n
    dirty = dirty or pending()
    stages = _stage_map() if dirty.rows else {}
    for pk, owner_id, pipe, deleted_at, s_owner, s_pipeline, s_furthest in dirty.rows:
        folded_here = s_owner != UNFOLDED and s_pipeline == pipeline_id
        if folded_here and s_furthest != NO_STAGE and _sees(keys, s_owner):
            counts[s_furthest] -= 1
        if deleted_at is None and pipe == pipeline_id and _sees(keys, owner_key(owner_id)):
            past = history([c[:4] for c in dirty.changes.get(pk, [])], stages)
            if past.furthest != NO_STAGE:
                counts[past.furthest] += 1
    return {order: n for order, n in counts.items() if n}


def dwell_by_stage(
    *,
    keys: frozenset[int] | None,
    pipeline_id: int,
    since: datetime,
    dirty: Pending | None = None,
) -> dict[int, tuple[int, int]]:
    """Per stage: the moves out of it since `since` of the pipeline's live opportunities owned
    by `keys` whose entry into it is known, and the microseconds they spent in it."""
    first_day = utc_day(since)
    next_midnight = datetime.combine(first_day + timedelta(days=1), time(), tzinfo=UTC)
    totals: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    days = StageDwell.objects.filter(pipeline_id=pipeline_id, day__gt=first_day)
    edge = StageChange.objects.filter(
        folded=True,
        entered_at__isnull=False,
        from_stage__isnull=False,
        at__gte=since,
        at__lt=next_midnight,
        opportunity__stats_pipeline=pipeline_id,
        opportunity__stats_folded=True,
    )
    if keys is not None:
        days = days.filter(owner_key__in=keys)
        owners = Q(opportunity__stats_owner__in=sorted(keys - {NO_OWNER}))
        if NO_OWNER in keys:
            owners |= Q(opportunity__stats_owner__isnull=True)
        edge = edge.filter(owners)
    for stage_id, n, micros in (
        days.order_by()
        .values("stage_id")
        .annotate(n=Sum("n"), micros=Sum("micros"))
        .values_list("stage_id", "n", "micros")
    ):
        totals[stage_id][0] += n
        totals[stage_id][1] += micros
    for stage_id, at, entered_at in edge.values_list("from_stage_id", "at", "entered_at"):
        totals[stage_id][0] += 1
        totals[stage_id][1] += Move(0, stage_id, at, entered_at).micros
    dirty = dirty or pending()
    stages = _stage_map() if dirty.rows else {}
    for pk, owner_id, pipe, deleted_at, s_owner, s_pipeline, _ in dirty.rows:
        mine = dirty.changes.get(pk, [])
        if s_owner != UNFOLDED and s_pipeline == pipeline_id and _sees(keys, s_owner):
            for _, from_stage_id, _, at, folded, entered_at in mine:
                if folded and from_stage_id is not None and entered_at is not None and at >= since:
                    totals[from_stage_id][0] -= 1
                    totals[from_stage_id][1] -= Move(0, from_stage_id, at, entered_at).micros
        if deleted_at is None and pipe == pipeline_id and _sees(keys, owner_key(owner_id)):
            for move in history([c[:4] for c in mine], stages).moves:
                if move.entered_at is not None and move.at >= since:
                    totals[move.from_stage_id][0] += 1
                    totals[move.from_stage_id][1] += move.micros
    return {stage_id: (n, micros) for stage_id, (n, micros) in totals.items() if n}


# --- recomputed from the history (the command's check, the tests) -------------------------------


def reached_by_order_recompute(*, actor: Membership, pipeline_id: int) -> dict[int, int]:
    """`reached_by_order` straight from the stage changes (seconds on a large tenant)."""
    from django.db.models import Count, Max, OuterRef, Subquery

    from crm.sales.selectors import opportunity_list

    furthest = (
        StageChange.objects.filter(opportunity=OuterRef("pk"), to_stage__is_lost=False)
        .order_by()
        .values("opportunity")
        .annotate(m=Max("to_stage__order"))
        .values("m")
    )
    return {
        r["furthest"]: r["n"]
        for r in opportunity_list(actor=actor, pipeline_id=pipeline_id)
        .order_by()
        .annotate(furthest=Subquery(furthest))
        .values("furthest")
        .annotate(n=Count("id"))
        if r["furthest"] is not None
    }


def dwell_by_stage_recompute(
    *, actor: Membership, pipeline_id: int, since: datetime
) -> dict[int, tuple[int, int]]:
    """`dwell_by_stage` straight from the stage changes, in Python."""
    from crm.sales.selectors import opportunity_list

    opps = set(opportunity_list(actor=actor, pipeline_id=pipeline_id).values_list("pk", flat=True))
    per_opp: dict[int, list[tuple[int, int | None, int, datetime]]] = defaultdict(list)
    for opp_id, *change in StageChange.objects.filter(opportunity_id__in=opps).values_list(
        "opportunity_id", "pk", "from_stage_id", "to_stage_id", "at"
    ):
        per_opp[opp_id].append((change[0], change[1], change[2], change[3]))
    stages = _stage_map()
    totals: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for changes in per_opp.values():
        for move in history(changes, stages).moves:
            if move.entered_at is not None and move.at >= since:
                totals[move.from_stage_id][0] += 1
                totals[move.from_stage_id][1] += move.micros
    return {stage_id: (n, micros) for stage_id, (n, micros) in totals.items() if n}
