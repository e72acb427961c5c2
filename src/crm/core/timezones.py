"""The IANA time zone names, read from the tz database once per process (tenant settings,
member preferences and their forms check against the same list)."""

from __future__ import annotations

import zoneinfo
from functools import lru_cache


@lru_cache(maxsize=1)
def time_zone_names() -> tuple[str, ...]:
    return tuple(sorted(zoneinfo.available_timezones()))
