"""Counting per local day follows the tenant's clock, across daylight-saving changes too."""

from __future__ import annotations

import zoneinfo
from collections import Counter
from datetime import date, datetime, timedelta

from crm.activities.models import Activity
from crm.activities.services import activity_log
from crm.reports.periods import counts_by_local_day, offset_pieces
from crm.sales.services import lead_create
from crm.tenancy.models import Tenant

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")


def test_a_period_is_cut_where_the_offset_changes() -> None:
    begin = datetime(2026, 3, 28, tzinfo=BERLIN)
    finish = datetime(2026, 3, 31, tzinfo=BERLIN)
    pieces = offset_pieces(begin, finish, BERLIN)
    change = datetime(2026, 3, 29, 1, 0, tzinfo=zoneinfo.ZoneInfo("UTC"))  # 02:00 → 03:00
    assert [(s, e, o) for s, e, o in pieces] == [(begin, change, 60), (change, finish, 120)]
    shanghai = zoneinfo.ZoneInfo("Asia/Shanghai")
    start = datetime(2026, 1, 1, tzinfo=shanghai)
    assert offset_pieces(start, start + timedelta(days=400), shanghai) == [
        (start, start + timedelta(days=400), 480)
    ]


def test_activities_fall_on_their_local_day_on_both_sides_of_a_change(world) -> None:
    Tenant.objects.filter(pk=world.tenant.pk).update(time_zone="Europe/Berlin")
    lead = lead_create(actor=world.sales, values={"name": "L"})
    moments = [
        datetime(2026, 3, 28, 23, 30, tzinfo=BERLIN),  # Saturday, UTC+1
        datetime(2026, 3, 29, 0, 30, tzinfo=BERLIN),  # Sunday before the change
        datetime(2026, 3, 29, 23, 30, tzinfo=BERLIN),  # Sunday, UTC+2 (21:30 UTC)
        datetime(2026, 3, 30, 0, 15, tzinfo=BERLIN),  # Monday, 22:15 UTC on Sunday
    ]
    for at in moments:
        activity_log(
            actor=world.sales,
            record_type="lead",
            record_id=lead.pk,
            values={"kind": "call", "subject": "x", "at": at},
        )
    counted = counts_by_local_day(
        Activity.objects.all(),
        "at",
        "kind",
        datetime(2026, 3, 23, tzinfo=BERLIN),
        datetime(2026, 4, 6, tzinfo=BERLIN),
    )
    per_day: Counter[date] = Counter()
    for day, _kind, n in counted:
        per_day[day] += n
    assert per_day == {date(2026, 3, 28): 1, date(2026, 3, 29): 2, date(2026, 3, 30): 1}
