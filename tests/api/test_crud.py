"""Happy paths and errors of the API, resource by resource, as a client would see them."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from crm.activities.models import Activity
from crm.core.context import tenant_context
from crm.customers.models import Contact
from crm.customers.services import account_create, contact_create, tag_create
from crm.events.services import notification_create
from crm.sales.models import Opportunity, Order, StageChange
from crm.sales.selectors import stage_list
from crm.sales.services import product_create
from crm.tenancy.middleware import SESSION_MEMBERSHIP_KEY
from crm.tenancy.models import ApiToken, AuditLog, Role

from .support import BASE, Api, make_token


def body(response: Any) -> Any:
    return json.loads(response.content)


# --- authentication, scopes, tokens -------------------------------------------------------------


def test_no_or_bad_token_is_401_in_the_error_shape(world) -> None:
    for api in (Api(), Api("crm_not-a-real-token"), Api("x" * 5000)):
        response = api.get("/contacts")
        assert response.status_code == 401
        assert body(response) == {
            "code": "unauthenticated",
            "message": "Authentication required.",
            "fields": {},
        }
    assert Api().post("/contacts", {"name": "x"}).status_code == 401
    assert Contact.objects.count() == 0


def test_ping_answers_ok_when_authenticated(world, admin_api) -> None:
    assert body(admin_api.get("/ping")) == {"ok": True}
    assert Api().get("/ping").status_code == 401


def test_token_scopes_read_write_pii(world, api_as) -> None:
    contact_create(
        actor=world.admin,
        values={
            "name": "Zoe",
            "email": "zoe@example.com",
            "phone": "13800138000",
            "id_number": "110101199003077777",
        },
    )
    read_only = api_as(world.admin, scopes=["read"])
    listed = body(read_only.get("/contacts"))["items"][0]
    assert listed["email"] == "z***@example.com"
    assert listed["phone"] == "+86138****8000"
    assert listed["id_number"] == "110***********7777"
    refused = read_only.post("/contacts", {"name": "Nope"})
    assert refused.status_code == 403
    assert body(refused)["code"] == "permission_denied"

    write_only = api_as(world.admin, scopes=["write"])
    assert write_only.get("/contacts").status_code == 403
    assert write_only.post("/contacts", {"name": "Yes"}).status_code == 201

    with_pii = api_as(world.admin, scopes=["read", "pii"])
    shown = body(with_pii.get("/contacts", search="zoe@example.com"))["items"][0]
    assert (shown["email"], shown["phone"]) == ("zoe@example.com", "+8613800138000")
    assert shown["id_number"] == "110101199003077777"
    assert names(Contact.objects.all()) == ["Yes", "Zoe"]


def names(qs: Any) -> list[str]:
    return sorted(row.name for row in qs)


def test_token_secret_shown_once_revocation_immediate(world, admin_api) -> None:
    created = admin_api.post("/tokens", {"name": "CI", "scopes": ["read"]})
    assert created.status_code == 201
    token = body(created)
    assert token["secret"].startswith("crm_") and token["scopes"] == ["read"]
    stored = ApiToken.objects.get(pk=token["id"])
    assert token["secret"] not in stored.token_hash  # only the SHA-256 is kept
    listed = body(admin_api.get("/tokens"))["items"]
    assert {t["id"] for t in listed} >= {token["id"]}
    assert all("secret" not in t for t in listed)

    ci = Api(token["secret"])
    assert ci.get("/ping").status_code == 200
    assert admin_api.delete(f"/tokens/{token['id']}").status_code == 204
    assert ci.get("/ping").status_code == 401


def test_a_token_cannot_mint_a_token_with_more_scopes(world, api_as) -> None:
    api = api_as(world.sales, scopes=["read", "write"])
    response = api.post("/tokens", {"name": "escalate", "scopes": ["read", "pii"]})
    assert response.status_code == 403
    assert ApiToken.objects.filter(name="escalate").count() == 0


def test_last_used_is_stamped_at_most_once_a_minute(world) -> None:
    secret = make_token(world.sales)
    token = ApiToken.objects.get(membership=world.sales)
    api = Api(secret)
    api.get("/ping")
    token.refresh_from_db()
    first = token.last_used_at
    assert first is not None
    api.get("/ping")
    token.refresh_from_db()
    assert token.last_used_at == first
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=first - timedelta(minutes=2))
    api.get("/ping")
    token.refresh_from_db()
    assert token.last_used_at > first - timedelta(minutes=1)


def test_a_member_cannot_revoke_someone_elses_token(world, api_as) -> None:
    make_token(world.sales2)
    other = ApiToken.objects.get(membership=world.sales2)
    response = api_as(world.sales).delete(f"/tokens/{other.pk}")
    assert response.status_code == 404
    other.refresh_from_db()
    assert other.revoked_at is None


def test_session_auth_works_and_needs_csrf_for_writes(world) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.sales.user)
    session = client.session
    session[SESSION_MEMBERSHIP_KEY] = world.sales.pk
    session.save()
    assert client.get(f"{BASE}/contacts").status_code == 200
    payload = json.dumps({"name": "Via session"})
    refused = client.post(f"{BASE}/contacts", payload, content_type="application/json")
    assert refused.status_code == 403
    assert body(refused)["code"] == "permission_denied"
    csrf = "k" * 32  # what the CSRF cookie of any page would hold
    client.cookies["csrftoken"] = csrf
    accepted = client.post(
        f"{BASE}/contacts", payload, content_type="application/json", headers={"X-CSRFToken": csrf}
    )
    assert accepted.status_code == 201
    assert Contact.objects.get().owner_id == world.sales.pk


def test_rate_limit_answers_429_in_the_error_shape(world, api_as, settings) -> None:
    settings.API_RATE_LIMIT = "3/m"
    cache.clear()
    api = api_as(world.sales)
    statuses = [api.get("/ping").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = api.get("/ping")
    assert body(limited)["code"] == "rate_limited"
    assert int(limited["Retry-After"]) >= 1
    assert api_as(world.sales2).get("/ping").status_code == 200  # per token, not global
    cache.clear()


# --- validation errors --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "李雷", "phone": "12345"}, "phone"),
        ({"name": "李雷", "email": "not-an-email"}, "email"),
        ({"name": "x" * 10_000}, "name"),
        ({"name": 42}, "name"),
        ({"name": "李雷", "consent_email": "maybe"}, "consent_email"),
        ({"name": "李雷", "account_id": "abc"}, "account_id"),
        ({"name": "李雷", "account_id": 999_999}, "account_id"),
        ({"name": "nul\x00byte"}, "name"),
        ({}, "name"),
        ({"name": "李雷", "tenant_id": 1}, "tenant_id"),
    ],
)
def test_bad_input_is_422_naming_the_field(world, admin_api, payload, field) -> None:
    response = admin_api.post("/contacts", payload)
    assert response.status_code == 422
    error = body(response)
    assert error["code"] == "validation_error"
    assert list(error["fields"]) == [field]
    assert all(isinstance(m, str) and m for m in error["fields"][field])
    assert Contact.objects.count() == 0


def test_every_bad_field_is_named_at_once(world, admin_api) -> None:
    response = admin_api.post(
        "/opportunities", {"name": "", "amount": -5, "currency": "yuan", "probability": 101}
    )
    assert response.status_code == 422
    assert set(body(response)["fields"]) == {"name", "amount", "currency", "probability"}


def test_bad_query_parameters_are_422_not_500(world, admin_api) -> None:
    for params, field in [
        ({"limit": -1}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"offset": -5}, "offset"),
        ({"ordering": "name; DROP TABLE"}, "ordering"),
        ({"search": "a" * 500}, "search"),
        ({"account_id": 2**70}, "account_id"),
        ({"search": "nul\x00byte"}, "search"),
    ]:
        response = admin_api.get("/contacts", **params)
        assert response.status_code == 422, params
        assert list(body(response)["fields"]) == [field]


def test_unknown_ids_and_malformed_bodies(world, admin_api) -> None:
    missing = admin_api.get("/contacts/987654")
    assert missing.status_code == 404
    assert body(missing) == {"code": "not_found", "message": "No such contact.", "fields": {}}
    assert admin_api.get("/contacts/0").status_code == 422
    assert admin_api.get(f"/contacts/{2**64}").status_code == 422
    assert admin_api.get("/contacts/abc").status_code == 422
    raw = admin_api.client.post(
        f"{BASE}/contacts", "{not json", content_type="application/json", headers=admin_api.headers
    )
    assert raw.status_code == 400
    assert body(raw)["code"] == "bad_request"
    assert admin_api.post("/contacts", ["a", "list"]).status_code == 422
    contact = contact_create(actor=world.admin, values={"name": "Kept"})
    cleared = admin_api.patch(f"/contacts/{contact.pk}", {"name": None})
    assert cleared.status_code == 422 and list(body(cleared)["fields"]) == ["name"]
    assert Contact.objects.get(pk=contact.pk).name == "Kept"


def test_huge_request_bodies_are_refused_with_413(world, admin_api, settings) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = admin_api.post("/contacts", {"name": "x", "title": "y" * 5000})
    assert response.status_code == 413
    assert body(response)["code"] == "too_large"


def test_openapi_declares_the_error_statuses_on_every_operation(world, admin_api) -> None:
    document = body(Api().get("/openapi.json"))
    operations = [
        (path, method, op)
        for path, methods in document["paths"].items()
        for method, op in methods.items()
    ]
    assert len(operations) > 70
    ids = [op["operationId"] for _p, _m, op in operations]
    assert len(ids) == len(set(ids))
    for path, method, op in operations:
        declared = set(op["responses"])
        has_input = bool(op.get("parameters")) or "requestBody" in op
        if has_input:
            assert "422" in declared, (method, path)
        assert {"400", "401", "403", "404", "429"} <= declared, (method, path)
        error = op["responses"]["422"]["content"]["application/json"]["schema"]
        assert error == {"$ref": "#/components/schemas/ErrorOut"}
    assert document["components"]["schemas"]["ErrorOut"]["required"] == ["code", "message"]
    docs = Api().get("/docs")
    assert docs.status_code == 200 and b"openapi.json" in docs.content


# --- pagination ---------------------------------------------------------------------------------


def test_pagination_caps_the_page_size(world, admin_api, settings) -> None:
    settings.API_MAX_PAGE_SIZE = 5
    for i in range(7):
        contact_create(actor=world.admin, values={"name": f"C{i}"})
    page = body(admin_api.get("/contacts", limit=1000))
    assert (page["limit"], len(page["items"]), page["count"], page["has_more"]) == (5, 5, 7, True)
    last = body(admin_api.get("/contacts", limit=5, offset=5))
    assert (len(last["items"]), last["has_more"], last["offset"]) == (2, False, 5)
    assert [c["name"] for c in body(admin_api.get("/contacts", ordering="name"))["items"]] == [
        "C0",
        "C1",
        "C2",
        "C3",
        "C4",
    ]


def test_contact_list_query_count_does_not_grow_with_rows(
    world, admin_api, django_assert_max_num_queries
) -> None:
    tag = tag_create(actor=world.admin, name="VIP")
    account = account_create(actor=world.admin, values={"name": "Acme"})
    for i in range(30):
        contact_create(
            actor=world.admin, values={"name": f"C{i}"}, account_id=account.pk, tag_ids=[tag.pk]
        )
    admin_api.get("/ping")  # stamps last_used_at, so the list below is a steady-state request
    # token lookup, page rows (with account and owner joined), bounded count, tags prefetch
    with django_assert_max_num_queries(4):
        page = body(admin_api.get("/contacts", limit=30))
    assert len(page["items"]) == 30
    assert all(item["tag_ids"] == [tag.pk] for item in page["items"])


# --- resources ----------------------------------------------------------------------------------


def test_contact_crud_and_soft_delete(world, admin_api) -> None:
    account = body(admin_api.post("/accounts", {"name": "星辰科技", "city": "北京"}))
    tag = body(admin_api.post("/tags", {"name": "VIP", "color": "#ff0000"}))
    created = admin_api.post(
        "/contacts",
        {
            "name": "张三",
            "email": "Zhang.San@Example.com",
            "phone": "138 0013 8000",
            "account_id": account["id"],
            "tag_ids": [tag["id"]],
            "preferred_channel": "wechat",
        },
    )
    assert created.status_code == 201
    contact = body(created)
    assert contact["email"] == "zhang.san@example.com"
    assert contact["phone"] == "+8613800138000"
    assert (contact["account_id"], contact["tag_ids"]) == (account["id"], [tag["id"]])
    assert contact["owner_id"] == world.admin.pk
    assert body(admin_api.get("/contacts", search="zs"))["items"][0]["id"] == contact["id"]
    assert body(admin_api.get("/contacts", search="zhangsan"))["count"] == 1

    patched = body(
        admin_api.patch(f"/contacts/{contact['id']}", {"title": "CTO", "account_id": None})
    )
    assert (patched["title"], patched["account_id"], patched["name"]) == ("CTO", None, "张三")
    assert body(admin_api.get(f"/contacts/{contact['id']}"))["title"] == "CTO"

    assert admin_api.delete(f"/contacts/{contact['id']}").status_code == 204
    assert admin_api.get(f"/contacts/{contact['id']}").status_code == 404
    assert Contact.objects.get(pk=contact["id"]).deleted_at is not None  # soft delete
    assert AuditLog.objects.filter(record_type="contact", action="deleted").count() == 1


def test_contact_timeline_lists_activities_newest_first(world, admin_api) -> None:
    contact = body(admin_api.post("/contacts", {"name": "王芳"}))
    logged = admin_api.post(
        "/activities",
        {
            "record_type": "contact",
            "record_id": contact["id"],
            "kind": "call",
            "subject": "First call",
            "at": "2024-05-01T09:00:00+08:00",
            "duration_minutes": 5,
        },
    )
    assert logged.status_code == 201
    assert body(logged)["at"] == "2024-05-01T01:00:00Z"
    timeline = body(admin_api.get(f"/contacts/{contact['id']}/timeline"))
    kinds = [entry["kind"] for entry in timeline]
    assert "call" in kinds and "audit" in kinds
    assert timeline == sorted(timeline, key=lambda e: e["at"], reverse=True)
    assert admin_api.get("/contacts/424242/timeline").status_code == 404
    unknown_record = admin_api.post(
        "/activities",
        {"record_type": "contact", "record_id": 424242, "kind": "note", "subject": "x"},
    )
    assert unknown_record.status_code == 422
    assert list(body(unknown_record)["fields"]) == ["record_id"]
    assert Activity.objects.count() == 1


def test_opportunity_create_move_and_history(world, api_as) -> None:
    api = api_as(world.sales)
    stages = list(stage_list())
    created = api.post("/opportunities", {"name": "ERP", "amount": "12000.50"})
    assert created.status_code == 201
    opportunity = body(created)
    assert (opportunity["stage_id"], opportunity["amount"]) == (stages[0].pk, "12000.50")
    moved = api.post(f"/opportunities/{opportunity['id']}/move", {"stage_id": stages[4].pk})
    assert moved.status_code == 200
    assert body(moved)["stage_id"] == stages[4].pk
    assert body(moved)["closed_at"] is not None
    history = body(api.get("/stage-changes", opportunity_id=opportunity["id"]))["items"]
    assert [(h["from_stage_id"], h["to_stage_id"]) for h in history] == [
        (stages[0].pk, stages[4].pk),
        (None, stages[0].pk),
    ]
    timeline = body(api.get(f"/opportunities/{opportunity['id']}/timeline"))
    assert "stage_change" in {e["kind"] for e in timeline}
    refused = api.patch(f"/opportunities/{opportunity['id']}", {"stage_id": stages[1].pk})
    assert refused.status_code == 422  # the stage changes only through /move
    assert StageChange.objects.count() == 2
    assert api.delete(f"/opportunities/{opportunity['id']}").status_code == 204
    assert Opportunity.objects.get().deleted_at is not None


def test_order_with_lines_and_line_edits_keep_the_total(world, admin_api) -> None:
    product = product_create(actor=world.admin, values={"name": "Widget", "price": "9.90"})
    created = admin_api.post(
        "/orders",
        {
            "number": "SO-1",
            "ordered_at": "2024-06-01T10:00:00Z",
            "lines": [
                {"product_id": product.pk, "quantity": 2},
                {"description": "Setup", "unit_price": "100"},
            ],
        },
    )
    assert created.status_code == 201
    order = body(created)
    assert order["total"] == "119.80"
    assert [line["amount"] for line in order["lines"]] == ["19.80", "100.00"]
    line_id = order["lines"][1]["id"]
    assert body(admin_api.patch(f"/order-lines/{line_id}", {"quantity": 3}))["amount"] == "300.00"
    assert body(admin_api.get(f"/orders/{order['id']}"))["total"] == "319.80"
    added = admin_api.post("/order-lines", {"order_id": order["id"], "unit_price": "0.20"})
    assert added.status_code == 201
    assert admin_api.delete(f"/order-lines/{line_id}").status_code == 204
    assert body(admin_api.get(f"/orders/{order['id']}"))["total"] == "20.00"
    duplicate = admin_api.post("/orders", {"number": "SO-1", "ordered_at": "2024-06-02T10:00:00Z"})
    assert duplicate.status_code == 422
    assert list(body(duplicate)["fields"]) == ["number"]
    bad_ref = admin_api.post("/order-lines", {"order_id": 999999})
    assert bad_ref.status_code == 422 and list(body(bad_ref)["fields"]) == ["order_id"]
    assert admin_api.delete(f"/orders/{order['id']}").status_code == 204
    # Deleted orders are kept for undo (soft delete), but gone from the API.
    assert Order.objects.get(pk=order["id"]).deleted_at is not None
    assert admin_api.get(f"/orders/{order['id']}").status_code == 404
    assert body(admin_api.get("/orders"))["count"] == 0


def test_products_are_retired_on_delete_and_skus_stay_unique(world, admin_api) -> None:
    product = body(admin_api.post("/products", {"name": "Widget", "sku": "W-1", "price": 5}))
    duplicate = admin_api.post("/products", {"name": "Other", "sku": "W-1"})
    assert duplicate.status_code == 422 and list(body(duplicate)["fields"]) == ["sku"]
    assert admin_api.delete(f"/products/{product['id']}").status_code == 204
    assert body(admin_api.get(f"/products/{product['id']}"))["is_active"] is False
    assert body(admin_api.get("/products", is_active="true"))["count"] == 0


def test_leads_tasks_tags_pipelines_stages(world, admin_api) -> None:
    lead = body(
        admin_api.post("/leads", {"name": "赵六", "phone": "13900139000", "priority": "high"})
    )
    assert (lead["status"], lead["priority"], lead["score"]) == ("new", "high", 0)
    assert (
        body(admin_api.patch(f"/leads/{lead['id']}", {"status": "working"}))["status"] == "working"
    )
    assert body(admin_api.get("/leads", status="working"))["count"] == 1
    assert admin_api.get(f"/leads/{lead['id']}/timeline").status_code == 200

    task = body(
        admin_api.post(
            "/tasks", {"title": "Call back", "record_type": "lead", "record_id": lead["id"]}
        )
    )
    done = body(admin_api.patch(f"/tasks/{task['id']}", {"status": "done"}))
    assert done["status"] == "done" and done["completed_at"] is not None
    assert body(admin_api.get("/tasks", status="done", search="call"))["count"] == 1

    pipeline = body(admin_api.post("/pipelines", {"name": "Renewals"}))
    stage = admin_api.post(
        "/stages", {"pipeline_id": pipeline["id"], "name": "Open", "probability": 20}
    )
    assert stage.status_code == 201
    both = admin_api.post(
        "/stages", {"pipeline_id": pipeline["id"], "name": "X", "is_won": True, "is_lost": True}
    )
    assert both.status_code == 422 and list(body(both)["fields"]) == ["is_lost"]
    assert body(admin_api.get("/stages", pipeline_id=pipeline["id"]))["count"] == 1
    assert admin_api.delete(f"/pipelines/{pipeline['id']}").status_code == 204

    tag = body(admin_api.post("/tags", {"name": "Hot"}))
    assert admin_api.post("/tags", {"name": "Hot"}).status_code == 422
    assert body(admin_api.patch(f"/tags/{tag['id']}", {"color": "#00ff00"}))["color"] == "#00ff00"
    assert admin_api.patch(f"/tags/{tag['id']}", {"color": "green"}).status_code == 422
    assert admin_api.delete(f"/tags/{tag['id']}").status_code == 204


def test_viewer_and_sales_permissions(world, api_as) -> None:
    viewer = api_as(world.viewer)
    assert viewer.get("/contacts").status_code == 200
    refused = viewer.post("/contacts", {"name": "x"})
    assert refused.status_code == 403 and body(refused)["code"] == "permission_denied"
    sales = api_as(world.sales)
    assert sales.post("/pipelines", {"name": "Mine"}).status_code == 403  # admin only
    theirs = contact_create(actor=world.sales2, values={"name": "Theirs"})
    assert sales.get(f"/contacts/{theirs.pk}").status_code == 404  # not visible: not found
    assert sales.patch(f"/contacts/{theirs.pk}", {"name": "Mine now"}).status_code == 404
    given_away = sales.post("/contacts", {"name": "x", "owner_id": world.sales2.pk})
    assert given_away.status_code == 403
    assert names(Contact.objects.all()) == ["Theirs"]


def test_members_teams_and_admin_only_updates(world, api_as) -> None:
    admin, sales = api_as(world.admin), api_as(world.sales)
    members = body(sales.get("/members"))
    assert members["count"] == 5
    assert {m["username"] for m in members["items"]} >= {"acme-admin", "acme-sales"}
    assert body(sales.get("/members", search="sales2"))["count"] == 1
    refused = sales.patch(f"/members/{world.sales.pk}", {"role": "admin"})
    assert refused.status_code == 403
    world.sales.refresh_from_db()
    assert world.sales.role == Role.SALES
    promoted = admin.patch(
        f"/members/{world.sales.pk}", {"role": "manager", "team_id": world.team_b.pk}
    )
    assert promoted.status_code == 200
    assert (body(promoted)["role"], body(promoted)["visibility"]) == ("manager", "team")
    assert sales.post("/teams", {"name": "West"}).status_code == 403
    assert admin.post("/teams", {"name": "West"}).status_code == 201
    assert body(sales.get("/teams"))["count"] == 3


def test_notifications_are_private_and_can_be_marked_read(world, api_as) -> None:
    mine = notification_create(recipient=world.sales, kind="task_due", message="Call 张三")
    theirs = notification_create(recipient=world.sales2, kind="task_due", message="Secret")
    api = api_as(world.sales)
    listed = body(api.get("/notifications", unread="true"))
    assert [n["message"] for n in listed["items"]] == ["Call 张三"]
    assert api.get(f"/notifications/{theirs.pk}").status_code == 404
    read = body(api.post(f"/notifications/{mine.pk}/read"))
    assert read["read_at"] is not None
    assert body(api.get("/notifications", unread="true"))["count"] == 0
    assert api.post(f"/notifications/{theirs.pk}/read").status_code == 404


def test_write_through_api_leaves_audit_and_isolated_tenant_context(world, other_world) -> None:
    api = Api(make_token(other_world.admin))
    assert api.post("/accounts", {"name": "Beta account"}).status_code == 201
    with tenant_context(other_world.tenant.pk):
        assert AuditLog.objects.filter(record_type="account").count() == 1
    # the request's tenant did not leak into the test's context (tenant A)
    assert AuditLog.objects.filter(record_type="account").count() == 0
    assert get_user_model().objects.filter(username="beta-admin").exists()
    assert timezone.now()
