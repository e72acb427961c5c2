"""Mass assignment: no create/update schema lets a client write what it must not.

For every operation of the OpenAPI document that takes a body, a tenant-A admin sends a valid
body plus, one at a time, fields it must not set (tenant, role, visibility, audit fields, ids)
and every relation id of the schema pointing at a record of tenant B. Unknown fields are refused
(422 naming the field: schemas forbid extra fields); relation ids of another tenant are "no such
record" (422 naming the field). Nothing of tenant B changes and no row of A points into B.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from crm.tenancy.models import Membership, Role

from .support import (
    Api,
    Operation,
    build_records,
    example,
    fill_path,
    foreign_references,
    ids_for,
    make_token,
    operations,
    tenant_snapshot,
)


def hostile_fields(b_tenant_id: int, b_ids: dict[str, int]) -> dict[str, Any]:
    """Fields no body may set, with values pointing at tenant B or granting power."""
    return {
        "tenant": b_tenant_id,
        "tenant_id": b_tenant_id,
        "role": Role.ADMIN,
        "visibility": "all",
        "id": b_ids["contact_id"],
        "pk": b_ids["contact_id"],
        "created_at": "2000-01-01T00:00:00Z",
        "updated_at": "2000-01-01T00:00:00Z",
        "deleted_at": None,
        "membership": b_ids["member_id"],
        "membership_id": b_ids["member_id"],
        "user_id": 1,
        "token_hash": "0" * 64,
        "score": 100,
        "closed_at": "2000-01-01T00:00:00Z",
        "converted_account_id": b_ids["account_id"],
        "is_admin": True,
    }


def is_id(prop: dict[str, Any]) -> bool:
    options = prop.get("anyOf", [prop])
    return any(o.get("type") in ("integer", "array") for o in options)


def relation_fields(schema: dict[str, Any]) -> list[str]:
    """Properties naming records by id (`account_id`, `tag_ids`, ...), not text like external_id."""
    return [
        name
        for name, prop in schema.get("properties", {}).items()
        if (name.endswith("_id") or name == "tag_ids") and is_id(prop)
    ]


@pytest.fixture
def document(db: None) -> dict[str, Any]:
    return json.loads(Api().get("/openapi.json").content)


def writes(document: dict[str, Any]) -> list[Operation]:
    return [op for op in operations(document) if op.body_schema(document) is not None]


def test_every_body_refuses_tenant_role_and_foreign_ids(world, other_world, document) -> None:
    a = build_records(world, "ACME")
    b = build_records(other_world, "BETA")
    api = Api(make_token(world.admin))
    b_before = tenant_snapshot(other_world.tenant.pk)
    hostile = hostile_fields(other_world.tenant.pk, b.ids)
    ops = writes(document)
    assert len(ops) >= 28
    refused = 0
    for op in ops:
        schema = op.body_schema(document)
        assert schema is not None
        assert schema.get("additionalProperties") is False, f"{op.id} accepts unknown fields"
        ids, foreign = ids_for(op, a.ids), ids_for(op, b.ids)
        path = fill_path(op, ids)
        base = example(schema, document, ids)
        properties = set(schema.get("properties", {}))
        attempts: dict[str, Any] = {k: v for k, v in hostile.items() if k not in properties}
        for name in relation_fields(schema):
            attempts[name] = [foreign["tag_id"]] if name == "tag_ids" else foreign[name]
        for name, value in attempts.items():
            body = {**base, name: value}
            if name == "record_id":
                body["record_type"] = "account"  # b.ids["record_id"] is B's account
            response = api.call(op.method.upper(), path, body)
            label = f"{op.id} with {name}={value!r}"
            assert response.status_code in (404, 422), f"{label}: {response.status_code}"
            if response.status_code == 422:
                assert name in json.loads(response.content)["fields"], label
            refused += 1
        everything = {**base, **attempts}
        response = api.call(op.method.upper(), path, everything)
        assert response.status_code in (404, 422), f"{op.id} with all at once"
        accepted = api.call(op.method.upper(), path, base)  # the base body itself is fine
        assert accepted.status_code in (200, 201), f"{op.id}: {accepted.content[:200]!r}"
    assert refused >= 300
    assert tenant_snapshot(other_world.tenant.pk) == b_before
    assert foreign_references(world.tenant.pk) == []
    assert foreign_references(other_world.tenant.pk) == []


def test_only_admins_change_roles_and_only_in_their_tenant(world, other_world, api_as) -> None:
    sales = api_as(world.sales)
    refused = sales.patch(f"/members/{world.sales.pk}", {"role": "admin", "visibility": "all"})
    assert refused.status_code == 403
    admin = api_as(world.admin)
    foreign = admin.patch(f"/members/{other_world.sales.pk}", {"role": "viewer"})
    assert foreign.status_code == 404
    foreign_team = admin.patch(f"/members/{world.sales.pk}", {"team_id": other_world.team_a.pk})
    assert foreign_team.status_code == 422
    assert list(json.loads(foreign_team.content)["fields"]) == ["team_id"]
    roles = dict(Membership.all_tenants.values_list("pk", "role"))
    assert roles[world.sales.pk] == Role.SALES
    assert roles[other_world.sales.pk] == Role.SALES
    world.sales.refresh_from_db()
    assert world.sales.team_id == world.team_a.pk
