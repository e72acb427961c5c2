"""Every write to activities and tasks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.activities.models import Activity, Task, TaskStatus
from crm.activities.records import linked_record, record_find
from crm.core.writes import editable_field_names, field_error, snapshot
from crm.events.crud import assign, resolve_owner, restore, save_changes, save_new, soft_delete
from crm.tenancy.models import Membership
from crm.tenancy.permissions import require_editable, require_write

ACTIVITY_FIELDS = ("kind", "subject", "body", "at", "outcome", "duration_minutes")
TASK_FIELDS = ("title", "notes", "due_at", "reminder_at")


@transaction.atomic
def activity_log(
    *,
    actor: Membership,
    record_type: str,
    record_id: int,
    values: Mapping[str, Any],
    owner_id: int | None = None,
) -> Activity:
    """Log a call, email, meeting, visit or note on a record."""
    require_write(actor)
    linked_record(actor, record_type, record_id)
    activity = Activity(
        record_type=record_type, record_id=record_id, owner=resolve_owner(actor, owner_id)
    )
    assign(activity, values, ACTIVITY_FIELDS)
    if activity.at is None:
        activity.at = timezone.now()
    return save_new(actor, activity, payload={"linked": {"type": record_type, "id": record_id}})


@transaction.atomic
def activity_update(
    *, actor: Membership, activity: Activity, values: Mapping[str, Any]
) -> Activity:
    require_editable(actor, activity.owner)
    before = snapshot(activity, editable_field_names(Activity))
    assign(activity, values, ACTIVITY_FIELDS)
    save_changes(actor, activity, before)
    return activity


@transaction.atomic
def activity_delete(*, actor: Membership, activity: Activity) -> None:
    """Soft delete: the activity leaves lists and timelines; `activity_restore` undoes it."""
    require_editable(actor, activity.owner)
    soft_delete(actor, activity)


@transaction.atomic
def activity_restore(*, actor: Membership, activity: Activity) -> Activity:
    """Undo `activity_delete` (the activity comes from `selectors.activity_get_deleted`)."""
    require_editable(actor, activity.owner)
    restore(actor, activity)
    return activity


@transaction.atomic
def task_create(
    *,
    actor: Membership,
    values: Mapping[str, Any],
    record_type: str = "",
    record_id: int | None = None,
    assignee_id: int | None = None,
) -> Task:
    require_write(actor)
    if record_type and record_id is not None:
        linked_record(actor, record_type, record_id)
    else:
        record_type, record_id = "", None
    task = Task(
        record_type=record_type,
        record_id=record_id,
        assignee=resolve_owner(actor, assignee_id, field="assignee_id"),
    )
    assign(task, values, TASK_FIELDS)
    return save_new(actor, task)


@transaction.atomic
def task_update(
    *,
    actor: Membership,
    task: Task,
    values: Mapping[str, Any],
    assignee_id: int | None = None,
    status: str | None = None,
) -> Task:
    require_editable(actor, task.assignee)
    before = snapshot(task, editable_field_names(Task))
    assign(task, values, TASK_FIELDS)
    if assignee_id is not None:
        task.assignee = resolve_owner(actor, assignee_id, field="assignee_id")
    if status is not None and status != task.status:
        task.status = status
        task.completed_at = timezone.now() if status == TaskStatus.DONE else None
    if "due_at" in values or "reminder_at" in values:
        task.reminder_sent_at = None  # a new due time is a new reminder window
    save_changes(actor, task, before)
    return task


@transaction.atomic
def task_delete(*, actor: Membership, task: Task) -> None:
    """Soft delete: the task leaves lists, timelines and reminders; `task_restore` undoes it."""
    require_editable(actor, task.assignee)
    soft_delete(actor, task)


@transaction.atomic
def task_restore(*, actor: Membership, task: Task) -> Task:
    """Undo `task_delete` (the task comes from `selectors.task_get_deleted`)."""
    require_editable(actor, task.assignee)
    restore(actor, task)
    return task


@transaction.atomic
def record_email_send(
    *,
    actor: Membership,
    record_type: str,
    record_id: int,
    subject: str,
    body: str,
) -> EmailMessage:
    """Send an email to a contact or lead through the outbox and log it on the timeline."""
    require_write(actor)
    record = record_find(actor, record_type, record_id)
    to = getattr(record, "email", "") or ""
    if not to:
        raise field_error("to", _("This record has no email address."))
    if not subject.strip():
        raise field_error("subject", _("This field is required."))
    message = EmailMessage(
        subject=subject.strip()[:200],
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[to],
        reply_to=[actor.user.email] if actor.user.email else None,
    )
    message.send()
    activity_log(
        actor=actor,
        record_type=record_type,
        record_id=record_id,
        values={"kind": "email", "subject": message.subject, "body": body[:20000]},
    )
    return message
