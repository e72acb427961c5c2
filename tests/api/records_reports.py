"""Records of crm.reports for the API isolation tests: a report schedule (and a sent period)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from crm.reports.services import schedule_create, schedule_send_due


def build(world: Any, prefix: str) -> tuple[dict[str, int], list[str]]:
    schedule = schedule_create(
        actor=world.admin,
        values={
            "name": f"{prefix}-schedule",
            "report_kind": "product_sales",
            "frequency": "weekly",
            "filters": {"category": f"{prefix}-category"},
        },
    )
    schedule_send_due(schedule_id=schedule.pk, now=schedule.next_run_at + timedelta(minutes=1))
    return {"schedule_id": schedule.pk}, [f"{prefix}-schedule", f"{prefix}-category"]
