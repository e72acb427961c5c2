"""Domain events reach their subscribers at least once, and each subscriber handles each once."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from django.utils import timezone

from crm.core.context import current_tenant_id, tenant_context
from crm.customers.services import contact_create, contact_update
from crm.events.dispatch import dispatch_pending, subscribe, unsubscribe
from crm.events.models import EventDelivery, Notification, OutboxEvent
from crm.events.services import notification_create
from crm.tenancy.models import Membership
from tests.conftest import TenantWorld

Seen = list[tuple[str, int, int]]


@pytest.fixture
def subscribed() -> Iterator[Callable[[str, str, Callable[[OutboxEvent], None]], None]]:
    """Register subscribers for one test; they are removed afterwards."""
    names: list[str] = []

    def add(pattern: str, name: str, handler: Callable[[OutboxEvent], None]) -> None:
        subscribe(pattern, name, handler)
        names.append(name)

    yield add
    for name in names:
        unsubscribe(name)


def recorder(seen: Seen) -> Callable[[OutboxEvent], None]:
    def handle(event: OutboxEvent) -> None:
        seen.append((event.name, event.record_id, current_tenant_id()))

    return handle


def test_events_written_by_services_reach_a_subscriber_once(
    world: TenantWorld, other_world: TenantWorld, subscribed
) -> None:
    seen: Seen = []
    subscribed("contact.*", "test.contacts", recorder(seen))
    contact = contact_create(actor=world.sales, values={"name": "李雷", "email": "li@example.com"})
    contact_update(actor=world.sales, contact=contact, values={"title": "采购经理"})
    with tenant_context(other_world.tenant.pk):
        theirs = contact_create(actor=other_world.sales, values={"name": "Han Meimei"})

    dispatch_pending()

    assert sorted(seen) == sorted(
        [
            ("contact.created", contact.pk, world.tenant.pk),
            ("contact.updated", contact.pk, world.tenant.pk),
            ("contact.created", theirs.pk, other_world.tenant.pk),  # run as its own tenant
        ]
    )
    # Every event is marked, including those nobody subscribed to.
    assert not OutboxEvent.all_tenants.filter(dispatched_at__isnull=True).exists()
    assert EventDelivery.all_tenants.filter(subscriber="test.contacts").count() == 3

    dispatch_pending(now=timezone.now() + timedelta(hours=1))
    assert len(seen) == 3


def test_a_redelivered_batch_does_not_run_a_handler_twice(world: TenantWorld, subscribed) -> None:
    seen: Seen = []
    subscribed("contact.created", "test.created", recorder(seen))
    contacts = [contact_create(actor=world.sales, values={"name": f"客户{n}"}) for n in range(3)]
    dispatch_pending()
    assert len(seen) == 3
    # The dispatcher died after handling the batch but before marking it: it comes round again.
    OutboxEvent.objects.filter(name="contact.created").update(dispatched_at=None)

    report = dispatch_pending()

    assert len(seen) == 3
    assert report.handled == 0 and report.skipped == 3
    assert sorted(record_id for _, record_id, _ in seen) == sorted(c.pk for c in contacts)
    assert not OutboxEvent.objects.filter(dispatched_at__isnull=True).exists()


def test_a_failing_handler_is_retried_later_and_blocks_nothing(
    world: TenantWorld, subscribed
) -> None:
    seen: Seen = []
    failing: set[int] = set()  # records whose notification cannot be sent right now
    manager = world.manager

    def notify_manager(event: OutboxEvent) -> None:
        # Writes first, then fails: its write must roll back with the failed delivery.
        notification_create(
            recipient=Membership.objects.get(pk=manager.pk),
            kind="contact",
            message=f"contact {event.record_id}",
            dedupe_key=f"contact-{event.record_id}",
        )
        if event.record_id in failing:
            raise ConnectionError("the mail relay is down")

    subscribed("contact.created", "test.notify", notify_manager)
    subscribed("contact.created", "test.record", recorder(seen))
    bad = contact_create(actor=world.sales, values={"name": "王芳"})
    good = contact_create(actor=world.sales, values={"name": "Zhou Jie"})
    failing.add(bad.pk)

    report = dispatch_pending()

    assert report.failed == 1
    failed = OutboxEvent.objects.get(name="contact.created", record_id=bad.pk)
    assert failed.dispatched_at is None and failed.attempts == 1
    assert "test.notify: ConnectionError: the mail relay is down" in failed.last_error
    # The other subscriber and the other event went through.
    assert sorted(record_id for _, record_id, _ in seen) == sorted([bad.pk, good.pk])
    assert OutboxEvent.objects.get(name="contact.created", record_id=good.pk).dispatched_at
    assert list(Notification.objects.values_list("message", flat=True)) == [f"contact {good.pk}"]

    # Not retried at once (back-off), but once the delay has passed.
    assert dispatch_pending().failed == 0
    assert OutboxEvent.objects.get(pk=failed.pk).attempts == 1
    failing.clear()
    report = dispatch_pending(now=timezone.now() + timedelta(minutes=1))

    assert (report.handled, report.skipped, report.failed) == (1, 1, 0)
    failed.refresh_from_db()
    assert failed.dispatched_at is not None and failed.last_error == ""
    assert len(seen) == 2  # the subscriber that had succeeded was not called again
    assert Notification.objects.count() == 2
