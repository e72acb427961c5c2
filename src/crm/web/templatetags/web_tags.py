"""Template helpers of the pages: labels of timeline entries, money, list sort links."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.translation import gettext_lazy as _

from crm.web.display import format_money

register = template.Library()

TIMELINE_LABELS = {
    "call": _("Call"),
    "email": _("Email"),
    "meeting": _("Meeting"),
    "visit": _("Visit"),
    "note": _("Note"),
    "task": _("Task"),
    "stage_change": _("Stage change"),
    "audit": _("History"),
}
ACTION_LABELS = {
    "created": _("created"),
    "updated": _("updated"),
    "deleted": _("deleted"),
    "restored": _("restored"),
    "stage_changed": _("stage changed"),
    "revoked": _("revoked"),
    "merged": _("merged"),
    "assigned": _("assigned"),
}
TIMELINE_ICONS = {
    "call": "☎",
    "email": "✉",
    "meeting": "◎",
    "visit": "⌂",
    "note": "✎",
    "task": "☐",
    "stage_change": "➜",
    "audit": "·",
}


@register.filter
def timeline_label(kind: str) -> Any:
    return TIMELINE_LABELS.get(kind, kind)


@register.filter
def timeline_icon(kind: str) -> str:
    return TIMELINE_ICONS.get(kind, "·")


@register.filter
def action_label(action: str) -> Any:
    return ACTION_LABELS.get(action, action)


@register.filter
def money(value: Any) -> str:
    return format_money(value)


@register.filter
def pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}%"


@register.simple_tag
def sort_param(current: str, key: str) -> str:
    """The sort value a column header links to: ascending first, then descending."""
    return f"-{key}" if current == key else key


@register.filter
def get_item(mapping: dict[str, Any], key: str) -> Any:
    return mapping.get(key) if mapping else None


@register.filter
def label_of(field_name: str) -> Any:
    from crm.web.forms import LABELS

    return LABELS.get(field_name, field_name)


@register.filter
def field_labels(names: str) -> str:
    """ "name, phone" of an audit entry shown as the fields' labels."""
    from crm.web.forms import LABELS

    parts = [p.strip() for p in (names or "").split(",") if p.strip()]
    return ", ".join(str(LABELS.get(p.removesuffix("_id"), p)) for p in parts)


@register.filter
def task_status(value: str) -> Any:
    from crm.activities.models import TaskStatus

    try:
        return TaskStatus(value).label
    except ValueError:
        return value
