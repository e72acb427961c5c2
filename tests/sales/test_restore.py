"""Undo of a deleted lead or opportunity (crm.sales.services): only a member who may write and
could see the record brings it back; a restored deal counts in the stored funnel figures again."""

from __future__ import annotations

import pytest

from crm.core.errors import NotFoundError, PermissionDeniedError
from crm.sales import stats
from crm.sales.models import Lead, Opportunity
from crm.sales.selectors import lead_list, opportunity_list
from crm.sales.services import (
    lead_create,
    lead_delete,
    lead_restore,
    opportunity_create,
    opportunity_delete,
    opportunity_restore,
)
from crm.tenancy.audit import audit_verify_chain
from crm.tenancy.models import AuditLog
from tests.conftest import TenantWorld


def _last_action(record_type: str, pk: int) -> str:
    row = AuditLog.objects.filter(record_type=record_type, record_id=pk).order_by("-seq").first()
    return row.action if row else ""


def test_a_restored_lead_is_back_and_audited(world: TenantWorld) -> None:
    lead = lead_create(actor=world.sales, values={"name": "王小明", "company": "晨光"})
    lead_delete(actor=world.sales, lead=lead)
    assert not lead_list(actor=world.sales).filter(pk=lead.pk).exists()
    with pytest.raises(NotFoundError):  # another team's rep cannot see it
        lead_restore(actor=world.sales2, lead=Lead.objects.get(pk=lead.pk))
    with pytest.raises(PermissionDeniedError):  # a viewer may not write
        lead_restore(actor=world.viewer, lead=Lead.objects.get(pk=lead.pk))
    assert Lead.objects.get(pk=lead.pk).deleted_at is not None
    lead_restore(actor=world.sales, lead=Lead.objects.get(pk=lead.pk))
    assert lead_list(actor=world.sales).filter(pk=lead.pk).exists()
    assert _last_action("lead", lead.pk) == "restored"
    assert audit_verify_chain(world.tenant.pk).first_broken_seq is None


def test_a_restored_deal_counts_in_the_funnel_again(world: TenantWorld) -> None:
    deal = opportunity_create(actor=world.sales, values={"name": "年度框架协议", "amount": "5000"})
    pipeline_id = deal.pipeline_id
    before = stats.reached_by_order(keys=None, pipeline_id=pipeline_id)
    opportunity_delete(actor=world.sales, opportunity=deal)
    assert sum(stats.reached_by_order(keys=None, pipeline_id=pipeline_id).values()) == (
        sum(before.values()) - 1
    )
    opportunity_restore(actor=world.sales, opportunity=Opportunity.objects.get(pk=deal.pk))
    assert opportunity_list(actor=world.sales).filter(pk=deal.pk).exists()
    assert stats.dirty_opportunity_ids() == set()
    assert stats.reached_by_order(keys=None, pipeline_id=pipeline_id) == before
    assert before == stats.reached_by_order_recompute(actor=world.admin, pipeline_id=pipeline_id)
    assert _last_action("opportunity", deal.pk) == "restored"
