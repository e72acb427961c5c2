"""Merging two accounts (contacts, deals, orders, converted leads, activities and tasks move to
the survivor) or two leads (activities, tasks, deals), and undo putting each of them back
(service, review page and API)."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone

from crm.activities.models import Activity, Task
from crm.activities.services import activity_log, task_create
from crm.core.context import tenant_context
from crm.core.errors import ConflictError
from crm.customers.models import Account, Contact
from crm.customers.services import account_create, contact_create
from crm.integrations import services
from crm.integrations.models import DuplicateCandidate, MergeRecord
from crm.sales.models import Lead, Opportunity, Order
from crm.sales.services import lead_create, opportunity_create, order_create
from crm.tenancy.models import AuditLog

from .test_api import client_for
from .test_pages import get, post, signed_in


def linked(account: Account) -> dict[str, set[int]]:
    def ids(qs: Any) -> set[int]:
        return set(qs.values_list("id", flat=True))

    return {
        "contacts": ids(Contact.objects.filter(account=account)),
        "opportunities": ids(Opportunity.objects.filter(account=account)),
        "orders": ids(Order.objects.filter(account=account)),
        "leads": ids(Lead.objects.filter(converted_account=account)),
        "activities": ids(Activity.objects.filter(record_type="account", record_id=account.pk)),
        "tasks": ids(Task.objects.filter(record_type="account", record_id=account.pk)),
    }


def with_records(actor: Any, account: Account, tag: str) -> None:
    contact = contact_create(actor=actor, values={"name": f"联系人{tag}"}, account_id=account.pk)
    opportunity_create(actor=actor, values={"name": f"deal {tag}"}, account_id=account.pk)
    order_create(
        actor=actor,
        values={"number": f"O-{tag}", "ordered_at": timezone.now()},
        account_id=account.pk,
        contact_id=contact.pk,
    )
    lead = lead_create(actor=actor, values={"name": f"线索{tag}"})
    Lead.objects.filter(pk=lead.pk).update(converted_account=account)
    with_history(actor, "account", account.pk, tag)


def with_history(actor: Any, record_type: str, record_id: int, tag: str) -> None:
    """A logged call and a task on the record."""
    activity_log(
        actor=actor,
        record_type=record_type,
        record_id=record_id,
        values={"kind": "call", "subject": f"call {tag}"},
    )
    task_create(
        actor=actor, values={"title": f"task {tag}"}, record_type=record_type, record_id=record_id
    )


def test_account_merge_moves_every_linked_record_and_undo_puts_each_back(world) -> None:
    admin = world.admin
    long = account_create(
        actor=admin, values={"name": "北京星辰科技有限公司", "phone": "010-8888 1234"}
    )
    short = account_create(
        actor=admin, values={"name": "星辰科技", "website": "https://xingchen.cn", "city": "北京"}
    )
    with_records(admin, long, "a")
    with_records(admin, short, "b")
    before_long, before_short = linked(long), linked(short)
    long_values = Account.objects.values().get(pk=long.pk)

    record = services.account_merge(
        actor=admin, survivor=long, merged=short, choices={"name": "survivor"}
    )

    long.refresh_from_db()
    short.refresh_from_db()
    assert record.record_type == "account"
    # the chosen name stays; the empty fields take the other's values
    assert (long.name, long.website, long.city, long.phone) == (
        "北京星辰科技有限公司",
        "https://xingchen.cn",
        "北京",
        "010-8888 1234",
    )
    assert short.deleted_at is not None
    moved = linked(long)
    for kind in moved:
        assert moved[kind] == before_long[kind] | before_short[kind], kind
        assert moved[kind], kind  # every kind of linked record was there to move
    assert linked(short) == {kind: set() for kind in moved}
    assert AuditLog.objects.filter(
        record_type="account", record_id=long.pk, action="merged"
    ).exists()

    services.merge_undo(actor=admin, record=record)

    long.refresh_from_db()
    short.refresh_from_db()
    assert linked(long) == before_long and linked(short) == before_short
    assert short.deleted_at is None
    restored = Account.objects.values().get(pk=long.pk)
    for field in ("name", "website", "city", "phone", "name_key", "pinyin_key"):
        assert restored[field] == long_values[field], field


def test_account_pair_is_merged_from_the_review_page(
    world, django_capture_on_commit_callbacks
) -> None:
    manager = world.manager
    left = account_create(actor=manager, values={"name": "Acme, Inc.", "city": "Boston"})
    right = account_create(actor=manager, values={"name": "ACME Corporation"})
    contact = contact_create(actor=manager, values={"name": "Ann"}, account_id=right.pk)
    client = signed_in(manager)
    with django_capture_on_commit_callbacks(execute=True):
        post(client, "/data/duplicates/", {"record_type": "account"})
    candidate = DuplicateCandidate.objects.get(record_type="account")
    review = get(client, f"/data/duplicates/{candidate.pk}/").content.decode()
    assert 'name="keep_name"' in review and "ACME Corporation" in review
    response = post(
        client, f"/data/duplicates/{candidate.pk}/", {"action": "merge", "keep_name": "survivor"}
    )
    record = MergeRecord.objects.get()
    assert response["Location"] == f"/data/merges/{record.pk}/"
    survivor_id = candidate.left_id
    merged_id = candidate.right_id
    assert Contact.objects.get(pk=contact.pk).account_id == survivor_id
    assert Account.objects.get(pk=merged_id).deleted_at is not None
    done = get(client, f"/data/merges/{record.pk}/").content.decode()
    assert "Acme" in done and "Contacts: 1" in done
    candidate.refresh_from_db()
    assert candidate.status == "merged"
    undone = post(client, f"/data/merges/{record.pk}/")
    assert 'data-testid="undone"' in undone.content.decode()
    assert Contact.objects.get(pk=contact.pk).account_id == right.pk
    assert {left.pk, right.pk} == {survivor_id, merged_id}


def test_account_merge_api_retries_and_other_tenants(world, other_world) -> None:
    client, auth = client_for(world.admin)
    a = account_create(actor=world.admin, values={"name": "云帆物流"})
    b = account_create(actor=world.admin, values={"name": "云帆物流有限公司", "city": "杭州"})
    with tenant_context(other_world.tenant.pk):
        foreign = account_create(actor=other_world.admin, values={"name": "云帆物流"})
    url = f"/api/v1/accounts/{a.pk}/merge"
    refused = client.post(
        url, {"other_id": foreign.pk}, content_type="application/json", headers=auth
    )
    # another tenant's account named in the body is no such record (a bad field), never merged
    assert refused.status_code == 422 and "other_id" in refused.content.decode()
    with tenant_context(other_world.tenant.pk):
        assert Account.objects.filter(pk=foreign.pk, deleted_at__isnull=True).exists()
    foreign_survivor = client.post(
        f"/api/v1/accounts/{foreign.pk}/merge",
        {"other_id": a.pk},
        content_type="application/json",
        headers=auth,
    )
    assert foreign_survivor.status_code == 404
    bad = client.post(
        url,
        {"other_id": b.pk, "fields": {"email": "merged"}},
        content_type="application/json",
        headers=auth,
    )
    assert bad.status_code == 422 and "fields.email" in bad.content.decode()
    assert Account.objects.filter(pk=b.pk, deleted_at__isnull=True).exists()
    first = client.post(url, {"other_id": b.pk}, content_type="application/json", headers=auth)
    assert first.status_code == 201, first.content
    assert Account.objects.get(pk=a.pk).city == "杭州"
    again = client.post(url, {"other_id": b.pk}, content_type="application/json", headers=auth)
    assert again.status_code == 201 and again.json()["id"] == first.json()["id"]


def lead_links(lead: Lead) -> dict[str, set[int]]:
    def ids(qs: Any) -> set[int]:
        return set(qs.values_list("id", flat=True))

    return {
        "activities": ids(Activity.objects.filter(record_type="lead", record_id=lead.pk)),
        "tasks": ids(Task.objects.filter(record_type="lead", record_id=lead.pk)),
        "opportunities": ids(Opportunity.objects.filter(lead=lead)),
    }


def test_lead_merge_moves_history_and_deals_and_undo_puts_them_back(world) -> None:
    admin = world.admin
    first = lead_create(actor=admin, values={"name": "赵敏", "company": "Acme Ltd"})
    second = lead_create(
        actor=admin, values={"name": "赵 敏", "company": "ACME LTD", "phone": "13100131000"}
    )
    for lead, tag in ((first, "a"), (second, "b")):
        with_history(admin, "lead", lead.pk, tag)
        opportunity_create(actor=admin, values={"name": f"deal {tag}"}, lead_id=lead.pk)
    before_first, before_second = lead_links(first), lead_links(second)

    record = services.lead_merge(
        actor=admin, survivor=first, merged=second, choices={"name": "survivor"}
    )

    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.name, first.phone) == ("赵敏", "+8613100131000")
    assert second.deleted_at is not None
    moved = lead_links(first)
    for kind in moved:
        assert moved[kind] == before_first[kind] | before_second[kind], kind
    services.merge_undo(actor=admin, record=record)
    first.refresh_from_db()
    assert lead_links(first) == before_first and lead_links(second) == before_second
    assert first.phone == "" and Lead.objects.get(pk=second.pk).deleted_at is None


def test_converted_lead_is_not_merged(world) -> None:
    admin = world.admin
    first = lead_create(actor=admin, values={"name": "小昭"})
    second = lead_create(actor=admin, values={"name": "小昭"})
    Lead.objects.filter(pk=second.pk).update(converted_at=timezone.now())
    second.refresh_from_db()
    with pytest.raises(ConflictError):
        services.lead_merge(actor=admin, survivor=first, merged=second)
    assert Lead.objects.get(pk=second.pk).deleted_at is None
    assert not MergeRecord.objects.exists()


def test_lead_pair_is_merged_from_the_review_page(
    world, django_capture_on_commit_callbacks
) -> None:
    manager = world.manager
    lead_create(actor=manager, values={"name": "周芷若", "email": "zzr@example.com"})
    lead_create(actor=manager, values={"name": "Zhou Zhiruo", "email": "zzr@example.com"})
    client = signed_in(manager)
    with django_capture_on_commit_callbacks(execute=True):
        post(client, "/data/duplicates/", {"record_type": "lead"})
    candidate = DuplicateCandidate.objects.get(record_type="lead")
    review = get(client, f"/data/duplicates/{candidate.pk}/").content.decode()
    assert 'name="keep_name"' in review
    response = post(
        client, f"/data/duplicates/{candidate.pk}/", {"action": "merge", "keep_name": "merged"}
    )
    record = MergeRecord.objects.get(record_type="lead")
    assert response["Location"] == f"/data/merges/{record.pk}/"
    assert Lead.objects.get(pk=candidate.left_id).name == "Zhou Zhiruo"
    assert Lead.objects.get(pk=candidate.right_id).deleted_at is not None
