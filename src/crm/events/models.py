"""Domain events in an outbox, their deliveries, in-app notifications and outgoing mail."""

from __future__ import annotations

from typing import ClassVar

from django.db import models

from crm.core.models import GlobalModel, TenantModel
from crm.tenancy.models import Membership, Tenant


class OutboxEvent(TenantModel):
    """Written in the same transaction as the change it reports; dispatched by a job."""

    name = models.CharField(max_length=80)
    record_type = models.CharField(max_length=40)
    record_id = models.BigIntegerField()
    payload = models.JSONField(default=dict)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        indexes = [models.Index(fields=["dispatched_at", "id"], name="outbox_pending_idx")]


class EventDelivery(TenantModel):
    """One row per (event, subscriber) handled, so a redelivered event is not handled twice."""

    event = models.ForeignKey(OutboxEvent, on_delete=models.CASCADE, related_name="deliveries")
    subscriber = models.CharField(max_length=120)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["event", "subscriber"], name="delivery_once"),
        ]


class Notification(TenantModel):
    recipient = models.ForeignKey(
        Membership, on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(max_length=40)
    message = models.CharField(max_length=500)
    link = models.CharField(max_length=300, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    dedupe_key = models.CharField(max_length=200, blank=True)

    class Meta:
        indexes = [models.Index(fields=["tenant", "recipient", "read_at", "-id"])]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "recipient", "dedupe_key"],
                condition=~models.Q(dedupe_key=""),
                name="notification_dedupe",
            ),
        ]


class EmailStatus(models.TextChoices):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class OutboxEmail(GlobalModel):
    """A mail waiting for delivery. Global because password-reset mail has no tenant context."""

    global_reason: ClassVar[str] = "password-reset mail is written before any tenant is known"

    tenant = models.ForeignKey(Tenant, null=True, blank=True, on_delete=models.CASCADE)
    message_id = models.CharField(max_length=200, unique=True)
    from_email = models.CharField(max_length=254)
    to = models.JSONField()
    cc = models.JSONField(default=list)
    bcc = models.JSONField(default=list)
    subject = models.CharField(max_length=500)
    body = models.TextField()
    html_body = models.TextField(blank=True)
    headers = models.JSONField(default=dict)
    status = models.CharField(max_length=10, choices=EmailStatus.choices, default="pending")
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(db_index=True)
    last_error = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    dedupe_key = models.CharField(max_length=200, null=True, blank=True, unique=True)
