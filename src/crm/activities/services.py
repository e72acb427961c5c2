"""Every write to activities and tasks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.utils import timezone

from crm.activities.models import Activity, Task, TaskStatus
from crm.activities.records import linked_record
from crm.core.writes import editable_field_names, snapshot
from crm.events.crud import assign, hard_delete, resolve_owner, save_changes, save_new
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
    require_editable(actor, activity.owner)
    hard_delete(actor, activity)


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
    require_editable(actor, task.assignee)
    hard_delete(actor, task)
