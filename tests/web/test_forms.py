"""Bad input in the forms is refused with a message on the field, or stored inert."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.utils.html import escape

from crm.core.errors import ValidationFailedError
from crm.customers.models import Account
from crm.sales.models import Lead, Opportunity, Product
from crm.sales.services import lead_create

LONG = "名" * 10_000
SCRIPT = "<script>alert(1)</script>"

# kind -> (URL of the new form, a valid POST body)
FORMS: dict[str, tuple[str, dict[str, str]]] = {
    "account": ("/accounts/new/", {"name": "星辰科技"}),
    "contact": ("/contacts/new/", {"name": "张三"}),
    "lead": ("/leads/new/", {"name": "王小明", "status": "new", "priority": "medium"}),
    "opportunity": ("/opportunities/new/", {"name": "ERP", "amount": "100", "currency": "CNY"}),
    "task": ("/tasks/new/", {"title": "回电话"}),
    "product": ("/products/new/", {"name": "年费", "price": "9800", "currency": "CNY"}),
    "order": (
        "/orders/new/",
        {"number": "SO-9", "ordered_at": "2026-01-05T10:00", "status": "paid", "currency": "CNY"},
    ),
}
NAME_FIELD = {"task": "title", "order": "number"}


def _errors(response: Any, field: str) -> str:
    html = response.content.decode()
    marker = f'id="id_{field}_error"'
    assert marker in html, f"no error shown for {field}"
    return html.split(marker, 1)[1].split("</div>", 1)[0]


@pytest.mark.parametrize("kind", sorted(FORMS))
def test_empty_required_fields_are_refused(world: Any, sales_client: Client, kind: str) -> None:
    url, _body = FORMS[kind]
    response = sales_client.post(url, {}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 422
    assert "This field is required." in _errors(response, NAME_FIELD.get(kind, "name"))


@pytest.mark.parametrize("kind", sorted(FORMS))
def test_ten_thousand_character_names_are_refused(
    world: Any, sales_client: Client, kind: str
) -> None:
    url, body = FORMS[kind]
    field = NAME_FIELD.get(kind, "name")
    response = sales_client.post(url, {**body, field: LONG}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 422
    assert "Ensure this value has at most" in _errors(response, field)


@pytest.mark.parametrize(
    ("url", "body", "field", "message"),
    [
        (
            "/opportunities/new/",
            {"name": "x", "amount": "12,5x", "currency": "CNY"},
            "amount",
            "Enter a number.",
        ),
        (
            "/opportunities/new/",
            {"name": "x", "amount": "-5", "currency": "CNY"},
            "amount",
            "greater than or equal to 0",
        ),
        (
            "/opportunities/new/",
            {"name": "x", "amount": "1", "currency": "CNY", "probability": "140"},
            "probability",
            "less than or equal to 100",
        ),
        (
            "/opportunities/new/",
            {"name": "x", "amount": "1e400", "currency": "CNY"},
            "amount",
            "no more than 14 digits",
        ),
        (
            "/products/new/",
            {"name": "x", "price": "九千", "currency": "CNY"},
            "price",
            "Enter a number.",
        ),
        (
            "/tasks/new/",
            {"title": "x", "due_at": "tomorrow-ish"},
            "due_at",
            "Enter a valid date/time.",
        ),
        (
            "/accounts/new/",
            {"name": "x", "website": "javascript:alert(1)"},
            "website",
            "http:// or https://",
        ),
        (
            "/leads/new/",
            {"name": "x", "status": "new", "priority": "medium", "email": "not-an-email"},
            "email",
            "Enter a valid email address.",
        ),
        (
            "/leads/new/",
            {"name": "x", "status": "bogus", "priority": "medium"},
            "status",
            "Select a valid choice.",
        ),
    ],
)
def test_wrong_formats_are_refused_with_the_fields_message(
    world: Any, sales_client: Client, url: str, body: dict[str, str], field: str, message: str
) -> None:
    before = (Opportunity.objects.count(), Product.objects.count(), Lead.objects.count())
    response = sales_client.post(url, body, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 422
    assert message in _errors(response, field)
    assert (Opportunity.objects.count(), Product.objects.count(), Lead.objects.count()) == before


def test_the_page_shows_the_same_message_as_the_service_and_api(
    world: Any, sales_client: Client
) -> None:
    with pytest.raises(ValidationFailedError) as refused:
        lead_create(actor=world.sales, values={"name": "x", "phone": "12345"})
    api_message = refused.value.fields["phone"][0]
    body = {"name": "x", "status": "new", "priority": "medium", "phone": "12345"}
    response = sales_client.post("/leads/new/", body, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 422
    assert api_message in _errors(response, "phone")
    assert not Lead.objects.filter(name="x").exists()


def test_script_in_notes_is_stored_as_text_and_shown_escaped(
    world: Any, sales_client: Client
) -> None:
    body = {"name": SCRIPT, "status": "new", "priority": "medium", "notes": SCRIPT}
    response = sales_client.post("/leads/new/", body)
    assert response.status_code == 302
    lead = Lead.objects.get(notes=SCRIPT)
    assert lead.name == SCRIPT
    page = sales_client.get(f"/leads/{lead.pk}/").content.decode()
    assert SCRIPT not in page
    assert escape(SCRIPT) in page


def test_inline_edit_shows_the_services_message_and_keeps_the_value(
    world: Any, sales_client: Client
) -> None:
    lead = lead_create(actor=world.sales, values={"name": "王小明", "phone": "13800138000"})
    url = f"/leads/{lead.pk}/field/phone/"
    editor = sales_client.get(url, HTTP_HX_REQUEST="true")
    assert editor.status_code == 200 and 'name="phone"' in editor.content.decode()
    refused = sales_client.post(
        url, {"phone": "12345"}, HTTP_HX_REQUEST="true", HTTP_ACCEPT_LANGUAGE="en"
    )
    assert "Enter a valid phone number." in _errors(refused, "phone")
    lead.refresh_from_db()
    assert lead.phone == "+8613800138000"
    saved = sales_client.post(url, {"phone": "139 1234 5678"}, HTTP_HX_REQUEST="true")
    assert "+8613912345678" in saved.content.decode()
    lead.refresh_from_db()
    assert lead.phone == "+8613912345678"


def test_an_inline_edit_of_a_field_not_offered_is_404(world: Any, sales_client: Client) -> None:
    lead = lead_create(actor=world.sales, values={"name": "王小明"})
    response = sales_client.post(f"/leads/{lead.pk}/field/score/", {"score": "100"})
    assert response.status_code == 404
    lead.refresh_from_db()
    assert lead.score == 0


def test_a_valid_form_creates_the_record_through_the_service(
    world: Any, sales_client: Client
) -> None:
    response = sales_client.post("/accounts/new/", {"name": "星辰科技", "website": "https://x.cn"})
    account = Account.objects.get(name="星辰科技")
    assert response.status_code == 302 and response["Location"] == f"/accounts/{account.pk}/"
    assert account.owner_id == world.sales.pk and account.pinyin_key == "xingchenkeji"
