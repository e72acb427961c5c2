"""Records of crm.forecasts for the API-wide tests: a quota (path parameter `quota_id`)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from crm.forecasts.services import quota_set


def build(world: Any, prefix: str) -> tuple[dict[str, int], list[str]]:
    # January 2023: clear of the dates the API-wide tests put in example bodies (2024-01-02).
    # An amount unique to the tenant's prefix, to spot it in another tenant's responses.
    amount = f"{700000 + sum(map(ord, prefix))}.77"
    quota, _created = quota_set(
        actor=world.admin,
        member_id=world.sales.pk,
        period_start=date(2023, 1, 1),
        period_end=date(2023, 1, 31),
        amount=Decimal(amount),
    )
    return {"quota_id": quota.pk}, [amount]
