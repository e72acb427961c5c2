"""Delete with undo for accounts, contacts, activities, tasks and orders: the row leaves lists,
timelines, the kanban and the API, the toast's Undo brings it back, and nobody else can undo it."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from crm.activities.models import Activity, Task
from crm.activities.services import task_create
from crm.customers.models import Account, Contact
from crm.sales.models import Order
from crm.tenancy.models import AuditLog
from tests.web.conftest import client_for


def _delete_and_see_the_undo(client: Client, plural: str, pk: int) -> str:
    url = f"/{plural}/{pk}/"
    assert client.get(url + "delete/").status_code == 200  # the confirmation page
    response = client.post(url + "delete/")
    assert response.status_code == 302 and response["Location"] == f"/{plural}/"
    listing = client.get(f"/{plural}/").content.decode()
    assert f'action="/{plural}/{pk}/restore/"' in listing  # the undo toast's form
    return listing


@pytest.mark.parametrize(
    ("plural", "model", "attr", "title"),
    [
        ("accounts", Account, "account", "星辰科技"),
        ("contacts", Contact, "contact", "张三"),
        ("activities", Activity, "activity", "谈价格"),
        ("tasks", Task, "task", "回电话"),
        ("orders", Order, "order", "SO-1"),
    ],
)
def test_delete_hides_the_record_and_undo_brings_it_back(
    world: Any, records: Any, sales_client: Client, plural: str, model: Any, attr: str, title: str
) -> None:
    pk = getattr(records, attr).pk
    url = f"/{plural}/{pk}/"
    assert title in sales_client.get(f"/{plural}/").content.decode()
    listing = _delete_and_see_the_undo(sales_client, plural, pk)
    assert f'href="{url}"' not in listing  # gone from the list
    assert sales_client.get(url).status_code == 404
    assert model.objects.get(pk=pk).deleted_at is not None  # kept, only hidden
    # a second page view no longer offers the undo
    assert "/restore/" not in sales_client.get(f"/{plural}/").content.decode()

    restored = sales_client.post(url + "restore/")
    assert restored.status_code == 302 and restored["Location"] == url
    assert title in sales_client.get(url).content.decode()
    assert f'href="{url}"' in sales_client.get(f"/{plural}/").content.decode()
    assert model.objects.get(pk=pk).deleted_at is None
    actions = list(
        AuditLog.objects.filter(record_type=model._meta.model_name, record_id=pk)
        .order_by("seq")
        .values_list("action", flat=True)
    )
    assert actions[-2:] == ["deleted", "restored"]


@pytest.mark.parametrize(
    ("plural", "attr"),
    [
        ("accounts", "account"),
        ("contacts", "contact"),
        ("activities", "activity"),
        ("tasks", "task"),
        ("orders", "order"),
    ],
)
def test_only_someone_who_may_edit_it_can_undo(
    world: Any, other_world: Any, records: Any, sales_client: Client, plural: str, attr: str
) -> None:
    pk = getattr(records, attr).pk
    sales_client.post(f"/{plural}/{pk}/delete/")
    # a rep of another team does not see it, a viewer may not write, tenant B does not know it
    assert client_for(world.sales2).post(f"/{plural}/{pk}/restore/").status_code == 404
    assert client_for(world.viewer).post(f"/{plural}/{pk}/restore/").status_code in (403, 404)
    assert client_for(other_world.admin).post(f"/{plural}/{pk}/restore/").status_code == 404
    assert getattr(records, attr).__class__.objects.get(pk=pk).deleted_at is not None
    # nor can a record that is not deleted be "restored"
    sales_client.post(f"/{plural}/{pk}/restore/")
    assert sales_client.post(f"/{plural}/{pk}/restore/").status_code == 404


def _timeline(client: Client, url: str) -> str:
    page = client.get(url).content.decode()
    return page.split('id="timeline"', 1)[1].split("</section>", 1)[0]


def test_deleted_activities_and_tasks_leave_the_timeline_and_the_kanban(
    world: Any, records: Any, sales_client: Client
) -> None:
    opp = records.opportunity
    task = task_create(
        actor=world.sales, values={"title": "发报价单"}, record_type="opportunity", record_id=opp.pk
    )
    url = f"/opportunities/{opp.pk}/"
    timeline = _timeline(sales_client, url)
    assert "谈价格" in timeline and "发报价单" in timeline
    assert "发报价单" in sales_client.get("/kanban/").content.decode()  # the card's next task

    sales_client.post(f"/activities/{records.activity.pk}/delete/")
    sales_client.post(f"/tasks/{task.pk}/delete/")
    sales_client.get("/tasks/")  # shows (and so uses up) the undo toast
    timeline = _timeline(sales_client, url)
    assert "谈价格" not in timeline and "发报价单" not in timeline
    assert "发报价单" not in sales_client.get("/kanban/").content.decode()

    sales_client.post(f"/tasks/{task.pk}/restore/")
    assert "发报价单" in _timeline(sales_client, url)


def test_a_deleted_order_leaves_its_account_page(
    world: Any, records: Any, sales_client: Client
) -> None:
    account_url = f"/accounts/{records.account.pk}/"
    assert "SO-1" in sales_client.get(account_url).content.decode()
    sales_client.post(f"/orders/{records.order.pk}/delete/")
    sales_client.get("/orders/")  # shows (and so uses up) the undo toast
    assert "SO-1" not in sales_client.get(account_url).content.decode()
    assert sales_client.get(f"/orders/{records.order.pk}/").status_code == 404
    # its number stays taken: a new order cannot reuse it
    response = sales_client.post(
        "/orders/new/", {"number": "SO-1", "ordered_at": "2026-02-01T10:00", "status": "paid"}
    )
    assert response.status_code == 422
