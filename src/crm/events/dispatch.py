"""The outbox dispatcher: hands each domain event to the subscribers that want it.

Higher apps (automation rules, webhooks, notifications) register a handler in their
`AppConfig.ready()`::

    from crm.events.dispatch import subscribe

    subscribe("opportunity.*", "webhooks.outbound", webhooks.services.event_received)

A periodic job calls `dispatch_pending()`. Delivery is at least once and idempotent per
(event, subscriber): the handler runs in the same transaction that inserts the EventDelivery
row, so it either ran and is recorded, or neither. An event that was already handled by a
subscriber (a redelivered batch, two dispatchers at once) is skipped for it. A failing handler
rolls back its own work only; the event is retried later with a growing delay, and other events
and subscribers go on.

Handlers run inside that transaction with the event's tenant in context: keep them short and
put slow work (HTTP calls) into rows or tasks of their own.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from fnmatch import fnmatchcase

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from crm.core.context import tenant_context
from crm.events.mail import retry_delay
from crm.events.models import EventDelivery, OutboxEvent

logger = logging.getLogger(__name__)

Handler = Callable[[OutboxEvent], None]


@dataclass(frozen=True)
class Subscriber:
    name: str
    pattern: str
    handler: Handler

    def wants(self, event_name: str) -> bool:
        return fnmatchcase(event_name, self.pattern)


_subscribers: dict[str, Subscriber] = {}


def subscribe(event_name_or_pattern: str, name: str, handler: Handler) -> None:
    """Register `handler` for events named like `event_name_or_pattern`.

    The pattern is an event name (`contact.created`) or a shell-style pattern (`contact.*`,
    `*.deleted`, `*`). `name` identifies the subscriber in the delivery log; it must stay the
    same across releases, or already handled events would be handled again under the new name.
    Registering the same name twice with the same handler is a no-op.
    """
    existing = _subscribers.get(name)
    if existing is not None and (existing.pattern, existing.handler) != (
        event_name_or_pattern,
        handler,
    ):
        raise ValueError(f"An event subscriber named {name!r} is already registered.")
    _subscribers[name] = Subscriber(name=name, pattern=event_name_or_pattern, handler=handler)


def unsubscribe(name: str) -> None:
    _subscribers.pop(name, None)


def subscribers_for(event_name: str) -> list[Subscriber]:
    return [s for s in _subscribers.values() if s.wants(event_name)]


@dataclass
class DispatchReport:
    events: int = 0
    handled: int = 0
    skipped: int = 0
    failed: int = 0


def _due(now: datetime) -> Q:
    """Events never tried, or whose last failure is older than their back-off delay.

    Events that failed OUTBOX_MAX_ATTEMPTS times stay undispatched with their last error for
    an operator to look at (reset `attempts` to 0 to try again).
    """
    due = Q(attempts=0)
    for attempts in range(1, settings.OUTBOX_MAX_ATTEMPTS):
        due |= Q(attempts=attempts, updated_at__lte=now - retry_delay(attempts))
    return Q(dispatched_at__isnull=True) & due


def dispatch_pending(
    *, batch_size: int = 200, max_events: int = 5000, now: datetime | None = None
) -> DispatchReport:
    """Dispatch due events of every tenant in id order; returns what happened.

    Operator code: it reads the outbox of all tenants and sets each event's tenant before
    calling its subscribers. Events written by handlers during the run are dispatched in the
    same run (up to `max_events`, which bounds a run's length).
    """
    now = now or timezone.now()
    report = DispatchReport()
    last_id = 0
    while report.events < max_events:
        batch = list(
            OutboxEvent.all_tenants.filter(_due(now), id__gt=last_id).order_by("id")[
                : min(batch_size, max_events - report.events)
            ]
        )
        if not batch:
            break
        last_id = batch[-1].pk
        report.events += len(batch)
        done = set(
            EventDelivery.all_tenants.filter(event_id__in=[e.pk for e in batch]).values_list(
                "event_id", "subscriber"
            )
        )
        nobody_wants: list[int] = []
        for event in batch:
            subscribers = subscribers_for(event.name)
            if not subscribers:
                nobody_wants.append(event.pk)
                continue
            _dispatch_event(event, subscribers, done, now, report)
        if nobody_wants:
            OutboxEvent.all_tenants.filter(pk__in=nobody_wants).update(
                dispatched_at=now, updated_at=now
            )
    return report


def _dispatch_event(
    event: OutboxEvent,
    subscribers: list[Subscriber],
    done: set[tuple[int, str]],
    now: datetime,
    report: DispatchReport,
) -> None:
    errors: list[str] = []
    with tenant_context(event.tenant_id):
        for subscriber in subscribers:
            if (event.pk, subscriber.name) in done:
                report.skipped += 1
                continue
            try:
                handled = _deliver(event, subscriber)
            except Exception as exc:
                # One subscriber's failure must not stop the others or the other events.
                logger.exception("event %s: subscriber %s failed", event.pk, subscriber.name)
                errors.append(f"{subscriber.name}: {type(exc).__name__}: {exc}")
                report.failed += 1
                continue
            if handled:
                report.handled += 1
            else:
                report.skipped += 1
    if errors:
        OutboxEvent.all_tenants.filter(pk=event.pk).update(
            attempts=F("attempts") + 1, last_error="\n".join(errors)[:4000], updated_at=now
        )
    else:
        OutboxEvent.all_tenants.filter(pk=event.pk, dispatched_at__isnull=True).update(
            dispatched_at=now, last_error="", updated_at=now
        )


def _deliver(event: OutboxEvent, subscriber: Subscriber) -> bool:
    """Run one handler once; False when this subscriber had already handled the event.

    The delivery row is inserted before the handler runs: a second dispatcher working on the
    same event waits on (PostgreSQL) or is serialised behind (SQLite) that insert, then finds
    the row and skips. If the handler raises, its work and the delivery row roll back together.
    """
    with transaction.atomic():
        try:
            with transaction.atomic():
                EventDelivery.objects.create(event_id=event.pk, subscriber=subscriber.name)
        except IntegrityError:
            return False
        subscriber.handler(event)
    return True
