"""Keyset-friendly pagination helpers that never COUNT a large table by accident."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import QuerySet

EXACT_COUNT_LIMIT = 10_000


@dataclass(frozen=True)
class Page:
    items: list[Any]
    offset: int
    limit: int
    has_more: bool
    count: int | None  # exact when small, None when "many" (more than EXACT_COUNT_LIMIT)


def clamp_limit(limit: int | None, default: int = 50) -> int:
    max_size: int = settings.API_MAX_PAGE_SIZE
    if limit is None:
        return default
    return max(1, min(int(limit), max_size))


def paginate(queryset: QuerySet[Any], *, offset: int, limit: int, with_count: bool) -> Page:
    """Fetch one page plus one row to learn if there is more; count only a bounded slice."""
    offset = max(0, offset)
    rows = list(queryset[offset : offset + limit + 1])
    has_more = len(rows) > limit
    count: int | None = None
    if with_count:
        bounded = queryset.order_by().values("pk")[: EXACT_COUNT_LIMIT + 1].count()
        count = bounded if bounded <= EXACT_COUNT_LIMIT else None
    return Page(rows[:limit], offset, limit, has_more, count)
