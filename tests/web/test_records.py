"""Record pages: timeline, related records, quick actions, owner change, delete with undo."""

from __future__ import annotations

from typing import Any

from django.test import Client

from crm.activities.models import Activity, Task
from crm.customers.models import Account
from crm.events.models import OutboxEmail
from crm.sales.models import Lead, Order
from tests.web.conftest import client_for


def test_record_page_shows_fields_related_records_and_timeline(
    world: Any, records: Any, sales_client: Client
) -> None:
    html = sales_client.get(f"/accounts/{records.account.pk}/").content.decode()
    assert "星辰科技" in html and "张三" in html and "ERP 项目" in html and "SO-1" in html
    opportunity = sales_client.get(f"/opportunities/{records.opportunity.pk}/").content.decode()
    timeline = opportunity.split('id="timeline"', 1)[1]
    assert "谈价格" in timeline and "timeline-stage_change" in timeline
    assert "timeline-audit" in timeline


def test_a_contact_page_links_to_its_customer_360(records: Any, sales_client: Client) -> None:
    html = sales_client.get(f"/contacts/{records.contact.pk}/").content.decode()
    link = f'href="/insights/customers/{records.contact.pk}/"'
    assert link in html
    assert sales_client.get(f"/insights/customers/{records.contact.pk}/").status_code == 200
    assert (
        'data-action="customer-360"'
        not in sales_client.get(f"/accounts/{records.account.pk}/").content.decode()
    )


def test_logging_a_call_refreshes_the_timeline(
    world: Any, records: Any, sales_client: Client
) -> None:
    url = f"/leads/{records.lead.pk}/log/"
    response = sales_client.post(
        url,
        {"log-kind": "call", "log-subject": "初次电话", "log-body": "有兴趣"},
        HTTP_HX_REQUEST="true",
    )
    html = response.content.decode()
    assert response.status_code == 200 and 'id="timeline"' in html and "初次电话" in html
    assert 'hx-swap-oob="outerHTML"' in html  # a fresh form replaces the filled one
    activity = Activity.objects.get(subject="初次电话")
    assert (activity.record_type, activity.record_id, activity.owner_id) == (
        "lead",
        records.lead.pk,
        world.sales.pk,
    )


def test_a_refused_quick_action_shows_its_form_with_the_message(
    world: Any, records: Any, sales_client: Client
) -> None:
    response = sales_client.post(
        f"/leads/{records.lead.pk}/task/",
        {"task-title": ""},
        HTTP_HX_REQUEST="true",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response["HX-Retarget"] == "#quick-actions"
    html = response.content.decode()
    assert 'id="id_task-title_error"' in html and "This field is required." in html
    assert 'nav-link active" id="tab-task"' in html  # the tab with the error is shown


def test_adding_a_task_with_a_reminder(world: Any, records: Any, sales_client: Client) -> None:
    sales_client.post(
        f"/opportunities/{records.opportunity.pk}/task/",
        {
            "task-title": "发报价",
            "task-due_at": "2026-12-01T10:00",
            "task-reminder_at": "2026-12-01T09:00",
        },
    )
    task = Task.objects.get(title="发报价")
    assert task.record_type == "opportunity" and task.assignee_id == world.sales.pk
    assert (
        task.reminder_at is not None and task.reminder_at.isoformat() == "2026-12-01T01:00:00+00:00"
    )


def test_sending_an_email_goes_through_the_outbox_and_the_timeline(
    world: Any, records: Any, sales_client: Client, settings: Any
) -> None:
    settings.EMAIL_BACKEND = "crm.events.mail.OutboxEmailBackend"  # Django's tests use locmem
    response = sales_client.post(
        f"/contacts/{records.contact.pk}/email/",
        {"email-subject": "报价", "email-body": "您好 附上报价。"},
    )
    assert response.status_code == 302
    mail = OutboxEmail.objects.get(subject="报价")
    assert mail.to == ["zhang@example.com"] and mail.tenant_id == world.tenant.pk
    assert Activity.objects.filter(kind="email", record_type="contact", subject="报价").exists()


def test_changing_the_owner_goes_through_the_visibility_rules(
    world: Any, records: Any, manager_client: Client, sales_client: Client
) -> None:
    manager_client.post(f"/leads/{records.lead.pk}/owner/", {"owner": world.manager.pk})
    assert Lead.objects.get(pk=records.lead.pk).owner_id == world.manager.pk
    account = records.account
    sales_client.post(f"/accounts/{account.pk}/owner/", {"owner": world.sales2.pk})
    assert Account.objects.get(pk=account.pk).owner_id == world.sales.pk  # refused: own only


def test_delete_offers_undo_and_undo_restores(
    world: Any, records: Any, sales_client: Client
) -> None:
    url = f"/leads/{records.lead.pk}/"
    assert sales_client.get(url + "delete/").status_code == 200  # the confirmation
    response = sales_client.post(url + "delete/")
    assert response.status_code == 302 and response["Location"] == "/leads/"
    listing = sales_client.get("/leads/").content.decode()
    assert f'action="/leads/{records.lead.pk}/restore/"' in listing  # the undo toast
    assert sales_client.get(url).status_code == 404
    assert sales_client.post(url + "restore/").status_code == 302
    assert sales_client.get(url).status_code == 200
    assert Lead.objects.get(pk=records.lead.pk).deleted_at is None
    # another rep cannot restore it
    sales_client.post(url + "delete/")
    assert client_for(world.sales2).post(url + "restore/").status_code == 404


def test_order_lines_are_added_and_removed(world: Any, records: Any, sales_client: Client) -> None:
    order = records.order
    sales_client.post(
        f"/orders/{order.pk}/lines/",
        {"line-product": records.product.pk, "line-quantity": "1", "line-description": ""},
    )
    order.refresh_from_db()
    assert order.lines.count() == 2 and str(order.total) == "29400.00"
    line = order.lines.order_by("id").first()
    sales_client.post(f"/orders/{order.pk}/lines/{line.pk}/delete/")
    assert Order.objects.get(pk=order.pk).lines.count() == 1
