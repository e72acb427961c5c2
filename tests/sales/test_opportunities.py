from __future__ import annotations

from decimal import Decimal

import pytest

from crm.activities.selectors import record_timeline
from crm.activities.services import activity_log
from crm.core.errors import PermissionDeniedError, ValidationFailedError
from crm.sales.models import Stage, StageChange
from crm.sales.services import opportunity_create, opportunity_move


def test_default_pipeline_has_the_designed_stages(world) -> None:
    stages = list(Stage.objects.order_by("order").values_list("name", "probability", "is_won"))
    assert stages[0] == ("潜在客户", 10, False)
    assert [s[0] for s in stages] == ["潜在客户", "合格线索", "方案", "谈判", "成交", "失败"]


def test_moving_records_stage_history_and_timeline(world) -> None:
    opp = opportunity_create(actor=world.sales, values={"name": "ERP 项目", "amount": "120000.50"})
    assert opp.stage.name == "潜在客户" and opp.amount == Decimal("120000.50")
    won = Stage.objects.get(is_won=True)
    opportunity_move(actor=world.sales, opportunity=opp, stage_id=won.pk)
    opp.refresh_from_db()
    assert opp.stage_id == won.pk and opp.probability == 100 and opp.closed_at is not None
    history = list(StageChange.objects.filter(opportunity=opp).order_by("id"))
    assert [(h.from_stage_id, h.to_stage_id) for h in history] == [
        (None, history[0].to_stage_id),
        (history[0].to_stage_id, won.pk),
    ]
    activity_log(
        actor=world.sales,
        record_type="opportunity",
        record_id=opp.pk,
        values={"kind": "call", "subject": "谈价格"},
    )
    kinds = {
        e.kind
        for e in record_timeline(actor=world.sales, record_type="opportunity", record_id=opp.pk)
    }
    assert {"call", "stage_change", "audit"} <= kinds


def test_move_rechecks_permission_and_stage_pipeline(world) -> None:
    opp = opportunity_create(actor=world.sales, values={"name": "x"})
    with pytest.raises(PermissionDeniedError):
        opportunity_move(actor=world.sales2, opportunity=opp, stage_id=opp.stage_id + 1)
    with pytest.raises(ValidationFailedError):
        opportunity_move(actor=world.sales, opportunity=opp, stage_id=999_999)
    assert StageChange.objects.filter(opportunity=opp).count() == 1
