"""API schemas for activities, tasks and record timelines."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from ninja import Field, Schema

from crm.activities.models import ActivityKind, RecordType, TaskStatus
from crm.core.api import (
    Count,
    Id,
    InSchema,
    ListParams,
    LongText,
    Moment,
    Search,
    Str100,
    optional,
    page_of,
)
from crm.core.api import Name200 as Subject


class ActivityOut(Schema):
    id: int
    kind: ActivityKind
    subject: str
    body: str
    at: datetime
    outcome: str
    duration_minutes: int | None
    record_type: RecordType
    record_id: int
    owner_id: int | None
    created_at: datetime
    updated_at: datetime


class ActivityFilter(ListParams):
    search: Search = Field("", description="Part of the subject.")
    record_type: RecordType | Literal[""] = ""
    record_id: Id | None = None
    kind: ActivityKind | Literal[""] = ""
    owner_id: Id | None = None
    since: Moment | None = None
    ordering: Literal["id", "-id", "at", "-at"] = "-id"


class ActivityIn(InSchema):
    record_type: RecordType
    record_id: Id
    kind: ActivityKind
    subject: Subject
    body: LongText = ""
    at: Moment | None = Field(None, description="Now when omitted.")
    outcome: Str100 = ""
    duration_minutes: Count | None = None
    owner_id: Id | None = Field(None, description="A member of your tenant; you by default.")


class ActivityPatch(InSchema):
    kind: ActivityKind = optional()
    subject: Subject = optional()
    body: LongText = optional()
    at: Moment = optional()
    outcome: Str100 = optional()
    duration_minutes: Count | None = Field(None)


class TaskOut(Schema):
    id: int
    title: str
    notes: str
    due_at: datetime | None
    status: TaskStatus
    assignee_id: int | None
    reminder_at: datetime | None
    reminder_sent_at: datetime | None
    completed_at: datetime | None
    record_type: RecordType | Literal[""]
    record_id: int | None
    created_at: datetime
    updated_at: datetime


class TaskFilter(ListParams):
    search: Search = Field("", description="Part of the title.")
    status: TaskStatus | Literal[""] = ""
    assignee_id: Id | None = None
    record_type: RecordType | Literal[""] = ""
    record_id: Id | None = None
    due_before: Moment | None = None
    ordering: Literal["id", "-id", "due_at", "-due_at"] = "-id"


class TaskIn(InSchema):
    title: Subject
    notes: LongText = ""
    due_at: Moment | None = None
    reminder_at: Moment | None = None
    record_type: RecordType | None = Field(None, description="With record_id: the linked record.")
    record_id: Id | None = None
    assignee_id: Id | None = Field(None, description="A member of your tenant; you by default.")


class TaskPatch(InSchema):
    title: Subject = optional()
    notes: LongText = optional()
    due_at: Moment | None = Field(None)
    reminder_at: Moment | None = Field(None)
    assignee_id: Id = optional()
    status: TaskStatus = optional()


class TimelineEntryOut(Schema):
    at: datetime
    kind: str = Field(description="Activity kind, task, stage_change or audit.")
    title: str
    detail: str
    actor: str
    ref_id: int


class TimelineParams(Schema):
    limit: int = Field(100, ge=1, le=100)


ActivityPage = page_of(ActivityOut)
TaskPage = page_of(TaskOut)
