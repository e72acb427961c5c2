"""Operator flows that span apps: a new tenant with its default pipeline."""

from __future__ import annotations

from django.db import transaction

from crm.core.context import tenant_context
from crm.sales.services import pipeline_create_default
from crm.tenancy.models import Tenant
from crm.tenancy.services import tenant_create


@transaction.atomic
def tenant_setup(
    *,
    name: str,
    slug: str = "",
    time_zone: str = "Asia/Shanghai",
    currency: str = "CNY",
    language: str = "zh-hans",
) -> Tenant:
    tenant = tenant_create(
        name=name, slug=slug, time_zone=time_zone, currency=currency, language=language
    )
    with tenant_context(tenant.pk):
        pipeline_create_default(actor=None, name="销售管道" if language == "zh-hans" else "Sales")
    return tenant
