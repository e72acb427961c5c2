"""Every export target writes, per row, what the record itself holds (read from the model),
neutralised as a spreadsheet cell."""

from __future__ import annotations

import zoneinfo
from typing import Any

import pytest
from django.db import models
from django.utils import timezone

from crm.core.context import tenant_context
from crm.integrations.export import Export, _member_names, neutralise
from tests.api.support import build_records

RELATED_NAMES = ("account", "contact", "stage")


def _expected_cell(record: models.Model, key: str, members: dict[int, str]) -> Any:
    if key == "owner":
        return members.get(record.owner_id, "")  # type: ignore[attr-defined]
    if key in RELATED_NAMES:
        related = getattr(record, key)
        return related.name if related is not None else ""
    return getattr(record, "pk" if key == "id" else key)


@pytest.mark.parametrize(
    "target", ["contact", "account", "lead", "opportunity", "order", "activity"]
)
def test_each_export_row_holds_the_records_own_values(world, target: str) -> None:
    build_records(world, "ACME")
    with tenant_context(world.tenant.pk):
        export = Export(actor=world.admin, target=target, filters={}, include_pii=True)
        members = _member_names()
        rows = list(export.rows())
        records = {r.pk: r for r in export.queryset}
        keys = [key for key, *_rest in export.columns]
        assert rows and len(rows) == len(records)
        tz = zoneinfo.ZoneInfo(world.tenant.time_zone or "UTC")
        for row in rows:
            record = records[row[0]]
            for key, cell in zip(keys, row, strict=True):
                expected = _expected_cell(record, key, members)
                if hasattr(expected, "tzinfo") and expected.tzinfo is not None:
                    expected = timezone.localtime(expected, tz).replace(tzinfo=None)
                assert cell == ("" if expected is None else neutralise(expected)), (target, key)
