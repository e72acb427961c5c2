"""Activities and tasks, linked to any record by (record_type, record_id) like a chatter."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from crm.core.models import TenantModel
from crm.tenancy.models import Membership


class RecordType(models.TextChoices):
    ACCOUNT = "account", _("Account")
    CONTACT = "contact", _("Contact")
    LEAD = "lead", _("Lead")
    OPPORTUNITY = "opportunity", _("Opportunity")
    ORDER = "order", _("Order")


class ActivityKind(models.TextChoices):
    CALL = "call", _("Call")
    EMAIL = "email", _("Email")
    MEETING = "meeting", _("Meeting")
    VISIT = "visit", _("Visit")
    NOTE = "note", _("Note")


class Activity(TenantModel):
    kind = models.CharField(max_length=10, choices=ActivityKind.choices)
    subject = models.CharField(max_length=200)
    body = models.TextField(blank=True, max_length=20000)
    at = models.DateTimeField()
    outcome = models.CharField(max_length=100, blank=True)
    duration_minutes = models.PositiveIntegerField(null=True, blank=True)
    record_type = models.CharField(max_length=20, choices=RecordType.choices)
    record_id = models.BigIntegerField()
    owner = models.ForeignKey(
        Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    deleted_at = models.DateTimeField(null=True, blank=True)  # soft delete: undo restores it

    class Meta:
        indexes = [
            models.Index(
                fields=["tenant", "record_type", "record_id", "at"], name="activity_record_idx"
            ),
            models.Index(fields=["tenant", "owner", "at"], name="activity_owner_idx"),
            models.Index(fields=["tenant", "deleted_at", "id"], name="activity_list_idx"),
            # Reps' activity counts (the manager's dashboard): per owner and kind, a range of
            # dates read from the index.
            models.Index(
                fields=["tenant", "owner", "kind", "deleted_at", "at"],
                name="activity_owner_kind_idx",
            ),
        ]


class TaskStatus(models.TextChoices):
    OPEN = "open", _("Open")
    DONE = "done", _("Done")
    CANCELLED = "cancelled", _("Cancelled")


class Task(TenantModel):
    title = models.CharField(max_length=200)
    notes = models.TextField(blank=True, max_length=20000)
    due_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=TaskStatus.choices, default=TaskStatus.OPEN)
    assignee = models.ForeignKey(
        Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reminder_at = models.DateTimeField(null=True, blank=True)
    reminder_sent_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    record_type = models.CharField(max_length=20, choices=RecordType.choices, blank=True)
    record_id = models.BigIntegerField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)  # soft delete: undo restores it

    class Meta:
        indexes = [
            models.Index(
                fields=["tenant", "assignee", "status", "due_at"], name="task_assignee_idx"
            ),
            models.Index(fields=["tenant", "record_type", "record_id"], name="task_record_idx"),
            models.Index(fields=["tenant", "deleted_at", "id"], name="task_list_idx"),
        ]
