"""Display filters of the forecast pages: shares as percentages, days with one decimal."""

from __future__ import annotations

from typing import Any

from django import template

from crm.web.display import EMPTY

register = template.Library()


@register.filter
def ratio(value: float | None) -> str:
    """0.8 → "80.0%"; unknown → the empty marker."""
    return EMPTY if value is None else f"{100 * float(value):.1f}%"


@register.filter
def days(value: float | None) -> str:
    return EMPTY if value is None else f"{float(value):.1f}"


@register.filter
def signed_money(value: Any) -> str:
    if value is None:
        return EMPTY
    number = float(value)
    return f"{number:+,.2f}"


@register.filter
def bar_width(value: float | None) -> int:
    """A share 0..1 (or more) as a whole percentage for a progress bar, capped at 100."""
    if value is None:
        return 0
    return max(0, min(100, round(100 * float(value))))
