"""API: the caller's in-app notifications."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Path, Query, Router

from crm.core.api import Id, actor, paginated
from crm.core.api import responses as r
from crm.events import selectors, services
from crm.events.models import Notification
from crm.events.schemas import NotificationFilter, NotificationOut, NotificationPage

router = Router(tags=["notifications"])


@router.get("/notifications", response=r({200: NotificationPage}), operation_id="notification_list")
def notification_list(request: HttpRequest, filters: Query[NotificationFilter]) -> dict[str, Any]:
    qs = selectors.notification_list(actor=actor(request), **filters.selector_kwargs())
    return paginated(qs, filters)


@router.get(
    "/notifications/{notification_id}",
    response=r({200: NotificationOut}),
    operation_id="notification_get",
)
def notification_get(request: HttpRequest, notification_id: Path[Id]) -> Notification:
    return selectors.notification_get(actor=actor(request), notification_id=notification_id)


@router.post(
    "/notifications/{notification_id}/read",
    response=r({200: NotificationOut}),
    operation_id="notification_read",
)
def notification_read(request: HttpRequest, notification_id: Path[Id]) -> Notification:
    notification = selectors.notification_get(actor=actor(request), notification_id=notification_id)
    return services.notification_mark_read(actor=actor(request), notification=notification)
