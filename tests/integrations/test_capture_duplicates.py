"""The duplicate check at capture: the create forms and POST /api/v1/duplicates/check show the
records a new one would duplicate (the scan's keys and scores), only those the person may see."""

from __future__ import annotations

from typing import Any

from crm.core.context import tenant_context
from crm.customers.models import Account, Contact
from crm.customers.services import account_create, contact_create, contact_update
from crm.integrations.dedupe import matches_for
from crm.sales.models import Lead
from crm.sales.services import lead_create

from .test_api import client_for
from .test_pages import post, signed_in


def test_new_contact_form_warns_of_a_likely_duplicate_then_creates_anyway(world) -> None:
    existing = contact_create(
        actor=world.sales, values={"name": "张三", "email": "zhang@example.com"}
    )
    client = signed_in(world.sales)
    form = {"name": "Zhang San", "email": "ZHANG@example.com", "preferred_channel": ""}
    shown = post(client, "/contacts/new/", form)
    page = shown.content.decode()
    assert shown.status_code == 200 and 'data-testid="likely-duplicates"' in page
    assert f"/contacts/{existing.pk}/" in page and "same email" in page
    assert Contact.objects.count() == 1  # nothing saved yet
    created = post(client, "/contacts/new/", {**form, "create_anyway": "1"})
    assert created.status_code == 302 and Contact.objects.count() == 2


def test_a_record_the_person_cannot_see_is_not_shown(world) -> None:
    # the manager's contact is outside the sales rep's visibility: no warning, no leak
    contact_create(actor=world.manager, values={"name": "李四", "phone": "13900139000"})
    client = signed_in(world.sales)
    form = {"name": "李四", "phone": "139 0013 9000", "preferred_channel": ""}
    response = post(client, "/contacts/new/", form)
    assert response.status_code == 302
    assert 'data-testid="likely-duplicates"' not in response.content.decode()


def test_new_account_and_lead_forms_warn_too(world) -> None:
    account_create(actor=world.admin, values={"name": "北京星辰科技有限公司", "city": "北京"})
    lead_create(actor=world.admin, values={"name": "赵敏", "company": "Acme Ltd"})
    client = signed_in(world.admin)
    account_page = post(client, "/accounts/new/", {"name": "星辰科技", "city": "北京"})
    assert 'data-testid="likely-duplicates"' in account_page.content.decode()
    assert Account.objects.count() == 1
    lead_page = post(
        client,
        "/leads/new/",
        {"name": "赵 敏", "company": "ACME LTD", "status": "new", "priority": "medium"},
    )
    assert 'data-testid="likely-duplicates"' in lead_page.content.decode()
    assert Lead.objects.count() == 1


def check(client: Any, auth: dict[str, str], body: dict[str, Any]) -> Any:
    return client.post(
        "/api/v1/duplicates/check", body, content_type="application/json", headers=auth
    )


def test_duplicate_check_api(world, other_world) -> None:
    existing = contact_create(actor=world.admin, values={"name": "王芳", "phone": "13800138000"})
    with tenant_context(other_world.tenant.pk):
        contact_create(actor=other_world.admin, values={"name": "王芳", "phone": "13800138000"})
    client, auth = client_for(world.admin)
    body = {"record_type": "contact", "name": "王芳", "phone": "138-0013-8000"}
    found = check(client, auth, body)
    assert found.status_code == 200, found.content
    assert [m["id"] for m in found.json()] == [existing.pk]  # never the other tenant's twin
    assert "same phone" in found.json()[0]["reasons"]
    assert Contact.objects.count() == 1  # nothing written

    _client, no_pii = client_for(world.admin, scopes=("read", "write"))
    refused = check(client, no_pii, {"record_type": "contact", "phone": "13800138000"})
    assert refused.status_code == 403  # an email or phone oracle needs the pii scope
    by_name = check(client, no_pii, {"record_type": "contact", "name": "王芳"})
    assert by_name.status_code == 200 and by_name.json() == []  # a name alone is no evidence

    with tenant_context(other_world.tenant.pk):
        foreign = account_create(actor=other_world.admin, values={"name": "Other"})
    unknown = check(client, auth, {"name": "王芳", "account_id": foreign.pk})
    assert unknown.status_code == 422 and "account_id" in unknown.json()["fields"]
    bad = check(client, auth, {"record_type": "invoice", "name": "x"})
    assert bad.status_code == 422


def test_a_stored_alias_is_found_from_any_spelling_of_its_mailbox(world) -> None:
    """On record: ann+news@x.com and bo.chen@gmail.com. A new contact with the plain address,
    another +tag or the other Gmail spelling is flagged; a different mailbox is not."""
    ann = contact_create(
        actor=world.admin, values={"name": "Ann Lee", "email": "Ann+News@Example.com"}
    )
    bo = contact_create(actor=world.admin, values={"name": "Bo Chen", "email": "bo.chen@gmail.com"})
    for probe, expected in (
        ({"name": "Ann Lee", "email": "ann@example.com"}, ann.pk),
        ({"name": "A. Lee", "email": "ann+crm@example.com"}, ann.pk),
        ({"name": "Bo Chen", "email": "bochen@googlemail.com"}, bo.pk),
    ):
        found = matches_for(probe)
        assert [pk for pk, _score, _reasons in found] == [expected], probe
        assert "same email apart from a +tag or dots" in found[0][2]
    assert matches_for({"name": "Ann Lee", "email": "ann@other.example.com"}) == []

    # the key follows the address: a plain address on record leaves nothing behind
    contact_update(actor=world.admin, contact=ann, values={"email": "ann.lee@example.com"})
    assert Contact.objects.get(pk=ann.pk).email_alias_index is None
    assert matches_for({"name": "Someone", "email": "ann@example.com"}) == []


def test_the_migration_fills_the_key_of_existing_aliases(world) -> None:
    """Records written before the column existed get it from their (decrypted) email."""
    import importlib

    from django.apps import apps

    ann = contact_create(actor=world.admin, values={"name": "Ann", "email": "ann+x@example.com"})
    plain = contact_create(actor=world.admin, values={"name": "Bob", "email": "bob@example.com"})
    lead = lead_create(actor=world.admin, values={"name": "Cy", "email": "c.y@gmail.com"})
    stored = {
        "ann": Contact.objects.get(pk=ann.pk).email_alias_index,
        "lead": Lead.objects.get(pk=lead.pk).email_alias_index,
    }
    assert all(stored.values()) and Contact.objects.get(pk=plain.pk).email_alias_index is None
    Contact.objects.update(email_alias_index=None)
    Lead.objects.update(email_alias_index=None)
    for module in (
        "crm.customers.migrations.0004_email_alias_index",
        "crm.sales.migrations.0007_email_alias_index",
    ):
        importlib.import_module(module).fill_email_alias_index(apps, None)
    assert Contact.objects.get(pk=ann.pk).email_alias_index == stored["ann"]
    assert Lead.objects.get(pk=lead.pk).email_alias_index == stored["lead"]
    assert Contact.objects.get(pk=plain.pk).email_alias_index is None


def test_a_new_lead_is_checked_by_company_key_as_capture_and_scan_are(world) -> None:
    existing = lead_create(actor=world.admin, values={"name": "王芳", "company": "阿里巴巴集团"})
    lead_create(actor=world.admin, values={"name": "王芳", "company": "腾讯科技有限公司"})
    found = matches_for({"name": "Wang Fang", "company": "Alibaba Ltd"}, record_type="lead")
    assert [pk for pk, _score, _reasons in found] == [existing.pk]
    assert "same company" in found[0][2]


def test_a_new_lead_finds_its_company_among_many_namesakes(world) -> None:
    """More namesakes than a lookup keeps: the one at the same company is still found."""
    Lead.objects.bulk_create(
        [
            Lead(
                tenant=world.tenant,
                name="王芳",
                name_key="王芳",
                pinyin_key="wangfang",
                company=f"公司{i}",
            )
            for i in range(250)
        ]
    )
    existing = lead_create(actor=world.admin, values={"name": "王芳", "company": "阿里巴巴集团"})
    found = matches_for({"name": "Wang Fang", "company": "Alibaba Ltd"}, record_type="lead")
    assert [pk for pk, _score, _reasons in found] == [existing.pk]
