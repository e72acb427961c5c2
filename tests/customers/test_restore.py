"""Undo of a deleted account or contact (crm.customers.services): only a member who may write and
could see the record brings it back; the audit chain and the outbox record the restore."""

from __future__ import annotations

from typing import Any

import pytest

from crm.core.context import tenant_context
from crm.core.errors import NotFoundError, PermissionDeniedError
from crm.customers.models import Account, Contact
from crm.customers.selectors import account_get, account_list, contact_get, contact_list
from crm.customers.services import (
    account_create,
    account_delete,
    account_restore,
    contact_create,
    contact_delete,
    contact_restore,
)
from crm.events.models import OutboxEvent
from crm.tenancy.audit import audit_verify_chain
from crm.tenancy.models import AuditLog
from tests.conftest import TenantWorld


def _actions(record_type: str, pk: int) -> list[tuple[str, int | None]]:
    return list(
        AuditLog.objects.filter(record_type=record_type, record_id=pk)
        .order_by("seq")
        .values_list("action", "actor_id")
    )


def _events(record_type: str, pk: int) -> list[str]:
    return list(
        OutboxEvent.objects.filter(record_type=record_type, record_id=pk)
        .order_by("id")
        .values_list("name", flat=True)
    )


def _deleted_account(world: TenantWorld) -> Account:
    account = account_create(actor=world.sales, values={"name": "星辰科技", "city": "上海"})
    account_delete(actor=world.sales, account=account)
    return Account.objects.get(pk=account.pk)


def _deleted_contact(world: TenantWorld) -> Contact:
    contact = contact_create(
        actor=world.sales, values={"name": "张三", "email": "zhang@example.com"}
    )
    contact_delete(actor=world.sales, contact=contact)
    return Contact.objects.get(pk=contact.pk)


def test_a_restored_account_is_back_in_lists_with_an_audit_row_and_an_event(
    world: TenantWorld,
) -> None:
    account = _deleted_account(world)
    assert account.deleted_at is not None
    assert "星辰科技" not in [a.name for a in account_list(actor=world.sales)]
    with pytest.raises(NotFoundError):
        account_get(actor=world.sales, account_id=account.pk)

    restored = account_restore(actor=world.sales, account=account)

    assert restored.deleted_at is None
    assert Account.objects.get(pk=account.pk).deleted_at is None
    assert account_get(actor=world.sales, account_id=account.pk).name == "星辰科技"
    assert "星辰科技" in [a.name for a in account_list(actor=world.sales)]
    assert _actions("account", account.pk)[-2:] == [
        ("deleted", world.sales.pk),
        ("restored", world.sales.pk),
    ]
    assert _events("account", account.pk)[-1] == "account.restored"
    assert audit_verify_chain(world.tenant.pk).ok


def test_a_restored_contact_is_back_in_lists_with_an_audit_row_and_an_event(
    world: TenantWorld,
) -> None:
    contact = _deleted_contact(world)
    assert "张三" not in [c.name for c in contact_list(actor=world.sales)]

    contact_restore(actor=world.manager, contact=contact)  # the manager of the rep's team

    assert contact_get(actor=world.sales, contact_id=contact.pk).email == "zhang@example.com"
    assert "张三" in [c.name for c in contact_list(actor=world.sales)]
    assert _actions("contact", contact.pk)[-2:] == [
        ("deleted", world.sales.pk),
        ("restored", world.manager.pk),
    ]
    assert _events("contact", contact.pk)[-1] == "contact.restored"
    assert audit_verify_chain(world.tenant.pk).ok


@pytest.mark.parametrize("record_type", ["account", "contact"])
def test_only_a_member_who_may_edit_the_record_restores_it(
    world: TenantWorld, record_type: str
) -> None:
    if record_type == "account":
        record: Any = _deleted_account(world)

        def undo(actor: Any) -> Any:
            return account_restore(actor=actor, account=record)
    else:
        record = _deleted_contact(world)

        def undo(actor: Any) -> Any:
            return contact_restore(actor=actor, contact=record)

    before = _actions(record_type, record.pk), _events(record_type, record.pk)
    # a rep of another team cannot see it: for them it does not exist
    with pytest.raises(NotFoundError):
        undo(world.sales2)
    # a viewer sees everything but may not write
    with pytest.raises(PermissionDeniedError):
        undo(world.viewer)
    model = type(record)
    assert model.objects.get(pk=record.pk).deleted_at is not None  # still deleted
    assert (_actions(record_type, record.pk), _events(record_type, record.pk)) == before


def test_tenant_b_cannot_restore_tenant_a_records(
    world: TenantWorld, other_world: TenantWorld
) -> None:
    account = _deleted_account(world)
    with tenant_context(other_world.tenant.pk):
        assert not Account.objects.filter(pk=account.pk).exists()  # not even found
        with pytest.raises(PermissionError):  # and refused if handed over anyway
            account_restore(actor=other_world.admin, account=account)
    assert Account.objects.get(pk=account.pk).deleted_at is not None
