"""Acceptance: an independent OData v4 client (python-odata, from PyPI) reads the feed over HTTP.

The client reads $metadata to build its entity classes, authenticates with HTTP Basic (any user
name, the API token as the password, as Power BI and Excel do), follows @odata.nextLink across
pages and sends the $filter, $orderby and $count requests it generates itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import requests
from odata import ODataService

from tests.integrations.odata_support import Feed, build_feed


@pytest.fixture
def service(live_server: Any, world: Any) -> Iterator[tuple[Any, Feed]]:
    feed = build_feed(world, contacts=23)
    # Closed at the end: a kept-alive connection holds its server thread, and on PostgreSQL
    # (persistent connections) that thread's database session, until the test process ends,
    # which made dropping the test database fail ("being accessed by other users").
    session = requests.Session()
    session.auth = ("powerbi", feed.token)
    odata = ODataService(
        f"{live_server.url}/odata/v1/",
        session=session,
        reflect_entities=True,
        quiet_progress=True,
        extra_headers={"Prefer": "odata.maxpagesize=5"},  # 23 rows: five pages
    )
    with session:
        yield odata, feed


def test_a_third_party_client_pages_and_filters(service: tuple[Any, Feed]) -> None:
    odata, feed = service
    assert set(odata.entities) == {
        "Accounts",
        "Contacts",
        "Leads",
        "Opportunities",
        "StageChanges",
        "Activities",
        "Orders",
        "OrderLines",
    }
    contacts = odata.entities["Contacts"]

    # Paging: the client follows five nextLinks' worth of pages and sees every row once.
    everyone = list(odata.query(contacts))
    assert sorted(c.Id for c in everyone) == sorted(c.pk for c in feed.contacts)
    assert all(c.Email.startswith(c.Email[:1] + "***@") for c in everyone)  # no pii scope

    # A filter and an order the client writes itself.
    query = odata.query(contacts).filter(contacts.City == "上海").order_by(contacts.Name.desc())
    found = list(query)
    expected = sorted((c for c in feed.contacts if c.city == "上海"), key=lambda c: c.name)
    assert [c.Name for c in found] == [c.name for c in reversed(expected)]
    assert odata.query(contacts).filter(contacts.City == "上海").count() == len(expected)

    starts = list(odata.query(contacts).filter(contacts.Name.startswith("王")))
    assert {c.Id for c in starts} == {c.pk for c in feed.contacts if c.name.startswith("王")}

    opportunities = odata.entities["Opportunities"]
    rich = list(odata.query(opportunities).filter(opportunities.Amount >= Decimal("3751.5")))
    assert {o.Id for o in rich} == {o.pk for o in feed.opportunities if o.amount >= 3751.5}

    orders = odata.entities["Orders"]
    moment = datetime(2026, 3, 11, 8, tzinfo=UTC)
    later = odata.query(orders).filter(orders.OrderedAt >= moment)
    assert {o.Number for o in later} == {o.number for o in feed.orders if o.ordered_at >= moment}
    assert len({o.Number for o in later}) == 2

    one = odata.query(contacts).get(feed.contacts[3].pk)
    assert one.Name == feed.contacts[3].name
