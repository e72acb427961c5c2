"""Lists: search, filters, sort, bounded pagination, chosen columns, saved views, bulk actions."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from crm.customers.models import Account
from crm.customers.services import account_create, contact_create, tag_create
from crm.sales.models import Lead
from crm.sales.services import lead_create
from crm.web.models import ListColumns, SavedView
from tests.web.conftest import client_for

# The pages write ranges with an en dash (U+2013) between the numbers.
RANGE = "\u2013"


def _names(response: Any, names: list[str]) -> list[str]:
    """The given names in the order they appear on the page."""
    html = response.content.decode()
    present = [n for n in names if n in html]
    return sorted(present, key=html.index)


def test_search_by_pinyin_initials_and_exact_phone(world: Any, sales_client: Client) -> None:
    contact_create(actor=world.sales, values={"name": "张三", "phone": "13800138000"})
    contact_create(actor=world.sales, values={"name": "李四"})
    for query in ("zs", "zhangsan", "张", "138 0013 8000"):
        response = sales_client.get("/contacts/", {"q": query})
        assert _names(response, ["张三", "李四"]) == ["张三"], query


def test_filters_and_sort(world: Any, sales_client: Client) -> None:
    for name in ("Beta", "Alpha", "Gamma"):
        account_create(actor=world.sales, values={"name": name, "city": "上海"})
    account_create(actor=world.sales, values={"name": "Delta", "city": "北京"})
    up = sales_client.get("/accounts/", {"city": "上海", "sort": "name_key"})
    assert _names(up, ["Alpha", "Beta", "Delta", "Gamma"]) == ["Alpha", "Beta", "Gamma"]
    down = sales_client.get("/accounts/", {"city": "上海", "sort": "-name_key"})
    assert _names(down, ["Alpha", "Beta", "Gamma"]) == ["Gamma", "Beta", "Alpha"]
    injected = sales_client.get("/accounts/", {"sort": "name_key; DROP TABLE x"})
    assert injected.status_code == 200


def test_pages_count_exactly_when_few_and_say_many_when_not(
    world: Any,
    sales_client: Client,
    monkeypatch: pytest.MonkeyPatch,
    django_assert_max_num_queries: Any,
) -> None:
    for i in range(30):
        account_create(actor=world.sales, values={"name": f"Company {i:02d}"})
    first = sales_client.get(
        "/accounts/", {"per": 25, "HTTP_ACCEPT_LANGUAGE": "en"}, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert f"1{RANGE}25 of 30" in first.content.decode() and 'rel="next"' in first.content.decode()
    second = sales_client.get("/accounts/", {"per": 25, "page": 2}, HTTP_ACCEPT_LANGUAGE="en")
    assert f"26{RANGE}30 of 30" in second.content.decode()
    assert 'rel="next"' not in second.content.decode()
    monkeypatch.setattr("crm.core.pagination.EXACT_COUNT_LIMIT", 10)
    many = sales_client.get("/accounts/", HTTP_ACCEPT_LANGUAGE="en")
    assert f"1{RANGE}25 of many" in many.content.decode()
    with django_assert_max_num_queries(12):
        sales_client.get("/accounts/", {"per": 100})


def test_htmx_search_answers_only_the_table(world: Any, sales_client: Client) -> None:
    account_create(actor=world.sales, values={"name": "星辰科技"})
    response = sales_client.get("/accounts/", {"q": "xc"}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert "<html" not in html and "星辰科技" in html


def test_chosen_columns_are_remembered_per_member(world: Any, sales_client: Client) -> None:
    account_create(actor=world.sales, values={"name": "星辰科技", "industry": "软件"})
    response = sales_client.post(
        "/accounts/columns/", {"columns": ["name", "industry", "bogus"], "next": "/accounts/"}
    )
    assert response.status_code == 302
    assert ListColumns.objects.get(membership=world.sales).columns == ["name", "industry"]
    mine = sales_client.get("/accounts/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    head = mine.split("<thead>", 1)[1].split("</thead>", 1)[0]
    assert "Industry" in head and "City" not in head
    theirs = client_for(world.manager).get("/accounts/", HTTP_ACCEPT_LANGUAGE="en")
    head = theirs.content.decode().split("<thead>", 1)[1].split("</thead>", 1)[0]
    assert "City" in head


def test_saved_views_keep_only_list_parameters(world: Any, sales_client: Client) -> None:
    response = sales_client.post(
        "/leads/views/", {"name": "新线索", "query": "status=new&q=wang&evil=<x>&sort=-score"}
    )
    view = SavedView.objects.get(membership=world.sales, list_name="lead")
    assert view.query == "q=wang&status=new&sort=-score" or set(view.query.split("&")) == {
        "status=new",
        "q=wang",
        "sort=-score",
    }
    assert response["Location"] == f"/leads/?{view.query}"
    assert "新线索" in sales_client.get("/leads/").content.decode()
    other = client_for(world.sales2)
    assert other.post(f"/views/{view.pk}/delete/").status_code == 404
    assert sales_client.post(f"/views/{view.pk}/delete/").status_code == 302
    assert not SavedView.objects.exists()


def test_bulk_actions_ask_for_confirmation_then_apply(world: Any, manager_client: Client) -> None:
    leads = [lead_create(actor=world.sales, values={"name": f"线索{i}"}) for i in range(3)]
    ids = [str(lead.pk) for lead in leads[:2]]
    ask = manager_client.post(
        "/leads/bulk/", {"ids": ids, "action": "owner", "owner": world.manager.pk}
    )
    assert ask.status_code == 200 and "线索0" in ask.content.decode()
    assert set(Lead.objects.values_list("owner_id", flat=True)) == {world.sales.pk}
    done = manager_client.post(
        "/leads/bulk/", {"ids": ids, "action": "owner", "owner": world.manager.pk, "confirm": "1"}
    )
    assert done.status_code == 302
    assert sorted(Lead.objects.filter(owner=world.manager).values_list("pk", flat=True)) == sorted(
        int(i) for i in ids
    )
    tag = tag_create(actor=world.manager, name="VIP")
    manager_client.post(
        "/leads/bulk/", {"ids": ids, "action": "tag", "tag": tag.pk, "confirm": "1"}
    )
    assert all(tag in lead.tags.all() for lead in Lead.objects.filter(pk__in=ids))
    manager_client.post("/leads/bulk/", {"ids": ids, "action": "delete", "confirm": "1"})
    assert list(Lead.objects.filter(deleted_at__isnull=True).values_list("name", flat=True)) == [
        "线索2"
    ]


def test_bulk_actions_skip_what_the_member_may_not_touch(world: Any, sales_client: Client) -> None:
    mine = account_create(actor=world.sales, values={"name": "mine"})
    theirs = account_create(actor=world.sales2, values={"name": "theirs"})
    response = sales_client.post(
        "/accounts/bulk/", {"ids": [mine.pk, theirs.pk], "action": "delete", "confirm": "1"}
    )
    assert response.status_code == 302
    assert Account.objects.get(pk=mine.pk).deleted_at is not None
    assert Account.objects.get(pk=theirs.pk).deleted_at is None
    refused = sales_client.post(
        "/accounts/bulk/",
        {"ids": [theirs.pk], "action": "owner", "owner": world.sales2.pk, "confirm": "1"},
    )
    assert refused.status_code == 302
    assert Account.objects.get(pk=theirs.pk).owner_id == world.sales2.pk


def test_a_viewer_gets_no_write_controls(world: Any) -> None:
    account_create(actor=world.sales, values={"name": "星辰科技"})
    viewer = client_for(world.viewer)
    html = viewer.get("/accounts/").content.decode()
    assert "/accounts/new/" not in html and "bulk-bar" not in html
    assert viewer.get("/accounts/new/").status_code == 403


def test_a_deep_page_of_a_search_shows_the_right_rows(world: Any, sales_client: Client) -> None:
    """Past 1,000 rows the list reads ids first, then loads that page's rows: same rows, same
    order, same visibility as walking the list."""
    from crm.customers.models import Contact
    from crm.customers.services import apply_name_keys

    rows = []
    for i in range(1030):
        owner = world.sales2 if i % 100 == 7 else world.sales  # another team's: never shown
        contact = Contact(tenant=world.tenant, name=f"张{i:04d}", owner=owner)
        apply_name_keys(contact, contact.name)
        rows.append(contact)
    rows.append(Contact(tenant=world.tenant, name="李四", owner=world.sales))
    apply_name_keys(rows[-1], rows[-1].name)
    Contact.objects.bulk_create(rows)
    mine = [r.name for r in rows if r.owner == world.sales and r.name.startswith("张")]
    assert len(mine) == 1019
    # newest first: page 41 of 25 starts at row 1,001 and holds the 19 oldest of mine
    response = sales_client.get("/contacts/", {"q": "zhang", "page": 41, "per": 25})
    expected = list(reversed(mine))[1000:]
    assert _names(response, [*mine, "李四"]) == expected
    assert f"1001{RANGE}1019" in response.content.decode()
