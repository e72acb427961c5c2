"""API schemas for in-app notifications."""

from __future__ import annotations

from datetime import datetime

from ninja import Schema

from crm.core.api import ListParams, page_of


class NotificationOut(Schema):
    id: int
    kind: str
    message: str
    link: str
    read_at: datetime | None
    created_at: datetime


class NotificationFilter(ListParams):
    unread: bool | None = None


NotificationPage = page_of(NotificationOut)
