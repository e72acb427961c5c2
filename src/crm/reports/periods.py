"""Calendar pieces of the reports: the tenant's time zone, and counting rows per local day.

Grouping by the local day (or week) of a timestamp must run in the database's own code, not in
a Python function per row: on SQLite Django's TruncDate/TruncWeek with a time zone call a Python
function for every row (seconds over a few hundred thousand rows). So on SQLite the period is
cut where the zone's UTC offset changes (daylight saving), and each piece is grouped with the
native ``date(at, '+N minutes')``; PostgreSQL converts time zones natively.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import CharField, Count, F, Func, QuerySet, Value
from django.db.models.functions import TruncDate
from django.utils import timezone

from crm.core.context import current_tenant_id
from crm.tenancy.models import Tenant


def tenant_zone() -> zoneinfo.ZoneInfo:
    name = Tenant.objects.filter(pk=current_tenant_id()).values_list("time_zone", flat=True).first()
    try:
        return zoneinfo.ZoneInfo(name or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def today_local() -> date:
    return timezone.localtime(timezone.now(), tenant_zone()).date()


def _offset_minutes(moment: datetime, zone: zoneinfo.ZoneInfo) -> int:
    offset = moment.astimezone(zone).utcoffset() or timedelta(0)
    return int(offset.total_seconds() // 60)


def offset_pieces(
    begin: datetime, finish: datetime, zone: zoneinfo.ZoneInfo
) -> list[tuple[datetime, datetime, int]]:
    """[begin, finish) cut into pieces of constant UTC offset: (start, end, offset in minutes)."""
    pieces: list[tuple[datetime, datetime, int]] = []
    start, offset = begin, _offset_minutes(begin, zone)
    day = begin
    while day < finish:
        following = min(day + timedelta(days=1), finish)
        if _offset_minutes(following, zone) != offset:
            # The offset changed during this day: find when (on a whole or half hour).
            moment = day
            while _offset_minutes(moment, zone) == offset:
                moment += timedelta(minutes=30)
            pieces.append((start, moment, offset))
            start, offset = moment, _offset_minutes(moment, zone)
        day = following
    pieces.append((start, finish, offset))
    return [p for p in pieces if p[0] < p[1]]


class _SqliteLocalDate(Func):
    function = "date"
    output_field = CharField()


def counts_by_local_day(
    qs: QuerySet[Any], field: str, group: str, begin: datetime, finish: datetime
) -> Iterable[tuple[date, Any, int]]:
    """(local day, value of `group`, row count) for the rows of `qs` with `field` in the period."""
    zone = tenant_zone()
    if connection.vendor != "sqlite":
        rows = (
            qs.filter(**{f"{field}__gte": begin, f"{field}__lt": finish})
            .annotate(local_day=TruncDate(field, tzinfo=zone))
            .values("local_day", group)
            .annotate(n=Count("pk"))
        )
        for row in rows:
            yield row["local_day"], row[group], row["n"]
        return
    for start, end, offset in offset_pieces(begin, finish, zone):
        rows = (
            qs.filter(**{f"{field}__gte": start, f"{field}__lt": end})
            .annotate(local_day=_SqliteLocalDate(F(field), Value(f"{offset:+d} minutes")))
            .values("local_day", group)
            .annotate(n=Count("pk"))
        )
        for row in rows:
            yield date.fromisoformat(row["local_day"]), row[group], row["n"]
