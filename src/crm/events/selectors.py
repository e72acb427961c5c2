"""Reads of the events app: a member's in-app notifications."""

from __future__ import annotations

from django.db.models import QuerySet

from crm.core.errors import NotFoundError
from crm.events.models import Notification
from crm.tenancy.models import Membership


def notification_list(*, actor: Membership, unread: bool | None = None) -> QuerySet[Notification]:
    """The actor's own notifications, newest first (nobody reads another member's)."""
    qs = Notification.objects.filter(recipient=actor)
    if unread is not None:
        qs = qs.filter(read_at__isnull=unread)
    return qs.order_by("-id")


def notification_get(*, actor: Membership, notification_id: int) -> Notification:
    notification = notification_list(actor=actor).filter(pk=notification_id).first()
    if notification is None:
        raise NotFoundError("No such notification.")
    return notification
