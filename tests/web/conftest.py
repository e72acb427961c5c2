"""Fixtures of the page tests: signed-in clients and a few records of tenant A."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from crm.activities.services import activity_log, task_create
from crm.customers.services import account_create, contact_create, tag_create
from crm.sales.services import lead_create, opportunity_create, order_create, product_create
from crm.tenancy.models import Membership

# WhiteNoise warns at start-up when the collected-static directory does not exist.
Path(settings.STATIC_ROOT).mkdir(parents=True, exist_ok=True)


def client_for(member: Membership) -> Client:
    client = Client()
    client.force_login(member.user)
    return client


@pytest.fixture
def sales_client(world: Any) -> Client:
    return client_for(world.sales)


@pytest.fixture
def manager_client(world: Any) -> Client:
    return client_for(world.manager)


@pytest.fixture
def admin_client_a(world: Any) -> Client:
    return client_for(world.admin)


@dataclass
class Records:
    account: Any
    contact: Any
    lead: Any
    opportunity: Any
    product: Any
    order: Any
    task: Any
    activity: Any
    tag: Any


@pytest.fixture
def records(world: Any) -> Records:
    """One record of each kind, owned by the sales rep of tenant A."""
    actor = world.sales
    account = account_create(actor=actor, values={"name": "星辰科技", "city": "上海"})
    contact = contact_create(
        actor=actor,
        values={"name": "张三", "email": "zhang@example.com", "phone": "13800138000"},
        account_id=account.pk,
    )
    lead = lead_create(actor=actor, values={"name": "王小明", "company": "星辰科技"})
    opportunity = opportunity_create(
        actor=actor, values={"name": "ERP 项目", "amount": "120000"}, account_id=account.pk
    )
    product = product_create(actor=actor, values={"name": "CRM 年费", "price": "9800"})
    order = order_create(
        actor=actor,
        values={"number": "SO-1", "ordered_at": "2026-01-05T10:00:00+08:00"},
        lines=[{"product_id": product.pk, "quantity": 2}],
        account_id=account.pk,
    )
    task = task_create(
        actor=actor, values={"title": "回电话"}, record_type="lead", record_id=lead.pk
    )
    activity = activity_log(
        actor=actor,
        record_type="opportunity",
        record_id=opportunity.pk,
        values={"kind": "call", "subject": "谈价格"},
    )
    tag = tag_create(actor=actor, name="VIP")
    return Records(account, contact, lead, opportunity, product, order, task, activity, tag)
