"""Shared test data for the insights wiring tests (no tests here): a small shop's customers.

Made through the real services (contacts, orders with lines), so the recompute reads exactly
what the product would store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from crm.activities.services import activity_log
from crm.customers.models import Contact
from crm.customers.services import contact_create
from crm.sales.services import order_create
from crm.tenancy.models import Membership

NOW = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)

# (days before NOW of each order, amount per order): regulars, lapsed regulars, one-timers
HISTORIES: list[tuple[str, list[int], int]] = [
    ("steady-1", [300, 240, 180, 120, 60, 10], 120),
    ("steady-2", [280, 210, 150, 90, 30, 5], 200),
    ("steady-3", [350, 290, 200, 100, 20], 90),
    ("steady-4", [150, 100, 50, 15], 60),
    ("steady-5", [200, 150, 100, 40, 8], 300),
    ("lapsed-1", [700, 650, 600, 560, 520], 150),
    ("lapsed-2", [640, 600, 560, 500], 220),
    ("lapsed-3", [500, 470, 440, 410, 380, 350], 80),
    ("lapsed-4", [600, 580, 540], 100),
    ("once-1", [20], 50),
    ("once-2", [200], 40),
    ("once-3", [400], 70),
    ("once-4", [60], 30),
    ("new-1", [25, 12], 110),
]


@dataclass
class Shop:
    contacts: dict[str, Contact] = field(default_factory=dict)
    prospect: Contact | None = None


def build_shop(actor: Membership, prefix: str = "c", *, owner: Membership | None = None) -> Shop:
    """14 customers with orders (owned by `owner` or the actor) and one prospect."""
    shop = Shop()
    number = 0
    for name, offsets, amount in HISTORIES:
        contact = contact_create(
            actor=actor,
            values={
                "name": f"{prefix}-{name}",
                "email": f"{prefix}.{name}@example.com",
                "consent_email": True,
            },
            owner_id=owner.pk if owner else None,
        )
        shop.contacts[name] = contact
        for offset in offsets:
            number += 1
            order_create(
                actor=actor,
                values={
                    "number": f"{prefix}-SO-{number}",
                    "ordered_at": NOW - timedelta(days=offset, hours=3),
                },
                lines=[
                    {"description": "Tea", "category": "tea", "quantity": 1, "unit_price": amount},
                    {"description": "Cup", "category": "cups", "quantity": 1, "unit_price": 10},
                ],
                contact_id=contact.pk,
            )
    activity_log(
        actor=actor,
        record_type="contact",
        record_id=shop.contacts["steady-1"].pk,
        values={"kind": "call", "subject": "Check-in", "at": NOW - timedelta(days=3)},
    )
    shop.prospect = contact_create(
        actor=actor, values={"name": f"{prefix}-prospect"}, owner_id=owner.pk if owner else None
    )
    return shop
