"""The OData v4 feed at /odata/v1/: documents, auth, query options, paging, PII and tenants."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.test import Client, override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm.core.api import mask_email, mask_id_number, mask_phone
from crm.core.context import tenant_context
from crm.tenancy.services import api_token_create, api_token_revoke
from tests.integrations.odata_support import Feed, basic, build_feed, fetch

ROOT = "/odata/v1/"
EDM = {"edm": "http://docs.oasis-open.org/odata/ns/edm"}
SETS = (
    "Accounts",
    "Contacts",
    "Leads",
    "Opportunities",
    "StageChanges",
    "Activities",
    "Orders",
    "OrderLines",
)


@pytest.fixture
def feed(world: Any) -> Feed:
    return build_feed(world)


@pytest.fixture
def client() -> Client:
    return Client()


def rows(client: Client, token: str, entity_set: str, **params: Any) -> list[dict[str, Any]]:
    status, body, _r = fetch(client, ROOT + entity_set, token, params)
    assert status == 200, body
    assert "@odata.nextLink" not in body
    return list(body["value"])


def follow(client: Client, url: str, token: str, **headers: Any) -> tuple[list[Any], int]:
    """Every row of a collection by following @odata.nextLink; (rows, pages)."""
    found: list[Any] = []
    pages = 0
    while url:
        parts = urlsplit(url)
        status, body, _r = fetch(
            client, parts.path + ("?" + parts.query if parts.query else ""), token, **headers
        )
        assert status == 200, body
        found.extend(body["value"])
        pages += 1
        url = body.get("@odata.nextLink", "")
    return found, pages


# --- documents ----------------------------------------------------------------------------------


def test_service_document_lists_every_entity_set(client: Client, feed: Feed) -> None:
    status, body, response = fetch(client, ROOT, feed.token)
    assert status == 200
    assert response["OData-Version"] == "4.0"
    assert response["Content-Type"].startswith("application/json;odata.metadata=minimal")
    assert body["@odata.context"] == "http://testserver/odata/v1/$metadata"
    assert [(s["name"], s["url"], s["kind"]) for s in body["value"]] == [
        (name, name, "EntitySet") for name in SETS
    ]


def test_metadata_declares_keys_and_edm_types(client: Client, feed: Feed) -> None:
    status, text, response = fetch(client, ROOT + "$metadata", feed.token)
    assert status == 200
    assert response["Content-Type"].startswith("application/xml")
    assert response["OData-Version"] == "4.0"
    doc = ET.fromstring(text)
    schema = doc.find("edmx:DataServices/edm:Schema", {"edmx": doc.tag[1:].split("}")[0], **EDM})
    assert schema is not None
    container = schema.find("edm:EntityContainer", EDM)
    assert container is not None
    assert [e.get("Name") for e in container.findall("edm:EntitySet", EDM)] == list(SETS)

    def prop(entity: str, name: str) -> dict[str, str]:
        node = schema.find(f"edm:EntityType[@Name='{entity}']/edm:Property[@Name='{name}']", EDM)
        assert node is not None, (entity, name)
        return dict(node.attrib)

    for entity in ("Account", "Contact", "Lead", "Opportunity", "Order", "OrderLine"):
        key = schema.find(f"edm:EntityType[@Name='{entity}']/edm:Key/edm:PropertyRef", EDM)
        assert key is not None and key.get("Name") == "Id"
        assert prop(entity, "Id")["Type"] == "Edm.Int64"
        assert prop(entity, "Id")["Nullable"] == "false"
    assert prop("Contact", "Name") == {
        "Name": "Name",
        "Type": "Edm.String",
        "Nullable": "false",
        "MaxLength": "200",
    }
    assert prop("Contact", "AccountId")["Nullable"] == "true"
    assert prop("Contact", "ConsentEmail")["Type"] == "Edm.Boolean"
    assert prop("Contact", "CreatedAt")["Type"] == "Edm.DateTimeOffset"
    assert prop("Opportunity", "Amount") == {
        "Name": "Amount",
        "Type": "Edm.Decimal",
        "Nullable": "false",
        "Precision": "14",
        "Scale": "2",
    }
    assert prop("Opportunity", "ExpectedCloseDate")["Type"] == "Edm.Date"
    assert prop("Opportunity", "Probability")["Type"] == "Edm.Int32"
    assert prop("Activity", "RecordId")["Type"] == "Edm.Int64"


# --- auth ---------------------------------------------------------------------------------------


def test_credentials_are_required_and_basic_carries_the_token(
    client: Client, world: Any, feed: Feed
) -> None:
    status, body, response = fetch(client, ROOT + "Contacts", None)
    assert status == 401
    assert body["error"]["code"] == "Unauthorized"
    assert response["WWW-Authenticate"].startswith("Basic")
    assert fetch(client, ROOT + "Contacts", "crm_not-a-token")[0] == 401
    status, body, _r = fetch(client, ROOT + "Contacts", None, HTTP_AUTHORIZATION=basic(feed.token))
    assert status == 200 and len(body["value"]) == 30
    wrong = basic("crm_wrong")
    assert fetch(client, ROOT + "Contacts", None, HTTP_AUTHORIZATION=wrong)[0] == 401
    assert fetch(client, ROOT + "Contacts", None, HTTP_AUTHORIZATION="Basic %%%")[0] == 401

    _write_only, secret = api_token_create(actor=world.admin, name="w", scopes=("write",))
    status, body, _r = fetch(client, ROOT + "Contacts", secret)
    assert status == 403 and body["error"]["code"] == "Forbidden"
    token, secret = api_token_create(actor=world.admin, name="r", scopes=("read",))
    assert fetch(client, ROOT + "Contacts", secret)[0] == 200
    api_token_revoke(actor=world.admin, token_id=token.pk)
    assert fetch(client, ROOT + "Contacts", secret)[0] == 401


def test_the_feed_is_read_only(client: Client, feed: Feed) -> None:
    headers = {"Authorization": f"Bearer {feed.token}"}
    for method in (client.post, client.patch, client.put, client.delete):
        response = method(ROOT + "Contacts", headers=headers)
        assert response.status_code == 405
        assert response.json()["error"]["code"] == "MethodNotAllowed"


def test_requests_are_rate_limited_per_token(client: Client, feed: Feed) -> None:
    with override_settings(API_RATE_LIMIT="3/m"):
        statuses = [fetch(client, ROOT + "Accounts", feed.pii_token)[0] for _ in range(5)]
        status, body, response = fetch(client, ROOT + "Accounts", feed.pii_token)
    assert statuses[:3] == [200, 200, 200]
    assert status == 429 and body["error"]["code"] == "TooManyRequests"
    assert int(response["Retry-After"]) >= 1


# --- personal data, visibility, tenants ---------------------------------------------------------


def test_personal_data_is_masked_without_the_pii_scope(client: Client, feed: Feed) -> None:
    person = feed.contacts[7]
    masked = rows(client, feed.token, "Contacts", **{"$filter": f"Id eq {person.pk}"})
    clear = rows(client, feed.pii_token, "Contacts", **{"$filter": f"Id eq {person.pk}"})
    assert masked[0]["Email"] == mask_email("person7@example.com") != "person7@example.com"
    assert masked[0]["Phone"] == mask_phone(person.phone) != person.phone
    assert masked[0]["IdNumber"] == mask_id_number(person.id_number) != person.id_number
    assert (clear[0]["Email"], clear[0]["Phone"], clear[0]["IdNumber"]) == (
        "person7@example.com",
        person.phone,
        person.id_number,
    )
    status, one, _r = fetch(client, f"{ROOT}Contacts({person.pk})", feed.token)
    assert status == 200 and one["Email"] == masked[0]["Email"]
    lead = rows(client, feed.token, "Leads", **{"$select": "Email", "$top": "1"})[0]
    assert lead["Email"].startswith("l***@")
    # Encrypted values cannot be searched: refused, never guessed at.
    for option in ({"$filter": "Email eq 'person7@example.com'"}, {"$orderby": "Phone"}):
        status, body, _r = fetch(client, ROOT + "Contacts", feed.pii_token, option)
        assert status == 400 and "encrypted" in body["error"]["message"]
    status, body, _r = fetch(
        client,
        ROOT + "Contacts",
        feed.pii_token,
        {"$orderby": "Phone"},
        HTTP_ACCEPT_LANGUAGE="zh-hans",
    )
    assert status == 400 and "加密" in body["error"]["message"]


def test_a_sales_rep_sees_only_own_records(client: Client, world: Any, feed: Feed) -> None:
    mine = {c.pk for c in feed.contacts if c.owner_id == world.sales.pk}
    assert {r["Id"] for r in rows(client, feed.sales_token, "Contacts")} == mine
    orders = {o.pk for o in feed.orders if o.owner_id == world.sales.pk}
    assert {r["Id"] for r in rows(client, feed.sales_token, "Orders")} == orders
    lines = rows(client, feed.sales_token, "OrderLines")
    assert {r["OrderId"] for r in lines} == orders
    other = next(c for c in feed.contacts if c.owner_id != world.sales.pk)
    assert fetch(client, f"{ROOT}Contacts({other.pk})", feed.sales_token)[0] == 404


def test_another_tenant_sees_nothing_of_this_one(
    client: Client, world: Any, feed: Feed, other_world: Any
) -> None:
    with tenant_context(other_world.tenant.pk):
        _t, theirs = api_token_create(actor=other_world.admin, name="b", scopes=("read", "pii"))
    for entity_set in SETS:
        assert rows(client, theirs, entity_set) == [], entity_set
        assert fetch(client, f"{ROOT}{entity_set}/$count", theirs)[1] == "0"
    for record, entity_set in (
        (feed.contacts[0], "Contacts"),
        (feed.accounts[0], "Accounts"),
        (feed.opportunities[0], "Opportunities"),
        (feed.orders[0], "Orders"),
        (feed.leads[0], "Leads"),
    ):
        status, body, _r = fetch(client, f"{ROOT}{entity_set}({record.pk})", theirs)
        assert status == 404 and body["error"]["code"] == "NotFound"
        assert fetch(client, f"{ROOT}{entity_set}({record.pk})", feed.token)[0] == 200
        found = rows(client, theirs, entity_set, **{"$filter": f"Id eq {record.pk}"})
        assert found == []


# --- query options ------------------------------------------------------------------------------


def test_select_returns_only_the_named_properties(client: Client, feed: Feed) -> None:
    status, body, _r = fetch(client, ROOT + "Contacts", feed.token, {"$select": "Name,City"})
    assert status == 200
    assert body["@odata.context"].endswith("$metadata#Contacts(Name,City)")
    assert all(set(row) == {"Name", "City"} for row in body["value"])
    assert sorted(r["Name"] for r in body["value"]) == sorted(c.name for c in feed.contacts)


def test_values_are_typed_as_the_metadata_says(client: Client, feed: Feed) -> None:
    opp = feed.opportunities[1]
    status, body, _r = fetch(client, f"{ROOT}Opportunities({opp.pk})", feed.token)
    assert status == 200
    assert body["@odata.context"].endswith("$metadata#Opportunities/$entity")
    assert body["Id"] == opp.pk and body["Name"] == "Deal 1"
    assert Decimal(str(body["Amount"])) == Decimal("2500.50")
    assert body["ExpectedCloseDate"] == "2026-02-15"
    assert body["CreatedAt"].endswith("Z")
    assert isinstance(body["StageIsWon"], bool)
    status, body, _r = fetch(
        client,
        f"{ROOT}Opportunities({opp.pk})",
        feed.token,
        HTTP_ACCEPT="application/json;odata.metadata=minimal;IEEE754Compatible=true",
    )
    assert body["Amount"] == "2500.50" and body["Id"] == str(opp.pk)


def test_orderby_top_skip_and_count(client: Client, feed: Feed) -> None:
    expected = sorted(feed.contacts, key=lambda c: (c.title, -c.pk))
    ordered = rows(client, feed.token, "Contacts", **{"$orderby": "Title asc, Id desc"})
    assert [r["Id"] for r in ordered] == [c.pk for c in expected]
    window = rows(
        client, feed.token, "Contacts", **{"$orderby": "Title,Id desc", "$top": 5, "$skip": 3}
    )
    assert [r["Id"] for r in window] == [c.pk for c in expected[3:8]]
    _status, body, _r = fetch(
        client,
        ROOT + "Contacts",
        feed.token,
        {"$count": "true", "$top": "2", "$filter": "Title eq 'Manager'"},
    )
    managers = [c for c in feed.contacts if c.title == "Manager"]
    assert body["@odata.count"] == len(managers) and len(body["value"]) == 2
    assert fetch(client, ROOT + "Contacts/$count", feed.token)[1] == "30"
    _status, text, response = fetch(
        client, ROOT + "Contacts/$count", feed.token, {"$filter": "Title eq 'Manager'"}
    )
    assert text == str(len(managers)) and response["Content-Type"].startswith("text/plain")
    assert rows(client, feed.token, "Contacts", **{"$top": "0"}) == []


def _ids(client: Client, token: str, entity_set: str, expression: str) -> set[int]:
    return {r["Id"] for r in rows(client, token, entity_set, **{"$filter": expression})}


def test_every_filter_operator(client: Client, feed: Feed) -> None:
    people = feed.contacts
    opps = feed.opportunities
    leads = feed.leads

    def ids(items: Any) -> set[int]:
        return {item.pk for item in items}

    def check(entity_set: str, expression: str, expected: set[int]) -> None:
        assert _ids(client, feed.token, entity_set, expression) == expected, expression

    check("Contacts", "City eq '上海'", ids(c for c in people if c.city == "上海"))
    check("Contacts", "City ne '上海'", ids(c for c in people if c.city != "上海"))
    check("Contacts", "'上海' eq City", ids(c for c in people if c.city == "上海"))
    check("Accounts", "Name eq 'O''Brien & Co'", {feed.accounts[1].pk})
    check("Leads", "Score gt 34", ids(x for x in leads if x.pk and leads.index(x) * 17 > 34))
    check("Leads", "Score ge 34", ids(x for x in leads if leads.index(x) * 17 >= 34))
    check("Leads", "Score lt 34", ids(x for x in leads if leads.index(x) * 17 < 34))
    check("Leads", "Score le 34", ids(x for x in leads if leads.index(x) * 17 <= 34))
    check("Leads", "34 lt Score", ids(x for x in leads if leads.index(x) * 17 > 34))
    check(
        "Opportunities", "Amount ge 3751.5", ids(o for o in opps if o.amount >= Decimal("3751.5"))
    )
    check("Opportunities", "Amount lt 2500", ids(o for o in opps if o.amount < 2500))
    check(
        "Opportunities",
        "ExpectedCloseDate le 2026-03-15",
        ids(o for o in opps if str(o.expected_close_date) <= "2026-03-15"),
    )
    check("Contacts", "ConsentEmail eq true", ids(c for c in people if c.consent_email))
    check("Contacts", "ConsentEmail", ids(c for c in people if c.consent_email))
    check("Contacts", "not ConsentEmail", ids(c for c in people if not c.consent_email))
    check("Contacts", "AccountId eq null", ids(c for c in people if c.account_id is None))
    check("Contacts", "AccountId ne null", ids(c for c in people if c.account_id is not None))
    check(
        "Contacts",
        "City eq '北京' and Title eq 'Manager'",
        ids(c for c in people if c.city == "北京" and c.title == "Manager"),
    )
    check(
        "Contacts",
        "City eq '北京' or Title eq 'Manager' and ConsentEmail eq false",
        ids(
            c for c in people if c.city == "北京" or (c.title == "Manager" and not c.consent_email)
        ),
    )
    check(
        "Contacts",
        "(City eq '北京' or Title eq 'Manager') and ConsentEmail eq false",
        ids(
            c for c in people if (c.city == "北京" or c.title == "Manager") and not c.consent_email
        ),
    )
    check(
        "Contacts",
        "not (City eq '北京' or City eq '')",
        ids(c for c in people if c.city not in ("北京", "")),
    )
    check("Contacts", "contains(Name,'Person1')", ids(c for c in people if "Person1" in c.name))
    check("Contacts", "startswith(Name, '张')", ids(c for c in people if c.name.startswith("张")))
    check("Contacts", "endswith(Name,'Person3')", ids(c for c in people if c.name.endswith("n3")))
    check(
        "Contacts",
        "not contains(Name,'Person1') and startswith(Name,'王')",
        ids(c for c in people if "Person1" not in c.name and c.name.startswith("王")),
    )
    order_at = feed.orders[1].ordered_at
    check("Orders", f"OrderedAt ge {order_at.isoformat()}", ids(feed.orders[1:]))
    check("Orders", "OrderedAt lt 2026-03-11T08:00:00Z", {feed.orders[0].pk})
    check("Orders", "OrderedAt lt 2026-03-11T16:00:00+08:00", {feed.orders[0].pk})
    # A "+" left unencoded in a URL arrives as a space; the offset is still understood.
    status, body, _r = fetch(
        client, ROOT + "Orders?$filter=OrderedAt%20lt%202026-03-11T16:00:00+08:00", feed.token
    )
    assert status == 200 and [r["Id"] for r in body["value"]] == [feed.orders[0].pk]
    check("Orders", "OrderedAt gt 2026-03-12", ids(feed.orders[2:]))
    check("Contacts", "CreatedAt gt 2000-01-01T00:00:00.000Z", ids(people))
    check("StageChanges", f"OpportunityId eq {opps[2].pk}", set(_stage_changes(opps[2])))


def _stage_changes(opportunity: Any) -> list[int]:
    return list(opportunity.stage_changes.values_list("pk", flat=True))


@override_settings(ODATA_PAGE_SIZE=7)
@pytest.mark.parametrize(
    "params",
    [
        {},
        {"$orderby": "City desc,Name"},  # non-null keys: keyset paging
        {"$orderby": "AccountId desc"},  # a nullable key: offset paging
        {"$filter": "ConsentEmail eq true", "$select": "Id,Name"},
        {"$skip": "4", "$orderby": "Title"},
    ],
)
def test_next_links_return_every_row_exactly_once(
    client: Client, feed: Feed, params: dict[str, str]
) -> None:
    status, first, _r = fetch(client, ROOT + "Contacts", feed.token, params)
    assert status == 200 and len(first["value"]) == 7
    found, pages = follow(client, first["@odata.nextLink"], feed.token)
    ids = [r["Id"] for r in first["value"] + found]
    expected = [c.pk for c in feed.contacts if "$filter" not in params or c.consent_email]
    skip = int(params.get("$skip", "0"))
    assert len(ids) == len(set(ids)) == len(expected) - skip
    assert set(ids) <= set(expected)
    assert pages == -(-(len(expected) - skip) // 7) - 1
    whole = rows_with_bigger_page(client, feed, params)
    assert ids == whole  # the pages, joined, are the one ordered result


def rows_with_bigger_page(client: Client, feed: Feed, params: dict[str, str]) -> list[int]:
    with override_settings(ODATA_PAGE_SIZE=1000):
        return [r["Id"] for r in rows(client, feed.token, "Contacts", **params)]


def test_top_is_kept_across_pages_and_prefer_sets_the_page_size(client: Client, feed: Feed) -> None:
    first_url = f"http://testserver{ROOT}Contacts?$top=17&$orderby=Name desc"
    found, pages = follow(client, first_url, feed.token, HTTP_PREFER="odata.maxpagesize=5")
    assert len(found) == 17 and pages == 4
    names = sorted((c.name for c in feed.contacts), reverse=True)[:17]
    assert [r["Name"] for r in found] == names
    _s, _b, response = fetch(
        client, ROOT + "Contacts", feed.token, HTTP_PREFER="odata.maxpagesize=5"
    )
    assert response["Preference-Applied"] == "odata.maxpagesize=5"


# --- refusals -----------------------------------------------------------------------------------


REFUSALS: list[tuple[dict[str, str], str]] = [
    ({"$filter": "tolower(Name) eq 'x'"}, "UnsupportedFilter"),
    ({"$filter": "Name eq City"}, "UnsupportedFilter"),
    ({"$filter": "Secret eq 1"}, "InvalidFilter"),
    ({"$filter": "Name eq 1"}, "BadRequest"),
    ({"$filter": "ConsentEmail eq 'yes'"}, "BadRequest"),
    ({"$filter": "CreatedAt gt 2024-13-45"}, "BadRequest"),
    ({"$filter": "Name gt null"}, "InvalidFilter"),
    ({"$filter": "Name eq 'a' and"}, "InvalidFilter"),
    ({"$filter": "Name in ('a','b')"}, "InvalidFilter"),
    ({"$filter": "Id eq 99999999999999999999"}, "BadRequest"),
    ({"$filter": "AccountId add 1 eq 2"}, "InvalidFilter"),
    ({"$expand": "Account"}, "UnsupportedOption"),
    ({"$search": "x"}, "UnsupportedOption"),
    ({"$bogus": "1"}, "UnsupportedOption"),
    ({"$format": "xml"}, "UnsupportedFormat"),
    ({"$select": "Nope"}, "InvalidSelect"),
    ({"$orderby": "Name sideways"}, "InvalidOrderBy"),
    ({"$top": "-1"}, "BadRequest"),
    ({"$skip": "ten"}, "BadRequest"),
    ({"$count": "yes"}, "BadRequest"),
    ({"$skiptoken": "garbage!"}, "InvalidSkipToken"),
    ({"$skiptoken": "eyJrIjpbIngiXX0"}, "InvalidSkipToken"),  # {"k":["x"]}
]


def test_unsupported_or_bad_options_get_the_odata_error_body(client: Client, feed: Feed) -> None:
    for params, code in REFUSALS:
        status, body, response = fetch(client, ROOT + "Contacts", feed.token, params)
        assert status == 400, (params, body)
        assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
        assert body["error"]["code"] == code and body["error"]["message"], params
        assert response["OData-Version"] == "4.0"


UNKNOWN = [
    "Nothing",
    "contacts",
    "Contacts(99999999)",
    "Contacts(abc)",
    "Contacts(0)",
    "Contacts(1)/Name",
    "Contacts(99999999999999999999999)",
    "$batch",
    "a/b/c",
]


def test_unknown_sets_and_keys_are_404(client: Client, feed: Feed) -> None:
    for path in UNKNOWN:
        status, body, _r = fetch(client, ROOT + path, feed.token)
        assert status == 404 and body["error"]["code"] == "NotFound", path


MALFORMED = [
    "",
    " ",
    "(",
    ")",
    "((((Name eq 'a'",
    "Name eq 'unterminated",
    "not",
    "not not not",
    "and or",
    "Name eq",
    "eq 'x'",
    "Name eq 'a' or or Name eq 'b'",
    "contains(Name)",
    "contains(Name,",
    "contains('x',Name)",
    "contains(Name, 5)",
    "startswith(Id,'1')",
    "Id eq 1.5",
    "Id eq 1e400",
    "Amount eq 1e400",
    "Id gt -",
    "CreatedAt gt 2024-02-30T00:00:00Z",
    "CreatedAt gt 9999-12-31T23:59:59-01:00",
    "CreatedAt gt 0000-01-01",
    "Name eq 'a\x00b'",
    "Name eq 'a' $ 1",
    "Name/Length eq 1",
    "@x eq 1",
    "Id eq 1 " + "and Id eq 1 " * 400,
    "(" * 300 + "Id eq 1" + ")" * 300,
    "not " * 300 + "ConsentEmail",
    "Name eq '" + "x" * 5000 + "'",
    "true",
    "null eq null",
    "1 eq 1",
    "ConsentEmail eq true eq false",
]


def test_malformed_filters_are_refused_not_failed(client: Client, feed: Feed) -> None:
    for expression in MALFORMED:
        for entity_set in ("Contacts", "Opportunities"):
            params = {"$filter": expression}
            status, body, _r = fetch(client, ROOT + entity_set, feed.token, params)
            assert status == 400, (expression, body)
            assert body["error"]["code"] and body["error"]["message"]


FRAGMENTS = [
    "Name",
    "City",
    "Id",
    "Amount",
    "CreatedAt",
    "ConsentEmail",
    "AccountId",
    "Email",
    "eq",
    "ne",
    "gt",
    "le",
    "and",
    "or",
    "not",
    "(",
    ")",
    ",",
    "contains",
    "startswith",
    "'a'",
    "'上海'",
    "''",
    "'",
    "1",
    "-2.5",
    "1e3",
    "2026-01-01",
    "2026-01-01T00:00:00Z",
    "true",
    "null",
    "$",
    "/",
    "tolower",
    "in",
    " ",
    "  ",
    "\t",
    "%",
    "\u00e9",
    "9" * 25,
]


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(parts=st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=3), max_size=12))
def test_fuzzed_filters_answer_200_or_400(client: Client, feed: Feed, parts: list[str]) -> None:
    expression = " ".join(parts)
    status, body, _r = fetch(client, ROOT + "Contacts", feed.token, {"$filter": expression})
    assert status in (200, 400), (expression, status)
    if status == 400:
        assert set(body["error"]) == {"code", "message"}
