from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from crm.activities.models import Activity, Task
from crm.activities.selectors import record_timeline
from crm.activities.services import activity_log, task_create
from crm.core.errors import ConflictError
from crm.customers.models import Contact
from crm.customers.services import account_create, contact_create, tag_create
from crm.integrations import dedupe, services
from crm.integrations.models import DuplicateCandidate, MergeRecord
from crm.integrations.selectors import duplicate_queue
from crm.sales.models import Opportunity, Order
from crm.sales.services import opportunity_create, order_create
from crm.tenancy.models import AuditLog


def linked(contact: Contact) -> dict[str, set[int]]:
    return {
        "activities": set(
            Activity.objects.filter(record_type="contact", record_id=contact.pk).values_list(
                "id", flat=True
            )
        ),
        "tasks": set(
            Task.objects.filter(record_type="contact", record_id=contact.pk).values_list(
                "id", flat=True
            )
        ),
        "opportunities": set(
            Opportunity.objects.filter(contact=contact).values_list("id", flat=True)
        ),
        "orders": set(Order.objects.filter(contact=contact).values_list("id", flat=True)),
    }


def with_records(world, contact: Contact, tag: str) -> None:
    actor = world.admin
    activity_log(
        actor=actor,
        record_type="contact",
        record_id=contact.pk,
        values={"kind": "call", "subject": f"call {tag}"},
    )
    task_create(
        actor=actor, values={"title": f"task {tag}"}, record_type="contact", record_id=contact.pk
    )
    opportunity_create(actor=actor, values={"name": f"deal {tag}"}, contact_id=contact.pk)
    order_create(
        actor=actor,
        values={"number": f"O-{tag}", "ordered_at": timezone.now()},
        contact_id=contact.pk,
    )


def test_merge_moves_every_related_record_and_undo_puts_each_back(world) -> None:
    acme = account_create(actor=world.admin, values={"name": "艾克米"})
    vip = tag_create(actor=world.admin, name="VIP")
    older = contact_create(
        actor=world.admin,
        values={"name": "张三", "email": "zhang@example.com", "title": "经理"},
        account_id=acme.pk,
    )
    newer = contact_create(
        actor=world.admin,
        values={"name": "Zhang San", "phone": "13800138000", "title": ""},
        tag_ids=[vip.pk],
    )
    Contact.objects.filter(pk=newer.pk).update(updated_at=timezone.now() + timedelta(seconds=5))
    newer.refresh_from_db()
    with_records(world, older, "a")
    with_records(world, newer, "b")
    before_older, before_newer = linked(older), linked(newer)
    older_values = Contact.objects.values().get(pk=older.pk)

    record = services.contact_merge(actor=world.admin, survivor=older, merged=newer)

    older.refresh_from_db()
    newer.refresh_from_db()
    # default: the most recent non-empty value per field
    assert (older.name, older.title, older.email, older.phone) == (
        "Zhang San",
        "经理",
        "zhang@example.com",
        "+8613800138000",
    )
    assert older.account == acme and list(older.tags.all()) == [vip]
    assert newer.deleted_at is not None
    moved = linked(older)
    for kind in moved:
        assert moved[kind] == before_older[kind] | before_newer[kind], kind
    assert linked(newer) == {k: set() for k in moved}
    assert (
        AuditLog.objects.filter(record_type="contact", record_id=older.pk, action="merged").count()
        == 1
    )
    timeline = record_timeline(
        actor=world.admin, record_type="contact", record_id=older.pk, limit=200
    )
    assert any(e.kind == "merge" for e in timeline)

    services.merge_undo(actor=world.admin, record=record)

    older.refresh_from_db()
    newer.refresh_from_db()
    assert linked(older) == before_older and linked(newer) == before_newer
    assert newer.deleted_at is None
    restored = Contact.objects.values().get(pk=older.pk)
    for field in (
        "name",
        "title",
        "email_index",
        "phone_index",
        "account_id",
        "name_key",
        "pinyin_key",
    ):
        assert restored[field] == older_values[field], field
    assert list(older.tags.all()) == []
    with pytest.raises(ConflictError):
        services.merge_undo(actor=world.admin, record=record)


def test_undo_is_refused_after_thirty_days(world) -> None:
    a = contact_create(actor=world.admin, values={"name": "A"})
    b = contact_create(actor=world.admin, values={"name": "B"})
    record = services.contact_merge(
        actor=world.admin, survivor=a, merged=b, choices={"name": "survivor"}
    )
    MergeRecord.objects.filter(pk=record.pk).update(
        undo_until=timezone.now() - timedelta(seconds=1)
    )
    record.refresh_from_db()
    with pytest.raises(ConflictError):
        services.merge_undo(actor=world.admin, record=record)


def test_scan_finds_pinyin_phone_format_and_email_alias_duplicates(
    world, django_capture_on_commit_callbacks
) -> None:
    admin = world.admin
    acme = account_create(actor=admin, values={"name": "Acme"})
    zs = contact_create(actor=admin, values={"name": "张三"}, account_id=acme.pk)
    zs_latin = contact_create(actor=admin, values={"name": "San Zhang"}, account_id=acme.pk)
    p1 = contact_create(actor=admin, values={"name": "Li Lei", "phone": "138-0013-8000"})
    p2 = contact_create(actor=admin, values={"name": "李雷", "phone": "+86 13800138000"})
    e1 = contact_create(actor=admin, values={"name": "Han Meimei", "email": "hmm@example.com"})
    e2 = contact_create(actor=admin, values={"name": "Meimei Han", "email": "hmm+crm@example.com"})
    contact_create(actor=admin, values={"name": "王五", "email": "other@example.com"})
    with django_capture_on_commit_callbacks(execute=True):
        scan = services.duplicate_scan_start(actor=admin, record_type="contact")
    scan.refresh_from_db()
    assert scan.status == "done"
    pairs = {(c.left_id, c.right_id): c for c in duplicate_queue(actor=admin)}
    assert set(pairs) == {(zs.pk, zs_latin.pk), (p1.pk, p2.pk), (e1.pk, e2.pk)}
    assert "same phone" in pairs[(p1.pk, p2.pk)].reasons
    assert any("+tag" in r for r in pairs[(e1.pk, e2.pk)].reasons)
    assert any(r == "same company" for r in pairs[(zs.pk, zs_latin.pk)].reasons)
    services.duplicate_dismiss(actor=admin, candidate=pairs[(zs.pk, zs_latin.pk)])
    with django_capture_on_commit_callbacks(execute=True):
        services.duplicate_scan_start(actor=admin, record_type="contact")
    assert DuplicateCandidate.objects.get(left_id=zs.pk).status == "dismissed"
    assert duplicate_queue(actor=world.sales).count() == 0  # sales sees none of these contacts
    found = dedupe.matches_for({"name": "Lei Li", "phone": "13800138000"})
    assert sorted(pk for pk, _score, _reasons in found) == [p1.pk, p2.pk]
    # capture finds what the scan pairs: the email without its +tag, the name in either order
    found = dedupe.matches_for({"name": "Meimei Han", "email": "hmm+news@example.com"})
    assert {pk for pk, _score, _reasons in found} == {e1.pk, e2.pk}
    assert all(any("+tag" in r for r in reasons) for _pk, _score, reasons in found)


def test_a_common_name_in_the_same_city_needs_a_second_key(
    world, django_capture_on_commit_callbacks
) -> None:
    """Thirty 王伟 in Beijing are thirty people: a shared phone, email or company makes a pair."""
    admin = world.admin
    namesakes = [
        contact_create(actor=admin, values={"name": "王伟", "city": "北京"}) for _ in range(30)
    ]
    firm = account_create(actor=admin, values={"name": "星辰科技"})
    colleague_a = contact_create(
        actor=admin, values={"name": "王伟", "city": "北京"}, account_id=firm.pk
    )
    colleague_b = contact_create(
        actor=admin, values={"name": "王 伟", "city": "北京"}, account_id=firm.pk
    )
    phone_a = contact_create(actor=admin, values={"name": "王伟", "phone": "13912345678"})
    phone_b = contact_create(actor=admin, values={"name": "Wang Wei", "phone": "139 1234 5678"})
    with django_capture_on_commit_callbacks(execute=True):
        scan = services.duplicate_scan_start(actor=admin, record_type="contact")
    scan.refresh_from_db()
    pairs = {(c.left_id, c.right_id) for c in duplicate_queue(actor=admin)}
    assert pairs == {(colleague_a.pk, colleague_b.pk), (phone_a.pk, phone_b.pk)}
    assert scan.pairs_found == 2
    # capture and import use the same rule: a new 王伟 in Beijing matches nobody by name alone
    assert dedupe.matches_for({"name": "王伟", "city": "北京"}) == []
    found = dedupe.matches_for({"name": "王伟", "phone": "13912345678"})
    assert {pk for pk, _score, _reasons in found} == {phone_a.pk, phone_b.pk}
    assert namesakes[0].pk not in {pk for pk, _s, _r in found}


def test_capture_finds_a_colleague_among_many_namesakes(world) -> None:
    """More 王伟 than a name lookup keeps: the one at the same firm is still proposed."""
    admin = world.admin
    for _ in range(210):
        contact_create(actor=admin, values={"name": "王伟"})
    firm = account_create(actor=admin, values={"name": "星辰科技"})
    colleague = contact_create(actor=admin, values={"name": "王 伟"}, account_id=firm.pk)
    found = dedupe.matches_for({"name": "王伟", "account_id": firm.pk})
    assert [(pk, "same company" in reasons) for pk, _s, reasons in found] == [(colleague.pk, True)]
