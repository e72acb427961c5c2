"""Shared pieces of the API tests: a JSON client, tokens, one record of every kind, and
walking the OpenAPI document (operations, example bodies)."""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.apps import apps
from django.test import Client

from crm.activities.services import activity_log, task_create
from crm.core.context import tenant_context
from crm.core.models import TenantModel
from crm.customers.services import account_create, contact_create, tag_create
from crm.events.services import notification_create
from crm.sales.models import StageChange
from crm.sales.services import (
    lead_create,
    opportunity_create,
    opportunity_move,
    order_create,
    pipeline_create,
    product_create,
    stage_create,
)
from crm.tenancy.models import AuditHead, Membership
from crm.tenancy.services import api_token_create, team_create

BASE = "/api/v1"
FULL = ("read", "write", "pii")
METHODS = ("get", "post", "put", "patch", "delete")


class Api:
    """A test client sending JSON with a bearer token (or none)."""

    def __init__(self, secret: str | None = None, client: Client | None = None) -> None:
        self.client = client or Client()
        # English messages, so tests can compare them (the default language is the tenant's).
        self.headers = {"Accept-Language": "en"}
        if secret:
            self.headers["Authorization"] = f"Bearer {secret}"

    def call(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        url = path if path.startswith(BASE) else BASE + path
        send = getattr(self.client, method.lower())
        if method.upper() in {"GET", "DELETE"} and body is None:
            return send(url, params or None, headers=self.headers)
        if params:
            url += "?" + "&".join(f"{k}={v}" for k, v in params.items())
        data = json.dumps(body if body is not None else {})
        return send(url, data, content_type="application/json", headers=self.headers)

    def get(self, path: str, **params: Any) -> Any:
        return self.call("GET", path, **params)

    def post(self, path: str, body: Any = None) -> Any:
        return self.call("POST", path, body)

    def patch(self, path: str, body: Any = None) -> Any:
        return self.call("PATCH", path, body)

    def delete(self, path: str) -> Any:
        return self.call("DELETE", path)


def make_token(member: Membership, scopes: Iterable[str] = FULL) -> str:
    """A token secret for `member`, created in the member's own tenant."""
    with tenant_context(member.tenant_id):
        _token, secret = api_token_create(actor=member, name="test", scopes=scopes)
    return secret


# --- one record of every kind -------------------------------------------------------------------


@dataclass
class Records:
    """Ids of one record of each kind, keyed by the API's parameter names, and text markers
    that appear in those records (to look for in responses)."""

    ids: dict[str, int]
    markers: list[str]


def build_records(world: Any, prefix: str) -> Records:
    """One record of every kind in `world`'s tenant; names start with `prefix`."""
    admin = world.admin
    with tenant_context(world.tenant.pk):
        tag = tag_create(actor=admin, name=f"{prefix}-tag")
        team = team_create(actor=admin, name=f"{prefix}-team")
        account = account_create(
            actor=admin, values={"name": f"{prefix}-account"}, tag_ids=[tag.pk]
        )
        email = f"{prefix.lower()}-secret@example.com"
        phone = "139" + str(int.from_bytes(prefix.encode(), "big"))[-8:]  # one per tenant
        contact = contact_create(
            actor=admin,
            values={"name": f"{prefix}-contact", "email": email, "phone": phone},
            account_id=account.pk,
            tag_ids=[tag.pk],
        )
        lead = lead_create(
            actor=admin, values={"name": f"{prefix}-lead", "company": f"{prefix}-co"}
        )
        pipeline = pipeline_create(actor=admin, name=f"{prefix}-pipeline")
        stage = stage_create(
            actor=admin, pipeline_id=pipeline.pk, values={"name": f"{prefix}-stage", "order": 1}
        )
        stage2 = stage_create(
            actor=admin, pipeline_id=pipeline.pk, values={"name": f"{prefix}-stage2", "order": 2}
        )
        opportunity = opportunity_create(
            actor=admin,
            values={"name": f"{prefix}-opportunity", "amount": "1234.56"},
            pipeline_id=pipeline.pk,
            stage_id=stage.pk,
            account_id=account.pk,
            contact_id=contact.pk,
        )
        opportunity_move(actor=admin, opportunity=opportunity, stage_id=stage2.pk)
        change = StageChange.objects.filter(opportunity=opportunity).order_by("-id").first()
        activity = activity_log(
            actor=admin,
            record_type="contact",
            record_id=contact.pk,
            values={"kind": "call", "subject": f"{prefix}-activity"},
        )
        task = task_create(
            actor=admin,
            values={"title": f"{prefix}-task"},
            record_type="lead",
            record_id=lead.pk,
        )
        product = product_create(
            actor=admin,
            values={"name": f"{prefix}-product", "sku": f"{prefix}-sku", "price": "9.90"},
        )
        order = order_create(
            actor=admin,
            values={"number": f"{prefix}-order", "ordered_at": opportunity.created_at},
            lines=[{"product_id": product.pk, "quantity": "2", "description": f"{prefix}-line"}],
            contact_id=contact.pk,
            account_id=account.pk,
        )
        line = order.lines.get()
        notification = notification_create(
            recipient=admin, kind="info", message=f"{prefix}-notification"
        )
        token, _secret = api_token_create(actor=admin, name=f"{prefix}-token", scopes=["read"])
        assert notification is not None and change is not None
    ids = {
        "account_id": account.pk,
        "contact_id": contact.pk,
        "lead_id": lead.pk,
        "pipeline_id": pipeline.pk,
        "stage_id": stage2.pk,
        "opportunity_id": opportunity.pk,
        "stage_change_id": change.pk,
        "activity_id": activity.pk,
        "task_id": task.pk,
        "product_id": product.pk,
        "order_id": order.pk,
        "line_id": line.pk,
        "tag_id": tag.pk,
        "notification_id": notification.pk,
        "member_id": world.sales.pk,
        "token_id": token.pk,
        "team_id": team.pk,
        # body-only names
        "owner_id": world.sales.pk,
        "assignee_id": world.sales.pk,
        "record_id": account.pk,
    }
    markers = [prefix, email, phone, token.prefix]
    for module in _extra_record_modules():
        with tenant_context(world.tenant.pk):
            more_ids, more_markers = module.build(world, prefix)
        ids.update(more_ids)
        markers += more_markers
    return Records(ids, markers)


def _extra_record_modules() -> list[Any]:
    """Each app's API tests add records for their own path parameters in
    `tests/api/records_<app>.py`: `build(world, prefix) -> (ids, markers)`, run in the tenant."""
    folder = Path(__file__).parent
    return [
        importlib.import_module(f"tests.api.{path.stem}")
        for path in sorted(folder.glob("records_*.py"))
    ]


# --- the OpenAPI document -----------------------------------------------------------------------


@dataclass
class Operation:
    method: str
    path: str
    spec: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.spec["operationId"])

    def params(self, where: str) -> list[str]:
        return [p["name"] for p in self.spec.get("parameters", []) if p["in"] == where]

    def body_schema(self, document: dict[str, Any]) -> dict[str, Any] | None:
        body = self.spec.get("requestBody")
        if body is None:
            return None
        return resolve(body["content"]["application/json"]["schema"], document)


def operations(document: dict[str, Any]) -> Iterator[Operation]:
    for path, methods in document["paths"].items():
        for method, spec in methods.items():
            if method in METHODS:
                yield Operation(method, path, spec)


def resolve(schema: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = document["components"]["schemas"][name]
    return schema


def ids_for(op: Operation, ids: dict[str, int]) -> dict[str, int]:
    """`ids` with those given for this operation only: "account_merge:other_id" is the
    `other_id` of account_merge (an account), where other operations take a contact's."""
    prefix = f"{op.id}:"
    return {**ids, **{k.removeprefix(prefix): v for k, v in ids.items() if k.startswith(prefix)}}


def fill_path(op: Operation, ids: dict[str, int]) -> str:
    path = op.path
    for name in op.params("path"):
        assert name in ids, f"{op.id}: no test record for path parameter {name!r}"
        path = path.replace("{" + name + "}", str(ids[name]))
    return path


def example(
    schema: dict[str, Any], document: dict[str, Any], ids: dict[str, int], name: str = ""
) -> Any:
    """A valid value for `schema`; fields named like record ids take the ids in `ids`."""
    schema = resolve(schema, document)
    if name in ids and name.endswith("_id"):
        return ids[name]
    if name == "tag_ids":
        return [ids["tag_id"]]
    if "anyOf" in schema:
        options = [s for s in schema["anyOf"] if resolve(s, document).get("type") != "null"]
        return example(options[0], document, ids, name)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        required = schema.get("required", [])
        return {
            prop: example(sub, document, ids, prop)
            for prop, sub in schema.get("properties", {}).items()
            if prop in required or prop in ids
        }
    if kind == "array":
        count = schema.get("minItems", 0)
        return [example(schema["items"], document, ids) for _ in range(count)]
    if kind == "integer":
        return max(int(schema.get("minimum", 1)), 1)
    if kind == "number":
        return 1
    if kind == "boolean":
        return False
    if kind == "string":
        pattern = schema.get("pattern", "")
        if schema.get("format") == "date-time":
            return "2024-01-02T03:04:05Z"
        if schema.get("format") == "date":
            return "2024-01-02"
        if pattern == "^[A-Z]{3}$":
            return "CNY"
        if pattern.startswith("^#"):
            return "#123456"
        return "x"
    raise AssertionError(f"no example for schema {schema!r}")


def tenant_snapshot(tenant_id: int) -> dict[str, list[dict[str, Any]]]:
    """Every row the tenant owns (and its many-to-many links), to compare before and after."""
    snapshot: dict[str, list[dict[str, Any]]] = {}
    for model in apps.get_models():
        if issubclass(model, TenantModel):
            rows = model.all_tenants.filter(tenant_id=tenant_id).order_by("pk").values()
            snapshot[model._meta.label] = list(rows)
            for field in model._meta.many_to_many:
                through = field.remote_field.through
                owner = through._meta.get_field(model._meta.model_name).attname
                links = through.objects.filter(
                    **{f"{model._meta.model_name}__tenant_id": tenant_id}
                )
                snapshot[f"{model._meta.label}.{field.name}"] = list(
                    links.order_by(owner, "pk").values()
                )
    snapshot["tenancy.AuditHead"] = list(AuditHead.objects.filter(tenant_id=tenant_id).values())
    return snapshot


def foreign_references(tenant_id: int) -> list[str]:
    """Links from the tenant's rows to rows of another tenant (there must be none)."""
    found = []
    for model in apps.get_models():
        if not issubclass(model, TenantModel):
            continue
        for field in model._meta.concrete_fields:
            target = getattr(field, "related_model", None)
            if field.name == "tenant" or target is None or not issubclass(target, TenantModel):
                continue
            used = set(
                model.all_tenants.filter(tenant_id=tenant_id)
                .exclude(**{f"{field.attname}__isnull": True})
                .values_list(field.attname, flat=True)
            )
            own = set(
                target.all_tenants.filter(tenant_id=tenant_id, pk__in=used).values_list(
                    "pk", flat=True
                )
            )
            found += [f"{model._meta.label}.{field.name}={pk}" for pk in used - own]
    return found
