"""The audit log: a hash chain per tenant, a link per service write, verified by `crm check`."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from crm.core.context import tenant_context
from crm.core.errors import ValidationFailedError
from crm.customers.models import Contact
from crm.customers.services import contact_create, contact_update
from crm.events.models import OutboxEvent
from crm.sales.models import Stage
from crm.sales.services import opportunity_create, opportunity_move
from crm.tenancy.audit import GENESIS_HASH, audit_verify_chain
from crm.tenancy.models import AuditLog
from tests.conftest import TenantWorld


def some_writes(world: TenantWorld) -> Contact:
    contact = contact_create(actor=world.sales, values={"name": "张伟", "phone": "13800138000"})
    contact_update(actor=world.sales, contact=contact, values={"title": "总经理"})
    opp = opportunity_create(actor=world.sales, values={"name": "CRM 升级", "amount": "5000"})
    opportunity_move(actor=world.sales, opportunity=opp, stage_id=Stage.objects.get(name="方案").pk)
    return contact


def run_check() -> str:
    out = StringIO()
    call_command("verify", stdout=out, stderr=StringIO())
    return out.getvalue()


def test_each_tenant_has_its_own_unbroken_chain(
    world: TenantWorld, other_world: TenantWorld
) -> None:
    some_writes(world)
    with tenant_context(other_world.tenant.pk):
        some_writes(other_world)

    for tenant in (world.tenant, other_world.tenant):
        links = list(
            AuditLog.all_tenants.filter(tenant=tenant)
            .order_by("seq")
            .values_list("seq", "prev_hash", "hash")
        )
        assert [seq for seq, _, _ in links] == list(range(1, len(links) + 1))
        assert links[0][1] == GENESIS_HASH
        assert all(links[i][1] == links[i - 1][2] for i in range(1, len(links)))
        assert audit_verify_chain(tenant.pk).ok

    output = run_check()
    assert "audit chain of acme: " in output and "audit chain of beta: " in output
    assert "BROKEN" not in output


def test_an_edited_audit_row_is_reported_at_its_link(
    world: TenantWorld, other_world: TenantWorld
) -> None:
    contact = some_writes(world)
    target = AuditLog.objects.get(record_type="contact", record_id=contact.pk, action="updated")
    assert target.changes == {"title": ["", "总经理"]}
    with connection.cursor() as cursor:  # someone edits the table behind the application's back
        cursor.execute(
            f"UPDATE {AuditLog._meta.db_table} SET changes = %s WHERE id = %s",
            ['{"title": ["", "实习生"]}', target.pk],
        )

    out = StringIO()
    with pytest.raises(CommandError, match="1 audit chain"):
        call_command("verify", stdout=out, stderr=StringIO())

    assert f"audit chain of acme: BROKEN at link {target.seq} (its content was changed)" in (
        out.getvalue()
    )
    assert "audit chain of beta: " in out.getvalue()  # the other tenant's chain is still intact
    assert audit_verify_chain(other_world.tenant.pk).ok


@pytest.mark.parametrize("which", ["middle", "last"])
def test_a_deleted_audit_row_is_detected(world: TenantWorld, which: str) -> None:
    some_writes(world)
    links = list(AuditLog.objects.order_by("seq"))
    target = links[len(links) // 2] if which == "middle" else links[-1]
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {AuditLog._meta.db_table} WHERE id = %s", [target.pk])

    out = StringIO()
    with pytest.raises(CommandError):
        call_command("verify", stdout=out, stderr=StringIO())

    assert f"audit chain of acme: BROKEN at link {target.seq} " in out.getvalue()


def test_every_service_write_leaves_an_audit_row_and_an_event(world: TenantWorld) -> None:
    audit_before, events_before = AuditLog.objects.count(), OutboxEvent.objects.count()

    contact = contact_create(actor=world.sales, values={"name": "刘洋"})
    contact_update(actor=world.sales, contact=contact, values={"city": "上海"})

    trail = list(
        AuditLog.objects.filter(seq__gt=audit_before)
        .order_by("seq")
        .values_list("actor_id", "action", "record_type", "record_id", "changes")
    )
    assert trail[0][:4] == (world.sales.pk, "created", "contact", contact.pk)
    assert trail[1] == (world.sales.pk, "updated", "contact", contact.pk, {"city": ["", "上海"]})
    events = list(OutboxEvent.objects.order_by("id").values_list("name", "record_id", "payload"))[
        events_before:
    ]
    assert events == [
        ("contact.created", contact.pk, {"actor_id": world.sales.pk}),
        ("contact.updated", contact.pk, {"actor_id": world.sales.pk}),
    ]


def test_a_failing_write_leaves_neither_audit_row_nor_event(world: TenantWorld) -> None:
    audit_before, events_before = AuditLog.objects.count(), OutboxEvent.objects.count()

    # The contact row, its audit link and its event are written before the bad tag is found.
    with pytest.raises(ValidationFailedError):
        contact_create(actor=world.sales, values={"name": "赵敏"}, tag_ids=[999_999])

    assert not Contact.objects.filter(name="赵敏").exists()
    assert (AuditLog.objects.count(), OutboxEvent.objects.count()) == (audit_before, events_before)
    assert audit_verify_chain(world.tenant.pk).ok
