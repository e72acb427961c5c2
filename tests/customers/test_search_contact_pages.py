"""Pages of a contact name search walked through the search indexes (`contact_list_ids`): the
same contacts in the same order as a plain reading of the rules (prefix of the name, the full
pinyin or the initials; not deleted; visible to the member), on every page of the list."""

from __future__ import annotations

import re
from itertools import cycle
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crm.core.normalise import name_key
from crm.customers.models import Contact, Tag
from crm.customers.selectors import contact_list, contact_list_ids
from crm.customers.services import contact_create, contact_delete, tag_create
from crm.tenancy.models import Membership
from crm.tenancy.permissions import can_see_owner
from tests.web.conftest import client_for

SURNAMES = "张赵周郑朱钟庄章李王陈"  # zhang zhao zhou zheng zhu zhong zhuang zhang li wang chen
GIVEN = ("伟", "华", "慧", "三", "红", "强", "敏", "海洋", "")
LATIN = (
    "Zhang Wei",
    "Zhivago Yuri",
    "Zoe Hart",  # initials zh
    "Hannah Zhu",
    "John Smith",
    "zhu-lin Studio",
    "ZH Logistics",
)
CITIES = ("上海", "北京")
QUERIES = ("zh", "张", "zhang", "zhangw", "Zhang Wei", "zhw", "z", "zs", "j", "zoe h", "章")
RANGE = "\u2013"  # pages write ranges with an en dash between the numbers


@pytest.fixture
def people(world: Any) -> list[Contact]:
    """~300 contacts: Chinese names (pinyin starting with zh and not), Latin names, owners of
    both teams, unowned ones, some soft-deleted, two cities and a tag on some."""
    owners = cycle([world.admin, world.manager, world.sales, world.sales2, world.viewer])
    cities = cycle(CITIES)
    vip = tag_create(actor=world.admin, name="VIP")
    made: list[Contact] = []
    names = [s + g for s in SURNAMES for g in GIVEN] + list(LATIN)
    for round_no in range(3):
        for name in names:
            owner = next(owners)
            contact = contact_create(
                actor=world.admin,
                values={"name": name, "city": next(cities)},
                owner_id=owner.pk,
                tag_ids=[vip.pk] if len(made) % 4 == round_no else None,
            )
            made.append(contact)
    # Unowned contacts (an import without owner, a member removed): seen by team and all only.
    Contact.objects.filter(pk__in=[c.pk for c in made[::9]]).update(owner=None)
    for contact in made[3::11]:
        contact_delete(actor=world.admin, contact=contact)
    return made


def everyone() -> list[Contact]:
    """Every contact of the tenant, deleted ones too, with its owner and tags."""
    return list(Contact.objects.select_related("owner").prefetch_related("tags"))


def expected_ids(
    actor: Membership,
    query: str,
    ordering: str = "-id",
    *,
    contacts: list[Contact] | None = None,
    **only: Any,
) -> list[int]:
    """The rule read plainly, row by row (docs/decisions/0001-name-search-by-prefix.md)."""
    key = name_key(query)[:100]
    compact = key.replace(" ", "")
    found = [
        c.pk
        for c in (everyone() if contacts is None else contacts)
        if c.deleted_at is None
        and can_see_owner(actor, c.owner)
        and key
        and (
            c.name_key.startswith(key)
            or c.pinyin_key.startswith(compact)
            or c.initials_key.startswith(compact)
        )
        and all(
            {t.pk for t in c.tags.all()} >= {v} if f == "tag_id" else getattr(c, f) == v
            for f, v in only.items()
        )
    ]
    return sorted(found, reverse=ordering != "id")


def members(world: Any) -> list[Membership]:
    return [world.admin, world.manager, world.sales, world.sales2, world.viewer]


def test_every_page_of_a_name_search_holds_the_same_contacts_in_the_same_order(
    world: Any, people: list[Contact]
) -> None:
    checked = 0
    contacts = everyone()
    for actor in members(world):
        for query in QUERIES:
            for ordering in ("-id", "id", "", "bogus"):
                ids = contact_list_ids(actor=actor, search=query, ordering=ordering)
                assert ids is not None, (query, ordering)
                want = expected_ids(actor, query, ordering, contacts=contacts)
                plain = contact_list(actor=actor, search=query, ordering=ordering)
                assert list(plain.values_list("pk", flat=True)) == want, (actor, query)
                assert list(ids) == want, (actor.visibility, query, ordering)
                for offset, size in ((0, 25), (7, 5), (25, 25), (len(want) - 3, 25)):
                    offset = max(offset, 0)
                    assert list(ids[offset : offset + size]) == want[offset : offset + size]
                checked += len(want)
    assert checked > 1000  # the queries do find people, for every kind of member


def test_the_search_walk_keeps_the_list_filters(world: Any, people: list[Contact]) -> None:
    vip = Tag.objects.get(name="VIP")
    mine_in_shanghai = {"city": "上海", "owner_id": world.sales.pk}
    for actor in (world.admin, world.manager, world.sales):
        for only in ({"city": "北京"}, {"tag_id": vip.pk}, mine_in_shanghai):
            ids = contact_list_ids(actor=actor, search="zh", **only)
            assert ids is not None
            want = expected_ids(actor, "zh", **only)
            assert list(ids) == want
            assert (
                list(contact_list(actor=actor, search="zh", **only).values_list("pk", flat=True))
                == want
            )


def test_no_walk_where_the_plain_list_is_as_quick(world: Any, people: list[Contact]) -> None:
    admin = world.admin
    assert contact_list_ids(actor=admin, search="") is None
    assert contact_list_ids(actor=admin, search="zh", ordering="name_key") is None
    assert contact_list_ids(actor=admin, search="someone@example.com") is None
    assert contact_list_ids(actor=admin, search="138 0013 8000") is None
    assert contact_list_ids(actor=admin, search="%") is None  # no key: the list is empty
    assert list(contact_list(actor=admin, search="%")) == []


def _page_ids(response: Any) -> list[int]:
    """The contacts of a list page in their order (each row links its record page once)."""
    html = response.content.decode()
    body = html[html.index("<tbody") : html.index("</tbody>")]
    seen: list[int] = []
    for pk in map(int, re.findall(r'href="/contacts/(\d+)/"', body)):
        if pk not in seen:
            seen.append(pk)
    return seen


@pytest.mark.parametrize("who", ["admin", "manager", "sales", "viewer"])
def test_list_pages_of_a_search_show_each_visible_match_once_in_order(
    world: Any, people: list[Contact], who: str
) -> None:
    actor = getattr(world, who)
    client = client_for(actor)
    want = expected_ids(actor, "zh")
    assert len(want) > 25
    shown: list[int] = []
    page_no = 1
    while True:
        response = client.get(
            "/contacts/", {"q": "zh", "page": str(page_no), "per": "25"}, HTTP_ACCEPT_LANGUAGE="en"
        )
        assert response.status_code == 200
        rows = _page_ids(response)
        if not rows:
            break
        first = (page_no - 1) * 25 + 1
        assert f"{first}{RANGE}{first + len(rows) - 1} of {len(want)}" in response.content.decode()
        shown += rows
        page_no += 1
    assert shown == want
    reverse = client.get("/contacts/", {"q": "zh", "sort": "id", "per": "100"})
    assert _page_ids(reverse) == sorted(want)[:100]


def test_a_page_past_the_count_limit_says_many_without_counting(
    world: Any, people: list[Contact], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("crm.core.pagination.EXACT_COUNT_LIMIT", 30)
    client = client_for(world.admin)
    want = expected_ids(world.admin, "zh")
    assert len(want) > 60
    with CaptureQueriesContext(connection) as queries:
        response = client.get(
            "/contacts/", {"q": "zh", "page": "2", "per": "25"}, HTTP_ACCEPT_LANGUAGE="en"
        )
    assert _page_ids(response) == want[25:50]
    assert f"26{RANGE}50 of many" in response.content.decode()
    assert not any("COUNT(" in q["sql"] for q in queries.captured_queries)
    # Before the limit the list still counts (bounded), and says "many" past it.
    first = client.get("/contacts/", {"q": "zh", "per": "25"}, HTTP_ACCEPT_LANGUAGE="en")
    assert _page_ids(first) == want[:25]
    assert f"1{RANGE}25 of many" in first.content.decode()
