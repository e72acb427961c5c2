"""Tenant isolation, operation by operation, from the generated OpenAPI document.

Tenant A gets one record of every kind. A member of tenant B (an admin, all scopes) then calls
every operation of the API with A's ids in the path, the query and the body. Operations that name
a record in their path must answer 404 (or 403); none may answer with A's data; and no call may
change a single row of tenant A.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from crm.core.context import tenant_context

from .support import (
    Api,
    build_records,
    example,
    fill_path,
    ids_for,
    make_token,
    operations,
    tenant_snapshot,
)


@pytest.fixture
def document(db: None) -> dict[str, Any]:
    return json.loads(Api().get("/openapi.json").content)


def attack(api: Api, op: Any, document: dict[str, Any], ids: dict[str, int]) -> Any:
    ids = ids_for(op, ids)
    query = {name: ids[name] for name in op.params("query") if name in ids}
    schema = op.body_schema(document)
    body = example(schema, document, ids) if schema is not None else None
    return api.call(op.method.upper(), fill_path(op, ids), body, **query)


def assert_no_data_of(response: Any, markers: list[str], label: str) -> None:
    text = response.content.decode()
    for marker in markers:
        assert marker not in text, f"{label}: response contains {marker!r}: {text[:300]}"


def test_every_operation_refuses_another_tenants_ids(world, other_world, document) -> None:
    a = build_records(world, "ACME")
    with tenant_context(other_world.tenant.pk):
        b_api = Api(make_token(other_world.admin))
    before = tenant_snapshot(world.tenant.pk)
    ops = list(operations(document))
    assert len(ops) >= 79
    with_path_ids = 0
    for op in ops:
        label = f"{op.method.upper()} {op.path} ({op.id})"
        response = attack(b_api, op, document, a.ids)
        assert response.status_code < 500, label
        assert_no_data_of(response, a.markers, label)
        if op.params("path"):
            with_path_ids += 1
            assert response.status_code in (403, 404), f"{label}: {response.status_code}"
            error = json.loads(response.content)
            assert set(error) == {"code", "message", "fields"}, label
            assert error["code"] in ("not_found", "permission_denied"), label
            assert not any(str(v) in error["message"] for v in a.ids.values()), label
        elif op.method == "get":
            assert response.status_code == 200, f"{label}: {response.status_code}"
        if op.method != "get":
            assert tenant_snapshot(world.tenant.pk) == before, f"{label} changed tenant A"
    assert with_path_ids >= 45


def test_tenant_b_member_sees_only_b_in_every_list(world, other_world, document) -> None:
    a = build_records(world, "ACME")
    b = build_records(other_world, "BETA")
    with tenant_context(other_world.tenant.pk):
        b_api = Api(make_token(other_world.admin))
    listed = 0
    for op in operations(document):
        if op.method != "get" or op.params("path"):
            continue
        response = b_api.get(op.path.removeprefix("/api/v1"), limit=200)
        assert response.status_code == 200, op.id
        assert_no_data_of(response, a.markers, op.id)
        listed += 1
    assert listed >= 15
    # B's own records are there, so the lists above were not trivially empty
    contacts = json.loads(b_api.get("/contacts").content)["items"]
    assert [c["name"] for c in contacts] == ["BETA-contact"]
    assert b.ids["contact_id"] == contacts[0]["id"]
