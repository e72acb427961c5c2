from __future__ import annotations

import pytest
from django.apps import apps

from crm.core.context import TenantNotSetError, tenant_context
from crm.core.models import GlobalModel, TenantModel
from crm.customers.models import Contact
from crm.customers.services import contact_create

# Django's own tables, which know nothing of tenants. Each has its reason.
DJANGO_GLOBAL = {
    "auth.User": "a person may belong to several tenants; memberships are tenant-owned",
    "auth.Group": "unused; roles live on Membership",
    "auth.Permission": "Django's model permissions, global by construction",
    "contenttypes.ContentType": "Django's model registry",
    "sessions.Session": "a session exists before a tenant is chosen",
}


def test_every_model_is_tenant_owned_unless_listed_as_global_with_a_reason() -> None:
    unexplained = []
    for model in apps.get_models():
        label = model._meta.label
        if model._meta.auto_created:  # many-to-many link tables of tenant models
            continue
        if issubclass(model, TenantModel):
            continue
        if issubclass(model, GlobalModel) and model.global_reason:
            continue
        if label in DJANGO_GLOBAL:
            continue
        unexplained.append(label)
    assert unexplained == []


def test_query_without_a_tenant_fails_closed(db: None) -> None:
    with tenant_context(None), pytest.raises(TenantNotSetError):
        list(Contact.objects.all())


def test_each_tenant_sees_only_its_own_rows(world, other_world) -> None:
    contact_create(actor=world.sales, values={"name": "张三"})
    with tenant_context(other_world.tenant.pk):
        assert Contact.objects.count() == 0
        contact_create(actor=other_world.sales, values={"name": "李四"})
        assert list(Contact.objects.values_list("name", flat=True)) == ["李四"]
    assert list(Contact.objects.values_list("name", flat=True)) == ["张三"]


def test_saving_a_row_into_another_tenant_is_refused(world, other_world) -> None:
    contact = contact_create(actor=world.sales, values={"name": "张三"})
    with tenant_context(other_world.tenant.pk), pytest.raises(PermissionError):
        contact.name = "hijacked"
        contact.save()
    contact.refresh_from_db()
    assert contact.name == "张三"
