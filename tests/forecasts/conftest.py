"""A small sales history built through the real services: two reps' deals moved through the
default pipeline, orders over several months."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from crm.sales.models import Pipeline, Stage
from crm.sales.services import opportunity_create, opportunity_move, order_create

# The browser fixtures of tests/e2e (Chromium at /usr/bin/chromium, signed-in pages).
from tests.e2e.conftest import (  # noqa: F401
    artifacts,
    browse,
    browser_context_args,
    browser_type_launch_args,
)


@dataclass
class History:
    pipeline: Pipeline
    stages: dict[str, Stage]  # lead, qualified, proposal, negotiation, won, lost
    deals: dict[str, Any]
    start: Any  # the moment the deals were created (now)


STAGE_KEYS = ("lead", "qualified", "proposal", "negotiation", "won", "lost")


@pytest.fixture
def history(world: Any) -> History:
    """Six deals (owner, amount, path of stages with days after creation):

    * a: sales, 1000: lead → qualified (2 d) → proposal (5 d) → won (9 d)
    * b: sales, 2000: lead → lost (3 d)
    * c: sales, 3000: lead → proposal (4 d, skips qualified), open
    * d: sales2, 4000: lead → qualified (1 d) → negotiation (6 d) → won (8 d)
    * e: sales2, 5000: lead, open
    * f: manager, 6000: lead → qualified (2 d) → lost (10 d)
    """
    pipeline = Pipeline.objects.get(is_default=True)
    stages = dict(
        zip(STAGE_KEYS, Stage.objects.filter(pipeline=pipeline).order_by("order"), strict=True)
    )
    now = timezone.now()
    plan = {
        "a": (world.sales, "1000", [("qualified", 2), ("proposal", 5), ("won", 9)]),
        "b": (world.sales, "2000", [("lost", 3)]),
        "c": (world.sales, "3000", [("proposal", 4)]),
        "d": (world.sales2, "4000", [("qualified", 1), ("negotiation", 6), ("won", 8)]),
        "e": (world.sales2, "5000", []),
        "f": (world.manager, "6000", [("qualified", 2), ("lost", 10)]),
    }
    deals = {}
    for key, (owner, amount, moves) in plan.items():
        opp = opportunity_create(
            actor=owner, values={"name": f"Deal {key}", "amount": Decimal(amount)}
        )
        for stage_key, days in moves:
            opportunity_move(
                actor=owner,
                opportunity=opp,
                stage_id=stages[stage_key].pk,
                at=opp.created_at + timedelta(days=days),
            )
        deals[key] = opp
    return History(pipeline, stages, deals, now)


@pytest.fixture
def orders(world: Any) -> list[Any]:
    """An order every 3 days over the last 400 days, owned by the two reps in turn."""
    now = timezone.now()
    made = []
    for i in range(1, 134):
        owner = world.sales if i % 2 else world.sales2
        made.append(
            order_create(
                actor=world.admin,
                values={"number": f"SO-{i}", "ordered_at": now - timedelta(days=3 * i)},
                lines=[
                    {
                        "description": "Widget",
                        "category": "hardware" if i % 3 else "services",
                        "quantity": "1",
                        "unit_price": str(100 + (i % 7) * 10),
                    }
                ],
                owner_id=owner.pk,
            )
        )
    return made
