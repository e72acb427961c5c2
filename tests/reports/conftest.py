"""A small sales history of tenant A, built through the services, with figures computed by hand.

sales (team East):   leads L1 (展会), L2 (展会), L3 (=cmd); deals: 1,000.00 won (from L1),
                     500.00 open; activities: 2 calls and 1 visit; order SO-1: 3 x Widget
                     (硬件, 10.00) + 1 x "=cmd" (软件, 100.00) = 130.00
sales2 (team North): lead L4 (官网); deals: 2,000.00 won (from L4), 300.00 open; one email;
                     order SO-2: 2 x Widget = 20.00; order SO-3 (cancelled): 5 x "=cmd"
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone

from crm.activities.services import activity_log
from crm.sales.models import Stage
from crm.sales.services import (
    lead_create,
    opportunity_create,
    opportunity_move,
    order_create,
    product_create,
)
from tests.api.conftest import api_as  # noqa: F401  (the API tests' fixtures, used here too)
from tests.e2e.conftest import (  # noqa: F401  (the browser fixtures, for test_browser.py)
    artifacts,
    browse,
    browser_context_args,
    browser_type_launch_args,
)

# WhiteNoise warns at start-up when the collected-static directory does not exist.
Path(settings.STATIC_ROOT).mkdir(parents=True, exist_ok=True)


@dataclass
class History:
    leads: dict[str, Any]
    won_stage: Stage
    widget: Any
    cmd: Any


def _lead(actor: Any, name: str, source: str) -> Any:
    return lead_create(actor=actor, values={"name": name, "source": source})


def _deal(actor: Any, name: str, amount: str, lead: Any = None, won: Stage | None = None) -> Any:
    opportunity = opportunity_create(
        actor=actor,
        values={"name": name, "amount": amount},
        lead_id=lead.pk if lead is not None else None,
    )
    if won is not None:
        opportunity_move(actor=actor, opportunity=opportunity, stage_id=won.pk)
    return opportunity


@pytest.fixture
def history(world: Any) -> History:
    sales, sales2 = world.sales, world.sales2
    won = Stage.objects.get(is_won=True)
    leads = {
        "L1": _lead(sales, "L1", "展会"),
        "L2": _lead(sales, "L2", "展会"),
        "L3": _lead(sales, "L3", "=cmd"),
        "L4": _lead(sales2, "L4", "官网"),
    }
    _deal(sales, "A", "1000.00", leads["L1"], won)
    _deal(sales, "B", "500.00")
    _deal(sales2, "C", "2000.00", leads["L4"], won)
    _deal(sales2, "D", "300.00")
    for kind in ("call", "call", "visit"):
        activity_log(
            actor=sales,
            record_type="lead",
            record_id=leads["L1"].pk,
            values={"kind": kind, "subject": kind},
        )
    activity_log(
        actor=sales2,
        record_type="lead",
        record_id=leads["L4"].pk,
        values={"kind": "email", "subject": "hello"},
    )
    widget = product_create(
        actor=sales, values={"name": "Widget", "category": "硬件", "price": "10.00"}
    )
    cmd = product_create(actor=sales, values={"name": "=cmd", "category": "软件", "price": "100"})
    now = timezone.now()
    order_create(
        actor=sales,
        values={"number": "SO-1", "ordered_at": now},
        lines=[{"product_id": widget.pk, "quantity": 3}, {"product_id": cmd.pk, "quantity": 1}],
    )
    order_create(
        actor=sales2,
        values={"number": "SO-2", "ordered_at": now},
        lines=[{"product_id": widget.pk, "quantity": 2}],
    )
    order_create(
        actor=sales2,
        values={"number": "SO-3", "ordered_at": now, "status": "cancelled"},
        lines=[{"product_id": cmd.pk, "quantity": 5}],
    )
    return History(leads, won, widget, cmd)
