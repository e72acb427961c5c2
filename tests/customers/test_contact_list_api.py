"""The contact list API: its fast path answers exactly what the validated detail answers, and
`count` is exact, free at the end of a list, bounded, and "many" is not recounted every call."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crm.core import pagination
from crm.customers.models import Contact, Tag
from crm.customers.services import account_create, contact_create, tag_create
from tests.api.support import Api, make_token


@pytest.fixture(autouse=True)
def fresh_counts():
    """Cached counts are keyed by SQL, and test databases reuse tenant ids: start and end clean."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def admin_api(world) -> Api:
    return Api(make_token(world.admin))


def get(api: Api, path: str, **params: object) -> dict:
    response = api.get(path, **params)
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json; charset=utf-8"
    return json.loads(response.content)


def count_queries(api: Api, path: str, **params: object) -> tuple[dict, list[str]]:
    with CaptureQueriesContext(connection) as queries:
        page = get(api, path, **params)
    return page, [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"]]


@pytest.mark.parametrize("scopes", [("read", "pii"), ("read",)])
def test_every_list_item_is_the_contact_detail_answer(world, scopes) -> None:
    vip = tag_create(actor=world.admin, name="VIP")
    beijing = tag_create(actor=world.admin, name="北京")
    account = account_create(actor=world.admin, values={"name": "Acme 艾克米"})
    full = contact_create(
        actor=world.admin,
        values={
            "name": "张三",
            "title": "采购经理",
            "email": "Zhang.San@Example.com",
            "phone": "138 0013 8000",
            "id_number": "110101199003071234",
            "wechat": "zhangsan_wx",
            "city": "北京",
            "preferred_channel": "wechat",
            "consent_email": True,
            "consent_wechat": True,
            "external_id": "ERP-1",
        },
        account_id=account.pk,
        owner_id=world.sales.pk,
        tag_ids=[beijing.pk, vip.pk],
    )
    Contact.objects.filter(pk=full.pk).update(
        last_activity_at=datetime(2026, 5, 4, 3, 2, 1, 123456, tzinfo=UTC)
    )
    contact_create(actor=world.admin, values={"name": "John Smith"})
    api = Api(make_token(world.admin, scopes))

    listed = get(api, "/contacts")["items"]

    assert [item["name"] for item in listed] == ["John Smith", "张三"]
    for item in listed:
        detail = get(api, f"/contacts/{item['id']}")
        assert item == detail
        assert list(item) == list(detail)  # same fields, same order
    zhang = listed[1]
    assert zhang["tag_ids"] == sorted([vip.pk, beijing.pk])
    assert (zhang["account_id"], zhang["owner_id"]) == (account.pk, world.sales.pk)
    assert zhang["preferred_channel"] == "wechat"
    assert zhang["last_activity_at"] == "2026-05-04T03:02:01.123Z"
    if "pii" in scopes:
        assert (zhang["email"], zhang["phone"]) == ("zhang.san@example.com", "+8613800138000")
    else:
        assert (zhang["email"], zhang["phone"]) == ("z***@example.com", "+86138****8000")
        assert zhang["id_number"] == "110***********1234"


def test_list_items_follow_filters_visibility_and_deep_offsets(world) -> None:
    tag = tag_create(actor=world.admin, name="VIP")
    mine = contact_create(actor=world.sales, values={"name": "Mine"}, tag_ids=[tag.pk])
    contact_create(actor=world.sales2, values={"name": "Theirs"})
    sales = Api(make_token(world.sales))

    assert [c["id"] for c in get(sales, "/contacts")["items"]] == [mine.pk]
    assert [c["id"] for c in get(sales, "/contacts", tag_id=tag.pk)["items"]] == [mine.pk]
    assert get(sales, "/contacts", search="*", offset=10)["count"] == 0  # matches nothing
    assert get(sales, "/contacts", offset=5000) == {
        "items": [],
        "count": 1,
        "has_more": False,
        "offset": 5000,
        "limit": 50,
    }


def test_count_is_free_when_the_page_reaches_the_end(world, admin_api) -> None:
    for i in range(3):
        contact_create(actor=world.admin, values={"name": f"C{i}"})

    page, counts = count_queries(admin_api, "/contacts", limit=5)
    assert (page["count"], page["has_more"], counts) == (3, False, [])

    page, counts = count_queries(admin_api, "/contacts", limit=2)
    assert (page["count"], page["has_more"], len(counts)) == (3, True, 1)

    page, counts = count_queries(admin_api, "/contacts", limit=2, offset=2)
    assert (page["count"], page["has_more"], counts) == (3, False, [])


def test_exact_counts_are_always_fresh(world, admin_api) -> None:
    for i in range(3):
        contact_create(actor=world.admin, values={"name": f"C{i}"})
    assert get(admin_api, "/contacts", limit=1)["count"] == 3
    contact_create(actor=world.admin, values={"name": "C3"})
    assert get(admin_api, "/contacts", limit=1)["count"] == 4


def test_large_counts_are_bounded_and_not_recounted_on_every_page(world) -> None:
    # Tags are the cheapest rows to make by the thousand; the paginator is the same for all.
    Tag.objects.bulk_create(
        Tag(tenant_id=world.tenant.pk, name=f"t{i:05}")
        for i in range(pagination.EXACT_COUNT_LIMIT + 1)
    )
    tags = Tag.objects.order_by("name")

    first = pagination.paginate(tags, offset=0, limit=10, with_count=True)
    assert (first.count, first.has_more, [t.name for t in first.items][:2]) == (
        None,
        True,
        ["t00000", "t00001"],
    )
    with CaptureQueriesContext(connection) as queries:
        deep = pagination.paginate(tags.values("id", "name"), offset=5000, limit=3, with_count=True)
    assert [row["name"] for row in deep.items] == ["t05000", "t05001", "t05002"]
    assert not any("COUNT(" in q["sql"] for q in queries.captured_queries)  # cached: "many"
    assert deep.count is None

    fewer = Tag.objects.filter(name__lt="t09999")
    assert pagination.paginate(fewer, offset=0, limit=10, with_count=True).count == 9999
    Tag.objects.filter(name="t00000").delete()
    assert pagination.paginate(fewer, offset=0, limit=10, with_count=True).count == 9998
