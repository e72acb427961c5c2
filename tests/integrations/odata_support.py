"""Data and a client for the OData feed tests: a small tenant with every entity set filled."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.test import Client

from crm.activities.services import activity_log
from crm.customers.models import Account, Contact
from crm.customers.services import account_create, contact_create
from crm.sales.models import Lead, Opportunity, Order, Stage
from crm.sales.services import (
    lead_create,
    opportunity_create,
    opportunity_move,
    order_create,
    product_create,
)
from crm.tenancy.services import api_token_create

CITIES = ("上海", "北京", "Shenzhen", "Hangzhou")


@dataclass
class Feed:
    accounts: list[Account]
    contacts: list[Contact]
    leads: list[Lead]
    opportunities: list[Opportunity]
    orders: list[Order]
    token: str  # admin, read only
    pii_token: str  # admin, read + pii
    sales_token: str  # sales rep (sees own records only)


def build_feed(world: Any, contacts: int = 30) -> Feed:
    """Rows owned by the admin and by both sales reps; some with nulls, accents and quotes."""
    owners = [world.admin, world.sales, world.sales2]
    accounts = [
        account_create(
            actor=world.admin,
            values={"name": name, "industry": industry, "city": CITIES[i % 4]},
            owner_id=owners[i % 3].pk,
        )
        for i, (name, industry) in enumerate(
            [("星辰科技", "IT"), ("O'Brien & Co", "Retail"), ("Acme Corp", "IT")]
        )
    ]
    people = []
    for i in range(contacts):
        people.append(
            contact_create(
                actor=world.admin,
                values={
                    "name": f"{'张王李赵'[i % 4]}{i:02d} Person{i}",
                    "email": f"person{i}@example.com",
                    "phone": f"+86138{i:08d}",
                    "id_number": f"11010519900101{i:04d}",
                    "city": CITIES[i % 4] if i % 5 else "",
                    "title": "Manager" if i % 3 == 0 else "Engineer",
                    "consent_email": i % 2 == 0,
                },
                account_id=accounts[i % 3].pk if i % 4 else None,
                owner_id=owners[i % 3].pk,
            )
        )
    leads = [
        lead_create(
            actor=world.admin,
            values={"name": f"Lead {i}", "company": f"Co {i}", "email": f"lead{i}@example.com"},
            owner_id=owners[i % 3].pk,
        )
        for i in range(6)
    ]
    for i, lead in enumerate(leads):
        Lead.objects.filter(pk=lead.pk).update(score=i * 17)
    opportunities = []
    start = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    for i in range(6):
        opp = opportunity_create(
            actor=world.admin,
            values={
                "name": f"Deal {i}",
                "amount": f"{(i + 1) * 1250}.50",
                "expected_close_date": f"2026-0{i + 1}-15",
            },
            account_id=accounts[i % 3].pk,
            owner_id=owners[i % 3].pk,
        )
        stages = list(Stage.objects.filter(pipeline_id=opp.pipeline_id).order_by("order"))
        for step, stage in enumerate(stages[1 : 1 + i % 3]):
            opportunity_move(
                actor=world.admin,
                opportunity=opp,
                stage_id=stage.pk,
                at=start + timedelta(days=i, hours=step),
            )
        opp.refresh_from_db()
        opportunities.append(opp)
    product = product_create(actor=world.admin, values={"name": "CRM 年费", "price": "9800"})
    orders = [
        order_create(
            actor=world.admin,
            values={
                "number": f"SO-{i}",
                "ordered_at": (start + timedelta(days=10 * i)).isoformat(),
            },
            lines=[{"product_id": product.pk, "quantity": i + 1}],
            account_id=accounts[i % 3].pk,
            owner_id=owners[i % 3].pk,
        )
        for i in range(3)
    ]
    for i, opp in enumerate(opportunities[:3]):
        activity_log(
            actor=world.admin,
            record_type="opportunity",
            record_id=opp.pk,
            values={"kind": "call", "subject": f"Call {i}"},
        )
    _t, token = api_token_create(actor=world.admin, name="bi", scopes=("read",))
    _t, pii_token = api_token_create(actor=world.admin, name="bi-pii", scopes=("read", "pii"))
    _t, sales_token = api_token_create(actor=world.sales, name="mine", scopes=("read",))
    return Feed(accounts, people, leads, opportunities, orders, token, pii_token, sales_token)


def basic(token: str, user: str = "powerbi") -> str:
    return "Basic " + base64.b64encode(f"{user}:{token}".encode()).decode()


def fetch(
    client: Client, url: str, token: str | None, params: dict[str, Any] | None = None, **extra: Any
) -> tuple[int, Any, Any]:
    """GET with a Bearer token: (status, parsed JSON or text, response). Messages in English
    (the feed answers in the tenant's language otherwise)."""
    extra.setdefault("HTTP_ACCEPT_LANGUAGE", "en")
    if token is not None:
        extra.setdefault("HTTP_AUTHORIZATION", f"Bearer {token}")
    response = client.get(url, params or {}, **extra)
    content_type = response.headers.get("Content-Type", "")
    body: Any = response.content.decode()
    if content_type.startswith("application/json"):
        body = json.loads(body)
    return response.status_code, body, response
