"""Deals imported in bulk land with their stage history and are folded into the dashboard's
stored funnel figures when the import ends."""

from __future__ import annotations

from crm.sales import stats
from crm.sales.models import Opportunity, Pipeline, StageChange

from .helpers import csv_bytes, run_import


def test_imported_deals_have_a_stage_change_and_leave_nothing_to_fold(world) -> None:
    pipeline = Pipeline.objects.order_by("-is_default", "id").first()
    assert pipeline is not None
    stages = list(pipeline.stages.filter(is_won=False, is_lost=False).order_by("order"))
    rows = [["商机名称", "公司", "金额", "阶段"]]
    rows += [[f"项目{i}", f"客户{i % 3}", "1000", stages[i % len(stages)].name] for i in range(9)]
    job = run_import(world.admin, csv_bytes(rows), target="opportunity", batch_size=4)
    assert (job.status, job.created_count, job.failed_count) == ("done", 9, 0)
    deals = Opportunity.objects.filter(name__startswith="项目")
    assert deals.count() == 9
    assert StageChange.objects.filter(opportunity__in=deals).count() == 9
    assert stats.dirty_opportunity_ids() == set()
    stored = stats.reached_by_order(keys=None, pipeline_id=pipeline.pk)
    assert stored == stats.reached_by_order_recompute(actor=world.admin, pipeline_id=pipeline.pk)
    assert sum(stored.values()) >= 9
