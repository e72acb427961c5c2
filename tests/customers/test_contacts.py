from __future__ import annotations

import pytest

from crm.core.errors import NotFoundError, PermissionDeniedError, ValidationFailedError
from crm.customers.models import Contact
from crm.customers.selectors import contact_get, contact_list
from crm.customers.services import account_create, contact_create, contact_update
from crm.events.models import OutboxEvent
from crm.sales.selectors import lead_list
from crm.sales.services import lead_create
from crm.tenancy.models import AuditLog


def names(qs) -> list[str]:
    return sorted(c.name for c in qs)


def test_pinyin_initials_and_name_prefix_find_chinese_names(world) -> None:
    contact_create(actor=world.admin, values={"name": "张三"})
    contact_create(actor=world.admin, values={"name": "张伟"})
    contact_create(actor=world.admin, values={"name": "John Smith"})
    admin = world.admin
    assert names(contact_list(actor=admin, search="zhangsan")) == ["张三"]
    assert names(contact_list(actor=admin, search="zs")) == ["张三"]
    assert names(contact_list(actor=admin, search="zhang")) == ["张三", "张伟"]
    assert names(contact_list(actor=admin, search="张")) == ["张三", "张伟"]
    assert names(contact_list(actor=admin, search="Zhang San")) == ["张三"]
    assert names(contact_list(actor=admin, search="john")) == ["John Smith"]
    assert names(contact_list(actor=admin, search="%")) == []


def test_exact_lookup_by_email_and_phone_in_any_format(world) -> None:
    contact_create(
        actor=world.admin,
        values={"name": "王芳", "email": "Wang.Fang@Example.com", "phone": "138 0013 8000"},
    )
    admin = world.admin
    assert names(contact_list(actor=admin, search="wang.fang@example.com")) == ["王芳"]
    assert names(contact_list(actor=admin, search="+86-138-0013-8000")) == ["王芳"]
    assert names(contact_list(actor=admin, search="13800138001")) == []
    stored = Contact.objects.get(name="王芳")
    assert stored.email == "wang.fang@example.com" and stored.phone == "+8613800138000"


def test_an_email_search_finds_every_spelling_of_the_mailbox(world) -> None:
    for name, email in (
        ("Ann Lee", "ann+news@example.com"),
        ("Ann Plain", "ann@example.com"),
        ("Bo Chen", "bo.chen@gmail.com"),
        ("Anna", "anna@example.com"),
    ):
        contact_create(actor=world.admin, values={"name": name, "email": email})
    admin = world.admin
    both = ["Ann Lee", "Ann Plain"]
    assert names(contact_list(actor=admin, search="ann@example.com")) == both
    assert names(contact_list(actor=admin, search="Ann+crm@Example.com")) == both
    assert names(contact_list(actor=admin, search="bochen@googlemail.com")) == ["Bo Chen"]
    assert names(contact_list(actor=admin, search="anna@example.com")) == ["Anna"]
    assert names(contact_list(actor=admin, search="nobody@example.com")) == []
    # a lead list searches the same way
    lead_create(actor=admin, values={"name": "Ann Lead", "email": "ann+web@example.com"})
    assert [x.name for x in lead_list(actor=admin, search="ann@example.com")] == ["Ann Lead"]


def test_bad_phone_names_the_field_and_stores_nothing(world) -> None:
    before = Contact.objects.count(), AuditLog.objects.count(), OutboxEvent.objects.count()
    with pytest.raises(ValidationFailedError) as caught:
        contact_create(actor=world.sales, values={"name": "李雷", "phone": "12345"})
    assert list(caught.value.fields) == ["phone"]
    with pytest.raises(ValidationFailedError) as caught:
        contact_create(actor=world.sales, values={"name": "x" * 10_000})
    assert list(caught.value.fields) == ["name"]
    assert (
        Contact.objects.count(),
        AuditLog.objects.count(),
        OutboxEvent.objects.count(),
    ) == before


def test_visibility_own_team_all(world) -> None:
    mine = contact_create(actor=world.sales, values={"name": "Mine"})
    contact_create(actor=world.sales2, values={"name": "Other team"})
    assert names(contact_list(actor=world.sales)) == ["Mine"]
    assert names(contact_list(actor=world.manager)) == ["Mine"]  # manager of team A
    assert names(contact_list(actor=world.admin)) == ["Mine", "Other team"]
    with pytest.raises(NotFoundError):
        contact_get(actor=world.sales2, contact_id=mine.pk)
    with pytest.raises(PermissionDeniedError):
        contact_update(actor=world.sales2, contact=mine, values={"name": "stolen"})
    with pytest.raises(PermissionDeniedError):
        contact_create(actor=world.viewer, values={"name": "viewer cannot write"})


def test_sales_rep_cannot_give_records_to_others(world) -> None:
    with pytest.raises(PermissionDeniedError):
        contact_create(actor=world.sales, values={"name": "x"}, owner_id=world.sales2.pk)
    contact = contact_create(actor=world.manager, values={"name": "y"}, owner_id=world.sales.pk)
    assert contact.owner_id == world.sales.pk


def test_update_writes_a_diff_without_personal_data(world) -> None:
    account = account_create(actor=world.admin, values={"name": "北京星辰科技有限公司"})
    contact = contact_create(actor=world.admin, values={"name": "赵六", "email": "a@b.cn"})
    contact_update(
        actor=world.admin,
        contact=contact,
        values={"title": "CTO", "email": "new@b.cn"},
        account_id=account.pk,
    )
    entry = AuditLog.objects.filter(record_type="contact", action="updated").get()
    assert entry.changes["title"] == ["", "CTO"]
    assert entry.changes["account_id"] == [None, account.pk]
    old_mark, new_mark = entry.changes["email"]
    assert old_mark.startswith("***") and new_mark.startswith("***") and old_mark != new_mark
    assert Contact.objects.get(pk=contact.pk).email == "new@b.cn"
    assert "new@b.cn" not in str(entry.changes)
    assert names(contact_list(actor=world.admin, search="new@b.cn")) == ["赵六"]
    assert names(contact_list(actor=world.admin, search="a@b.cn")) == []


def test_links_to_another_tenants_rows_are_refused(world, other_world) -> None:
    from crm.core.context import tenant_context

    with tenant_context(other_world.tenant.pk):
        foreign = account_create(actor=other_world.admin, values={"name": "Foreign"})
    with pytest.raises(ValidationFailedError) as caught:
        contact_create(actor=world.admin, values={"name": "x"}, account_id=foreign.pk)
    assert "account_id" in caught.value.fields
    with pytest.raises(ValidationFailedError):
        contact_create(actor=world.admin, values={"name": "x"}, owner_id=other_world.admin.pk)
