"""Every read of activities and tasks, and the merged timeline of a record."""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet
from django.db.models.functions import Substr

from crm.activities.models import Activity, Task
from crm.activities.records import TimelineEntry, record_find, timeline_providers
from crm.core.errors import NotFoundError
from crm.tenancy.models import Membership
from crm.tenancy.permissions import visible_q


def activity_list(
    *,
    actor: Membership,
    record_type: str = "",
    record_id: int | None = None,
    kind: str = "",
    owner_id: int | None = None,
    since: datetime | None = None,
    search: str = "",
    ordering: str = "-id",
) -> QuerySet[Activity]:
    qs = Activity.objects.filter(visible_q(actor), deleted_at__isnull=True)
    if search:
        qs = qs.filter(subject__icontains=search[:100])
    if record_type:
        qs = qs.filter(record_type=record_type)
    if record_id is not None:
        qs = qs.filter(record_id=record_id)
    if kind:
        qs = qs.filter(kind=kind)
    if owner_id is not None:
        qs = qs.filter(owner_id=owner_id)
    if since is not None:
        qs = qs.filter(at__gte=since)
    allowed = {"id", "-id", "at", "-at"}
    return qs.select_related("owner").order_by(ordering if ordering in allowed else "-id")


def activity_get(*, actor: Membership, activity_id: int) -> Activity:
    activity = activity_list(actor=actor).filter(pk=activity_id).first()
    if activity is None:
        raise NotFoundError("No such activity.")
    return activity


def task_list(
    *,
    actor: Membership,
    status: str = "",
    assignee_id: int | None = None,
    record_type: str = "",
    record_id: int | None = None,
    due_before: datetime | None = None,
    search: str = "",
    ordering: str = "-id",
) -> QuerySet[Task]:
    qs = Task.objects.filter(visible_q(actor, "assignee"), deleted_at__isnull=True)
    if search:
        qs = qs.filter(title__icontains=search[:100])
    if status:
        qs = qs.filter(status=status)
    if assignee_id is not None:
        qs = qs.filter(assignee_id=assignee_id)
    if record_type:
        qs = qs.filter(record_type=record_type)
    if record_id is not None:
        qs = qs.filter(record_id=record_id)
    if due_before is not None:
        qs = qs.filter(due_at__lt=due_before)
    allowed = {"id", "-id", "due_at", "-due_at"}
    return qs.select_related("assignee").order_by(ordering if ordering in allowed else "-id")


def task_get(*, actor: Membership, task_id: int) -> Task:
    task = task_list(actor=actor).filter(pk=task_id).first()
    if task is None:
        raise NotFoundError("No such task.")
    return task


def activity_get_deleted(*, actor: Membership, activity_id: int) -> Activity:
    """A soft-deleted activity the actor could see (to undo the delete); NotFoundError else."""
    activity = (
        Activity.objects.filter(visible_q(actor), pk=activity_id, deleted_at__isnull=False)
        .select_related("owner")
        .first()
    )
    if activity is None:
        raise NotFoundError("No such activity.")
    return activity


def task_get_deleted(*, actor: Membership, task_id: int) -> Task:
    """A soft-deleted task the actor could see (to undo the delete); NotFoundError otherwise."""
    task = (
        Task.objects.filter(visible_q(actor, "assignee"), pk=task_id, deleted_at__isnull=False)
        .select_related("assignee")
        .first()
    )
    if task is None:
        raise NotFoundError("No such task.")
    return task


def record_timeline(
    *, actor: Membership, record_type: str, record_id: int, limit: int = 100
) -> list[TimelineEntry]:
    """Activities, tasks and what other apps contribute (stage changes, audit), newest first.

    Raises NotFoundError when the record does not exist or is not visible to the actor.
    """
    record_find(actor, record_type, record_id)
    # Plain rows rather than model instances (a timeline is read-only, up to `limit` of each):
    # a third of the time on a record with hundreds of entries.
    activities = (
        Activity.objects.filter(
            record_type=record_type, record_id=record_id, deleted_at__isnull=True
        )
        .order_by("-at")
        .values_list(
            "at",
            "kind",
            "subject",
            Substr("body", 1, 500),
            "owner__display_name",
            "owner__user__username",
            "pk",
        )[:limit]
    )
    entries = [
        TimelineEntry(at, kind, subject, body or "", name or username or "", pk)
        for at, kind, subject, body, name, username, pk in activities
    ]
    tasks = (
        Task.objects.filter(record_type=record_type, record_id=record_id, deleted_at__isnull=True)
        .order_by("-id")
        .values_list(
            "due_at",
            "created_at",
            "title",
            "status",
            "assignee__display_name",
            "assignee__user__username",
            "pk",
        )[:limit]
    )
    entries += [
        TimelineEntry(due_at or created_at, "task", title, status, name or username or "", pk)
        for due_at, created_at, title, status, name, username, pk in tasks
    ]
    for provider in timeline_providers():
        entries += provider(actor, record_type, record_id, limit)
    entries.sort(key=lambda e: e.at, reverse=True)
    return entries[:limit]
