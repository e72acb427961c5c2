"""API: activities and tasks linked to any record, and each record's timeline."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Path, Query, Router, Status

from crm.activities import selectors, services
from crm.activities.models import Activity, Task
from crm.activities.records import TimelineEntry
from crm.activities.schemas import (
    ActivityFilter,
    ActivityIn,
    ActivityOut,
    ActivityPage,
    ActivityPatch,
    TaskFilter,
    TaskIn,
    TaskOut,
    TaskPage,
    TaskPatch,
    TimelineEntryOut,
    TimelineParams,
)
from crm.core.api import Id, actor, created, no_content, paginated
from crm.core.api import responses as r

router = Router()

# --- activities ---------------------------------------------------------------------------------


@router.get(
    "/activities",
    response=r({200: ActivityPage}),
    operation_id="activity_list",
    tags=["activities"],
)
def activity_list(request: HttpRequest, filters: Query[ActivityFilter]) -> dict[str, Any]:
    qs = selectors.activity_list(actor=actor(request), **filters.selector_kwargs())
    return paginated(qs, filters)


@router.post(
    "/activities",
    response=r({201: ActivityOut}),
    operation_id="activity_create",
    tags=["activities"],
)
def activity_create(request: HttpRequest, payload: ActivityIn) -> Status[Activity]:
    """Log a call, email, meeting, visit or note on a record."""
    activity = services.activity_log(
        actor=actor(request),
        record_type=payload.record_type,
        record_id=payload.record_id,
        values=payload.given(exclude=("record_type", "record_id", "owner_id")),
        owner_id=payload.owner_id,
    )
    return created(activity)


@router.get(
    "/activities/{activity_id}",
    response=r({200: ActivityOut}),
    operation_id="activity_get",
    tags=["activities"],
)
def activity_get(request: HttpRequest, activity_id: Path[Id]) -> Activity:
    return selectors.activity_get(actor=actor(request), activity_id=activity_id)


@router.patch(
    "/activities/{activity_id}",
    response=r({200: ActivityOut}),
    operation_id="activity_update",
    tags=["activities"],
)
def activity_update(
    request: HttpRequest, activity_id: Path[Id], payload: ActivityPatch
) -> Activity:
    activity = selectors.activity_get(actor=actor(request), activity_id=activity_id)
    return services.activity_update(actor=actor(request), activity=activity, values=payload.given())


@router.delete(
    "/activities/{activity_id}",
    response=r({204: None}),
    operation_id="activity_delete",
    tags=["activities"],
)
def activity_delete(request: HttpRequest, activity_id: Path[Id]) -> Status[None]:
    activity = selectors.activity_get(actor=actor(request), activity_id=activity_id)
    services.activity_delete(actor=actor(request), activity=activity)
    return no_content()


# --- tasks --------------------------------------------------------------------------------------


@router.get("/tasks", response=r({200: TaskPage}), operation_id="task_list", tags=["tasks"])
def task_list(request: HttpRequest, filters: Query[TaskFilter]) -> dict[str, Any]:
    qs = selectors.task_list(actor=actor(request), **filters.selector_kwargs())
    return paginated(qs, filters)


@router.post("/tasks", response=r({201: TaskOut}), operation_id="task_create", tags=["tasks"])
def task_create(request: HttpRequest, payload: TaskIn) -> Status[Task]:
    task = services.task_create(
        actor=actor(request),
        values=payload.given(exclude=("record_type", "record_id", "assignee_id")),
        record_type=payload.record_type or "",
        record_id=payload.record_id,
        assignee_id=payload.assignee_id,
    )
    return created(task)


@router.get("/tasks/{task_id}", response=r({200: TaskOut}), operation_id="task_get", tags=["tasks"])
def task_get(request: HttpRequest, task_id: Path[Id]) -> Task:
    return selectors.task_get(actor=actor(request), task_id=task_id)


@router.patch(
    "/tasks/{task_id}", response=r({200: TaskOut}), operation_id="task_update", tags=["tasks"]
)
def task_update(request: HttpRequest, task_id: Path[Id], payload: TaskPatch) -> Task:
    task = selectors.task_get(actor=actor(request), task_id=task_id)
    return services.task_update(
        actor=actor(request),
        task=task,
        values=payload.given(exclude=("assignee_id", "status")),
        assignee_id=payload.assignee_id,
        status=payload.status,
    )


@router.delete(
    "/tasks/{task_id}", response=r({204: None}), operation_id="task_delete", tags=["tasks"]
)
def task_delete(request: HttpRequest, task_id: Path[Id]) -> Status[None]:
    task = selectors.task_get(actor=actor(request), task_id=task_id)
    services.task_delete(actor=actor(request), task=task)
    return no_content()


# --- timelines ----------------------------------------------------------------------------------


def _timeline(request: HttpRequest, record_type: str, record_id: int, limit: int) -> Any:
    return selectors.record_timeline(
        actor=actor(request), record_type=record_type, record_id=record_id, limit=limit
    )


TIMELINE = r({200: list[TimelineEntryOut]})


@router.get(
    "/accounts/{account_id}/timeline",
    response=TIMELINE,
    operation_id="account_timeline",
    tags=["accounts"],
)
def account_timeline(
    request: HttpRequest, account_id: Path[Id], params: Query[TimelineParams]
) -> list[TimelineEntry]:
    """Activities, tasks and changes of the account, newest first."""
    return _timeline(request, "account", account_id, params.limit)


@router.get(
    "/contacts/{contact_id}/timeline",
    response=TIMELINE,
    operation_id="contact_timeline",
    tags=["contacts"],
)
def contact_timeline(
    request: HttpRequest, contact_id: Path[Id], params: Query[TimelineParams]
) -> list[TimelineEntry]:
    """Activities, tasks and changes of the contact, newest first."""
    return _timeline(request, "contact", contact_id, params.limit)


@router.get(
    "/leads/{lead_id}/timeline",
    response=TIMELINE,
    operation_id="lead_timeline",
    tags=["leads"],
)
def lead_timeline(
    request: HttpRequest, lead_id: Path[Id], params: Query[TimelineParams]
) -> list[TimelineEntry]:
    """Activities, tasks and changes of the lead, newest first."""
    return _timeline(request, "lead", lead_id, params.limit)


@router.get(
    "/opportunities/{opportunity_id}/timeline",
    response=TIMELINE,
    operation_id="opportunity_timeline",
    tags=["opportunities"],
)
def opportunity_timeline(
    request: HttpRequest, opportunity_id: Path[Id], params: Query[TimelineParams]
) -> list[TimelineEntry]:
    """Activities, tasks, stage moves and changes of the opportunity, newest first."""
    return _timeline(request, "opportunity", opportunity_id, params.limit)
