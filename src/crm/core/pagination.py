"""Pagination helpers that never COUNT a large table by accident, nor twice in a row.

`count` is exact up to EXACT_COUNT_LIMIT and None ("many") beyond. It costs nothing when the page
reaches the end of the list (offset + rows on the page). Otherwise a bounded COUNT runs; when it
finds "many", that is remembered for MANY_CACHE_SECONDS under the SQL of the count (which holds
the tenant, the caller's visibility and every filter), so paging through or polling a large list
does not walk 10,001 rows on every call (25 ms for a common one-character name search at 500,000
contacts). Exact counts are never cached.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.models import QuerySet

EXACT_COUNT_LIMIT = 10_000
DEFERRED_JOIN_OFFSET = 1_000
# A count found to be "many" is remembered this long.
MANY_CACHE_SECONDS = 30


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


def _pk_of(row: Any) -> Any:
    """The primary key of a model instance or of a `.values()` row (which must include `id`)."""
    return row["id"] if isinstance(row, Mapping) else row.pk


def bounded_count(queryset: QuerySet[Any]) -> int | None:
    """Rows of the queryset up to EXACT_COUNT_LIMIT, None ("many") beyond; "many" is cached."""
    counted = queryset.order_by().values("pk")[: EXACT_COUNT_LIMIT + 1]
    try:
        sql, params = counted.query.get_compiler(queryset.db).as_sql()
    except EmptyResultSet:  # a filter that can match nothing (`.none()`, `pk__in=[]`)
        return 0
    digest = hashlib.sha256(f"{queryset.db}\x00{sql}\x00{params!r}".encode()).hexdigest()
    key = f"crm:count-many:{digest}"
    if cache.get(key):
        return None
    # The SQL compiled for the key is the SQL run: compiling a search query twice costs ~1 ms.
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM ({sql}) bounded", params)  # noqa: S608  # nosec B608
        bounded = int(cursor.fetchone()[0])
    if bounded > EXACT_COUNT_LIMIT:
        cache.set(key, True, MANY_CACHE_SECONDS)
        return None
    return bounded


def paginate(queryset: QuerySet[Any], *, offset: int, limit: int, with_count: bool) -> Page:
    """Fetch one page plus one row to learn if there is more; count only when it is not known.

    Works on model querysets and on `.values()` querysets that include `id`.
    """
    offset = max(0, offset)
    if offset >= DEFERRED_JOIN_OFFSET:
        # Deep pages: walk past the skipped rows reading ids only (an index scan), then load the
        # page's rows with their joins. Skipping 50,000 full rows costs ~0.4 s on SQLite.
        ids = list(queryset.values_list("pk", flat=True)[offset : offset + limit + 1])
        by_id = {_pk_of(row): row for row in queryset.filter(pk__in=ids)}
        rows = [by_id[pk] for pk in ids if pk in by_id]
    else:
        rows = list(queryset[offset : offset + limit + 1])
    has_more = len(rows) > limit
    rows = rows[:limit]
    count: int | None = None
    if with_count:
        if not has_more and (rows or offset == 0):
            count = offset + len(rows)  # the page reaches the end: nothing to count
        else:
            count = bounded_count(queryset)
    return Page(rows, offset, limit, has_more, count)
