"""Writes of the events app: the trace every service write leaves (audit + outbox event)."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils import timezone

from crm.core.errors import NotFoundError
from crm.events.models import Notification, OutboxEvent
from crm.tenancy.audit import audit_append
from crm.tenancy.models import Membership


def record_type_of(instance: models.Model) -> str:
    return instance._meta.model_name or type(instance).__name__.lower()


def record_written(
    *,
    actor: Membership | None,
    instance: models.Model,
    action: str,
    changes: dict[str, Any],
    payload: dict[str, Any] | None = None,
) -> OutboxEvent:
    """Audit row + domain event for one write. Call inside the service's transaction."""
    record_type = record_type_of(instance)
    record_id = int(instance.pk)
    audit_append(
        actor=actor, action=action, record_type=record_type, record_id=record_id, changes=changes
    )
    return OutboxEvent.objects.create(
        name=f"{record_type}.{action}",
        record_type=record_type,
        record_id=record_id,
        payload={"actor_id": actor.pk if actor else None, **(payload or {})},
    )


def notification_create(
    *, recipient: Membership, kind: str, message: str, link: str = "", dedupe_key: str = ""
) -> Notification | None:
    """An in-app notification; with a dedupe_key, at most one per recipient and key."""
    if dedupe_key:
        notification, created = Notification.objects.get_or_create(
            recipient=recipient,
            dedupe_key=dedupe_key,
            defaults={"kind": kind, "message": message[:500], "link": link},
        )
        return notification if created else None
    return Notification.objects.create(
        recipient=recipient, kind=kind, message=message[:500], link=link
    )


def notification_mark_read(*, actor: Membership, notification: Notification) -> Notification:
    """Mark one of the actor's notifications read (idempotent; reading is not audited)."""
    if notification.recipient_id != actor.pk:
        raise NotFoundError("No such notification.")
    if notification.read_at is None:
        notification.read_at = timezone.now()
        notification.save(update_fields=["read_at", "updated_at"])
    return notification
