"""The account, lead and opportunity lists (like the contact list, see tests/customers) read
JSON-ready rows and skip per-row validation: every item must still be exactly the record's
detail answer (the validated path), whatever the values: microseconds or none, nulls, money,
JSON, masked or clear personal data, data encrypted under an older key."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.core.cache import cache
from django.db import connection

from crm.core import crypto
from crm.core.api import json_datetime, json_values
from crm.customers.models import Account, Contact
from crm.customers.services import account_create, contact_create, tag_create
from crm.sales.models import Lead, Opportunity
from crm.sales.services import lead_create, opportunity_create, pipeline_create, stage_create
from tests.api.support import Api, make_token

# Times whose rendering differs: microseconds shown as milliseconds, a fraction under a
# millisecond (".000"), and none at all.
WITH_MICROSECONDS = datetime(2026, 5, 4, 3, 2, 1, 123456, tzinfo=UTC)
UNDER_A_MILLISECOND = datetime(2026, 1, 2, 3, 4, 5, 500, tzinfo=UTC)
WHOLE_SECOND = datetime(2025, 12, 31, 23, 59, 59, tzinfo=UTC)


@pytest.fixture(autouse=True)
def fresh_counts():
    """Cached counts are keyed by SQL, and test databases reuse tenant ids: start and end clean."""
    cache.clear()
    yield
    cache.clear()


def get(api: Api, path: str, **params: object) -> Any:
    response = api.get(path, **params)
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json; charset=utf-8"
    return json.loads(response.content)


def assert_items_are_details(api: Api, path: str, expected: int) -> list[dict[str, Any]]:
    page = get(api, path)
    assert len(page["items"]) == expected
    for item in page["items"]:
        detail = get(api, f"{path}/{item['id']}")
        assert item == detail
        assert list(item) == list(detail)  # same fields, same order
    return page["items"]


@pytest.mark.parametrize("scopes", [("read", "pii"), ("read",)])
def test_every_lead_list_item_is_the_lead_detail_answer(world, scopes) -> None:
    vip = tag_create(actor=world.admin, name="VIP")
    hot = tag_create(actor=world.admin, name="热门")
    full = lead_create(
        actor=world.admin,
        values={
            "name": "王五",
            "company": "五金 Co",
            "title": "老板",
            "email": "Wang.Wu@Example.com",
            "phone": "138 0013 8000",
            "source": "web",
            "region": "华东",
            "notes": "多行\n备注",
            "consent": True,
        },
        owner_id=world.sales.pk,
        tag_ids=[vip.pk, hot.pk],
    )
    Lead.objects.filter(pk=full.pk).update(
        score_reasons=[{"rule": "source", "points": 10}, "联系过"],
        first_response_due_at=UNDER_A_MILLISECOND,
        last_interaction_at=WITH_MICROSECONDS,
        converted_at=WHOLE_SECOND,
    )
    lead_create(actor=world.admin, values={"name": "Bare"})
    api = Api(make_token(world.admin, scopes))

    items = assert_items_are_details(api, "/leads", expected=2)

    wang = next(item for item in items if item["id"] == full.pk)
    assert wang["tag_ids"] == sorted([vip.pk, hot.pk])
    assert wang["score_reasons"] == [{"rule": "source", "points": 10}, "联系过"]
    assert (wang["first_response_due_at"], wang["last_interaction_at"], wang["converted_at"]) == (
        "2026-01-02T03:04:05.000Z",
        "2026-05-04T03:02:01.123Z",
        "2025-12-31T23:59:59Z",
    )
    if "pii" in scopes:
        assert (wang["email"], wang["phone"]) == ("wang.wu@example.com", "+8613800138000")
    else:
        assert (wang["email"], wang["phone"]) == ("w***@example.com", "+86138****8000")


def test_every_opportunity_list_item_is_the_opportunity_detail_answer(world) -> None:
    pipeline = pipeline_create(actor=world.admin, name="Sales")
    stage = stage_create(actor=world.admin, pipeline_id=pipeline.pk, values={"name": "Open"})
    account = account_create(actor=world.admin, values={"name": "Acme 艾克米"})
    tag = tag_create(actor=world.admin, name="Q3")
    big = opportunity_create(
        actor=world.admin,
        values={"name": "大单", "amount": Decimal("1234.5"), "expected_close_date": "2026-09-30"},
        pipeline_id=pipeline.pk,
        stage_id=stage.pk,
        account_id=account.pk,
        owner_id=world.sales.pk,
        tag_ids=[tag.pk],
    )
    Opportunity.objects.filter(pk=big.pk).update(closed_at=WITH_MICROSECONDS)
    opportunity_create(
        actor=world.admin, values={"name": "Zero"}, pipeline_id=pipeline.pk, stage_id=stage.pk
    )
    api = Api(make_token(world.admin, ("read",)))

    items = assert_items_are_details(api, "/opportunities", expected=2)

    first = next(item for item in items if item["id"] == big.pk)
    assert (first["amount"], first["expected_close_date"]) == ("1234.50", "2026-09-30")
    assert (first["closed_at"], first["tag_ids"]) == ("2026-05-04T03:02:01.123Z", [tag.pk])
    zero = next(item for item in items if item["id"] != big.pk)
    assert (zero["amount"], zero["expected_close_date"], zero["closed_at"]) == ("0.00", None, None)


def test_every_account_list_item_is_the_account_detail_answer(world) -> None:
    tags = [tag_create(actor=world.admin, name=name) for name in ("b", "a")]
    acme = account_create(
        actor=world.admin,
        values={"name": "Acme 艾克米", "industry": "制造", "city": "北京", "phone": "010-1234"},
        owner_id=world.sales.pk,
        tag_ids=[tag.pk for tag in tags],
    )
    Account.objects.filter(pk=acme.pk).update(created_at=UNDER_A_MILLISECOND)
    account_create(actor=world.admin, values={"name": "Bare"})
    api = Api(make_token(world.admin, ("read",)))

    items = assert_items_are_details(api, "/accounts", expected=2)

    listed = next(item for item in items if item["id"] == acme.pk)
    assert listed["tag_ids"] == sorted(tag.pk for tag in tags)
    assert listed["created_at"] == "2026-01-02T03:04:05.000Z"


def test_lists_show_only_what_the_member_may_see(world) -> None:
    mine = lead_create(actor=world.sales, values={"name": "Mine"})
    lead_create(actor=world.sales2, values={"name": "Theirs"})
    account = account_create(actor=world.sales, values={"name": "Mine Co"})
    account_create(actor=world.sales2, values={"name": "Their Co"})
    api = Api(make_token(world.sales))

    assert [item["id"] for item in get(api, "/leads")["items"]] == [mine.pk]
    assert [item["id"] for item in get(api, "/accounts")["items"]] == [account.pk]


def test_json_values_are_what_the_orm_reads_rendered_as_json(world) -> None:
    contact = contact_create(
        actor=world.admin,
        values={"name": "李四", "email": "li@example.com", "consent_sms": True},
    )
    Contact.objects.filter(pk=contact.pk).update(
        created_at=WITH_MICROSECONDS, updated_at=UNDER_A_MILLISECOND, last_activity_at=None
    )
    columns = (
        "id",
        "email",
        "phone",
        "consent_sms",
        "created_at",
        "updated_at",
        "last_activity_at",
    )
    qs = Contact.objects.filter(pk=contact.pk).values(*columns)

    (orm,) = list(qs)
    (fast,) = list(json_values(qs))

    assert list(fast) == list(columns)
    assert fast == {
        name: json_datetime(value) if isinstance(value, datetime) else value
        for name, value in orm.items()
    }
    assert (fast["email"], fast["phone"], fast["consent_sms"]) == ("li@example.com", "", True)
    assert (fast["updated_at"], fast["last_activity_at"]) == ("2026-01-02T03:04:05.000Z", None)
    with pytest.raises(TypeError):
        json_values(Contact.objects.all())  # model rows, not .values()


def test_personal_data_under_an_older_key_still_reads_in_lists(world, monkeypatch) -> None:
    old = contact_create(actor=world.admin, values={"name": "Old", "email": "old@example.com"})
    keys = crypto.field_keys()
    rotated = {
        "active": "rotated",
        "keys": {
            **{kid: base64.b64encode(key).decode() for kid, key in keys.keys.items()},
            "rotated": base64.b64encode(bytes(range(32))).decode(),
        },
        "index_key": base64.b64encode(keys.index_key).decode(),
    }
    monkeypatch.setenv("CRM_FIELD_KEYS", json.dumps(rotated))
    crypto.field_keys.cache_clear()
    try:
        new = contact_create(actor=world.admin, values={"name": "New", "email": "new@example.com"})
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT id, email FROM customers_contact WHERE id IN (%s, %s)", [old.pk, new.pk]
            )
            key_ids = {pk: token.split(":")[1] for pk, token in cursor.fetchall()}
        assert key_ids == {old.pk: keys.active_key_id, new.pk: "rotated"}

        emails = {
            item["id"]: item["email"]
            for item in get(Api(make_token(world.admin)), "/contacts")["items"]
        }
        assert emails == {old.pk: "old@example.com", new.pk: "new@example.com"}
    finally:
        monkeypatch.delenv("CRM_FIELD_KEYS")
        crypto.field_keys.cache_clear()
