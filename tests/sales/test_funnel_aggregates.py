"""The funnel's stored aggregates of the stage history (crm.sales.stats) give the numbers a
recompute from the history gives: after the services' writes, after writes that bypass them
(bulk inserts, a restore, a queryset update), after a change of stage order, and once
`crm sales_stats` has folded those writes in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import timezone

from crm.events.crud import restore
from crm.sales.models import Opportunity, Stage, StageChange
from crm.sales.services import (
    opportunity_create,
    opportunity_delete,
    opportunity_move,
    opportunity_update,
    stage_update,
)
from crm.sales.stats import (
    differences,
    dirty_opportunity_ids,
    dwell_by_stage,
    dwell_by_stage_recompute,
    reached_by_order,
    reached_by_order_recompute,
    visible_owner_keys,
)

YEAR = timedelta(days=365)


def _stages() -> list[Stage]:
    return list(Stage.objects.order_by("order"))


def _assert_readers_match(world: Any, since: datetime) -> None:
    """Every member's view of every pipeline: aggregates + corrections == recompute."""
    pipelines = set(Stage.objects.values_list("pipeline_id", flat=True))
    for actor in (world.admin, world.manager, world.sales, world.sales2, world.viewer):
        keys = visible_owner_keys(actor)
        for pipeline_id in pipelines:
            assert reached_by_order(keys=keys, pipeline_id=pipeline_id) == (
                reached_by_order_recompute(actor=actor, pipeline_id=pipeline_id)
            ), actor
            assert dwell_by_stage(keys=keys, pipeline_id=pipeline_id, since=since) == (
                dwell_by_stage_recompute(actor=actor, pipeline_id=pipeline_id, since=since)
            ), actor


def _history(world: Any) -> list[Opportunity]:
    """Opportunities of three owners moved forward, back, to lost and out again."""
    open_a, open_b, open_c, won, lost = (
        *[s for s in _stages() if not s.is_closed][:3],
        next(s for s in _stages() if s.is_won),
        next(s for s in _stages() if s.is_lost),
    )
    start = timezone.now() - timedelta(days=40)
    made: list[Opportunity] = []
    for i, (actor, path) in enumerate(
        [
            (world.sales, [open_b, open_c, won]),
            (world.sales, [open_b, open_a, open_b]),
            (world.sales2, [lost, open_a, open_c]),
            (world.manager, [open_c, lost]),
            (world.admin, []),
        ]
    ):
        opp = opportunity_create(
            actor=actor, values={"name": f"机会 {i}", "amount": f"{1000 + i}.50"}
        )
        for step, stage in enumerate(path, start=1):
            opportunity_move(
                actor=actor,
                opportunity=opp,
                stage_id=stage.pk,
                at=start + timedelta(days=3 * step + i, hours=5 * i),
            )
        made.append(opp)
    assert open_a.order < open_b.order < open_c.order < won.order
    return made


def test_the_services_keep_the_aggregates_equal_to_the_history(world: Any) -> None:
    made = _history(world)
    opportunity_update(actor=world.admin, opportunity=made[0], values={}, owner_id=world.sales2.pk)
    opportunity_delete(actor=world.sales, opportunity=made[1])
    assert dirty_opportunity_ids() == set()
    assert differences(world.tenant.pk) == []
    _assert_readers_match(world, timezone.now() - YEAR)
    reached = reached_by_order(
        keys=visible_owner_keys(world.admin), pipeline_id=made[0].pipeline_id
    )
    assert sum(reached.values()) == 4  # the deleted one is out; one never left the first stage
    # The manager sees the team (sales and the manager), not sales2 who now owns the won one.
    manager = reached_by_order(
        keys=visible_owner_keys(world.manager), pipeline_id=made[0].pipeline_id
    )
    assert sum(manager.values()) == 1


def test_writes_behind_the_services_back_are_corrected_then_folded(world: Any) -> None:
    made = _history(world)
    stages = [s for s in _stages() if not s.is_closed]
    # A bulk insert of a change (an import), an owner changed by a queryset update (a member's
    # removal), a restore through crud (the undo), an opportunity inserted without its fold.
    StageChange.objects.bulk_create(
        [
            StageChange(
                tenant_id=world.tenant.pk,
                opportunity=made[3],
                from_stage=made[3].stage,
                to_stage=stages[0],
                at=timezone.now() - timedelta(days=1),
            )
        ]
    )
    Opportunity.objects.filter(pk=made[2].pk).update(owner=world.sales)
    opportunity_delete(actor=world.sales, opportunity=made[1])
    restore(world.sales, Opportunity.objects.get(pk=made[1].pk))
    bulk = Opportunity.objects.bulk_create(
        [
            Opportunity(
                tenant_id=world.tenant.pk,
                name="导入的",
                pipeline_id=made[0].pipeline_id,
                stage=stages[1],
                owner=world.sales,
            )
        ]
    )
    StageChange.objects.bulk_create(
        [
            StageChange(
                tenant_id=world.tenant.pk,
                opportunity=bulk[0],
                to_stage=stages[1],
                at=timezone.now() - timedelta(days=2),
            )
        ]
    )
    assert dirty_opportunity_ids() == {made[1].pk, made[2].pk, made[3].pk, bulk[0].pk}
    _assert_readers_match(world, timezone.now() - YEAR)
    out = StringIO()
    call_command("sales_stats", "--check", stdout=out)
    assert "4 opportunities folded" in out.getvalue()
    assert "0 differences" in out.getvalue()
    assert dirty_opportunity_ids() == set()
    _assert_readers_match(world, timezone.now() - YEAR)


def test_a_new_stage_order_refolds_the_furthest_stage(world: Any) -> None:
    made = _history(world)
    last_open = [s for s in _stages() if not s.is_closed][-1]
    stage_update(actor=world.admin, stage=last_open, values={"order": 0})
    assert differences(world.tenant.pk) == []
    _assert_readers_match(world, timezone.now() - YEAR)
    assert made


@pytest.mark.parametrize("hours", [0, 7, 22])
def test_the_first_day_of_the_window_counts_only_the_moves_after_its_start(
    world: Any, hours: int
) -> None:
    """Days are stored per UTC day: the window's first day is read move by move."""
    stages = [s for s in _stages() if not s.is_closed]
    day = datetime(2026, 3, 10, tzinfo=UTC)
    for minute in range(0, 24 * 60, 150):
        opp = opportunity_create(actor=world.sales, values={"name": f"m{minute}"})
        opportunity_move(
            actor=world.sales,
            opportunity=opp,
            stage_id=stages[1].pk,
            at=day - timedelta(days=2, minutes=minute),
        )
        opportunity_move(
            actor=world.sales,
            opportunity=opp,
            stage_id=stages[2].pk,
            at=day + timedelta(minutes=minute),
        )
    _assert_readers_match(world, day + timedelta(hours=hours))
    counted = dwell_by_stage(
        keys=visible_owner_keys(world.manager),
        pipeline_id=stages[0].pipeline_id,
        since=day + timedelta(hours=hours),
    )
    after_start = len([m for m in range(0, 24 * 60, 150) if m >= 60 * hours])
    assert counted.get(stages[1].pk, (0, 0))[0] == after_start
    assert counted.get(stages[0].pk, (0, 0))[0] == 0  # left two days before the window


def test_rebuild_from_the_command_equals_the_history(world: Any) -> None:
    _history(world)
    out = StringIO()
    call_command("sales_stats", "--rebuild", stdout=out)
    assert "rebuilt" in out.getvalue()
    assert differences(world.tenant.pk) == []
    _assert_readers_match(world, timezone.now() - YEAR)
