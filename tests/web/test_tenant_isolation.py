"""Every page of a record answers 404 to another tenant's user, whatever the method; every
state change needs the CSRF token."""

from __future__ import annotations

from typing import Any

from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from crm.sales.models import Lead, Stage
from crm.tenancy.services import api_token_create
from crm.web.services import saved_view_save
from tests.web.conftest import client_for


def web_patterns() -> list[URLPattern]:
    resolver = get_resolver()
    found: list[URLPattern] = []
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver) and entry.namespace == "web":
            found.extend(p for p in entry.url_patterns if isinstance(p, URLPattern))
    return found


def record_urls(world: Any, records: Any) -> list[tuple[str, str]]:
    """(name, URL) of every page that takes a record id, filled with tenant A's records."""
    token, _secret = api_token_create(actor=world.admin, name="A's token")
    view = saved_view_save(actor=world.sales, list_name="lead", name="mine", query="q=x")
    line = records.order.lines.first()
    kinds = ("account", "contact", "lead", "opportunity", "product", "order", "task", "activity")
    ids = {
        **{kind: getattr(records, kind).pk for kind in kinds},
        "settings_member": world.sales.pk,
        "settings_team": world.team_a.pk,
        "settings_pipeline": records.opportunity.pipeline_id,
        "settings_stage_add": records.opportunity.pipeline_id,
        "settings_stage": Stage.objects.first().pk,
        "settings_token_revoke": token.pk,
        "savedview_delete": view.pk,
    }
    urls = []
    for pattern in web_patterns():
        if "pk" not in pattern.pattern.converters:
            continue
        name = pattern.name or ""
        prefix = next((k for k in sorted(ids, key=len, reverse=True) if name.startswith(k)), None)
        assert prefix is not None, f"no tenant A id for {name}"
        url = "/" + str(pattern.pattern)
        url = url.replace("<int:pk>", str(ids[prefix])).replace("<int:line_pk>", str(line.pk))
        urls.append((name, url.replace("<str:field>", "name")))
    return urls


def test_tenant_b_gets_404_on_every_record_url_of_tenant_a(
    world: Any, other_world: Any, records: Any
) -> None:
    urls = record_urls(world, records)
    # B's admin sees everything in B and may use every page, so only the tenant stops it.
    b_client = client_for(other_world.admin)
    for _name, url in urls:
        for method in ("get", "post"):
            response = getattr(b_client, method)(url, {"stage_id": 1, "owner": 1})
            assert response.status_code in (404, 405), (method, url, response.status_code)
            if response.status_code == 405:
                assert method == "get", url
    names = {name for name, _url in urls}
    assert {f"{k}_detail" for k in ("account", "lead", "order", "task")} <= names
    assert len(urls) >= 60


def test_every_state_change_needs_the_csrf_token(world: Any, records: Any) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.admin.user)
    plain = [
        "/leads/new/",
        "/accounts/bulk/",
        "/leads/columns/",
        "/leads/views/",
        "/me/",
        "/settings/",
        "/settings/members/",
        "/settings/teams/",
        "/settings/tokens/",
        "/i18n/setlang/",
        "/logout/",
    ]
    for url in [url for _name, url in record_urls(world, records)] + plain:
        assert client.post(url, {"name": "x"}).status_code == 403, url
    assert Lead.objects.count() == 1  # the fixture's own
