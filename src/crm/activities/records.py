"""What an activity or task can be linked to, and the record's timeline.

Activities sit below customers and sales, so those apps register here (in their AppConfig.ready)
how to find a record visible to an actor and what they add to a record's timeline.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.utils.translation import gettext as _

from crm.core.errors import NotFoundError
from crm.core.writes import field_error
from crm.tenancy.models import Membership

# record_type -> function(actor, record_id) returning the record or raising NotFoundError
RecordFinder = Callable[[Membership, int], Any]
_finders: dict[str, RecordFinder] = {}


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    kind: str  # activity kind, "task", "stage_change", "audit"
    title: str
    detail: str
    actor: str
    ref_id: int


TimelineProvider = Callable[[Membership, str, int, int], list[TimelineEntry]]
_timeline_providers: list[TimelineProvider] = []


def register_record_type(record_type: str, finder: RecordFinder) -> None:
    _finders[record_type] = finder


def register_timeline_provider(provider: TimelineProvider) -> None:
    if provider not in _timeline_providers:
        _timeline_providers.append(provider)


def timeline_providers() -> list[TimelineProvider]:
    return list(_timeline_providers)


def record_find(actor: Membership, record_type: str, record_id: int) -> Any:
    """The record of this type and id visible to the actor; NotFoundError otherwise."""
    finder = _finders.get(record_type)
    if finder is None:
        raise NotFoundError(_("Unknown record type."))
    return finder(actor, record_id)


def linked_record(actor: Membership, record_type: str, record_id: int) -> Any:
    """The record an activity links to, visible to the actor; a field error otherwise."""
    if record_type not in _finders:
        raise field_error("record_type", _("Unknown record type."))
    try:
        return record_find(actor, record_type, record_id)
    except NotFoundError as exc:
        raise field_error("record_id", _("No such record.")) from exc
