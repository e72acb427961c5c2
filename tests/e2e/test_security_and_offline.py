"""Nothing a user stores can run script; pages send a strict CSP; records read offline."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from crm.activities.services import activity_log
from crm.customers.services import account_create
from crm.sales.models import Lead
from crm.sales.services import lead_create, opportunity_create
from tests.e2e.conftest import Browsing

PAYLOAD = '<img src=x onerror="window.__xss=(window.__xss||0)+1">'
SCRIPT = "<script>window.__xss=(window.__xss||0)+1</script>"
JS_LINK = "javascript:window.__xss=1"


def _assert_inert(b: Browsing) -> None:
    page = b.page
    assert page.evaluate("() => window.__xss === undefined")
    assert page.locator("a[href^='javascript:' i]").count() == 0
    assert page.locator("img[src=x]").count() == 0


def test_stored_markup_and_links_never_run(world: Any, browse: Any) -> None:
    account = account_create(
        actor=world.sales, values={"name": "Evil " + PAYLOAD, "website": JS_LINK}
    )
    lead = lead_create(
        actor=world.sales,
        values={"name": "Evil lead " + PAYLOAD, "company": PAYLOAD, "notes": SCRIPT + PAYLOAD},
    )
    opportunity = opportunity_create(
        actor=world.sales, values={"name": "Evil deal " + PAYLOAD}, account_id=account.pk
    )
    activity_log(
        actor=world.sales,
        record_type="opportunity",
        record_id=opportunity.pk,
        values={"kind": "note", "subject": "contract" + PAYLOAD + ".pdf", "body": SCRIPT},
    )
    b: Browsing = browse()
    page = b.login(world.sales.user.username)

    for path in [
        "/accounts/",
        f"/accounts/{account.pk}/",
        "/leads/",
        f"/leads/{lead.pk}/",
        f"/opportunities/{opportunity.pk}/",
        "/kanban/",
        "/activities/",
    ]:
        b.goto(path)
        _assert_inert(b)
    b.goto(f"/opportunities/{opportunity.pk}/")
    expect(page.locator("h1")).to_contain_text("Evil deal <img")
    expect(page.locator("#timeline")).to_contain_text("contract<img src=x")

    # The website is shown as text, not as a javascript: link.
    b.goto(f"/accounts/{account.pk}/")
    expect(page.locator("#field-website")).to_contain_text(JS_LINK)
    _assert_inert(b)

    # Instant search results and an inline edit (HTMX swaps) stay inert too.
    page.fill("#global-search", "evil")
    expect(page.locator("#search-results a.search-hit").first).to_be_visible()
    _assert_inert(b)
    b.goto(f"/leads/{lead.pk}/")
    page.locator("#field-company .inline-edit").click()
    page.fill("#id_company", "Acme " + SCRIPT)
    page.locator("#field-company button[type=submit]").click()
    expect(page.locator("#field-company")).to_contain_text("Acme <script>")
    _assert_inert(b)
    assert Lead.objects.get(pk=lead.pk).company == "Acme " + SCRIPT

    # A name typed into a form with markup is stored as text and shown as text.
    b.goto("/leads/new/")
    page.fill("#id_name", PAYLOAD)
    page.fill("#id_notes", SCRIPT)
    page.locator("form.record-form button[type=submit]").click()
    page.wait_for_url(re.compile(r"/leads/\d+/$"))
    expect(page.locator("h1")).to_have_text(PAYLOAD)
    _assert_inert(b)


def test_pages_send_a_strict_content_security_policy(world: Any, browse: Any) -> None:
    b: Browsing = browse()
    b.login(world.sales.user.username)
    for path in ["/", "/leads/", "/kanban/", "/login/", "/sw.js"]:
        response = b.page.request.get(b.base + path)
        policy = response.headers["content-security-policy"]
        script_src = next(p for p in policy.split(";") if p.strip().startswith("script-src"))
        assert script_src.split() == ["script-src", "'self'"], policy
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
        assert "frame-ancestors 'none'" in policy


def test_last_viewed_records_read_offline_and_are_forgotten_on_sign_out(
    world: Any, browse: Any
) -> None:
    lead = lead_create(actor=world.sales, values={"name": "离线客户", "company": "云端"})
    b: Browsing = browse()
    page = b.login(world.sales.user.username)
    manifest = page.request.get(b.base + "/manifest.webmanifest").json()
    assert manifest["start_url"] == "/" and manifest["display"] == "standalone"
    assert {"192x192", "512x512"} <= {icon["sizes"] for icon in manifest["icons"]}
    page.wait_for_function("() => navigator.serviceWorker.controller !== null || location.reload()")
    page.wait_for_function("() => navigator.serviceWorker.controller !== null")

    b.goto(f"/leads/{lead.pk}/")
    page.wait_for_function(
        "async () => (await (await caches.open('crm-records-v1')).keys()).length > 0"
    )
    b.context.set_offline(True)
    page.reload()
    expect(page.locator("#offline-banner")).to_be_visible()
    expect(page.locator("h1")).to_have_text("离线客户")
    expect(page.locator("#quick-actions")).to_be_hidden()
    expect(page.locator(".inline-edit").first).to_be_hidden()

    b.goto("/accounts/")  # never viewed: the offline page lists what can be read
    expect(page.locator("#saved-records a", has_text="离线客户")).to_be_visible()
    b.context.set_offline(False)

    b.goto("/")
    page.locator(".navbar .member-menu").click()
    page.locator("button[data-clear-offline]").click()
    page.wait_for_url(re.compile(r"/login/\?signed_out=1$"))
    page.wait_for_function(
        "async () => (await caches.keys()).every(k => !k.startsWith('crm-records'))"
    )
