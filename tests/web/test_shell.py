"""The shell: sign-in, password reset by mail, languages, time zone, navigation by role,
global search, the security headers and the PWA files."""

from __future__ import annotations

import re
from typing import Any

from django.test import Client

from crm.activities.services import task_create
from crm.customers.services import account_create, contact_create
from crm.events.models import OutboxEmail
from crm.sales.services import lead_create
from crm.web.models import UserPreference
from tests.web.conftest import client_for


def test_sign_in_and_out(world: Any) -> None:
    client = Client()
    assert client.get("/").status_code == 302
    bad = client.post("/login/", {"username": world.sales.user.username, "password": "nope"})
    assert bad.status_code == 200 and "_auth_user_id" not in client.session
    good = client.post(
        "/login/", {"username": world.sales.user.username, "password": "pw-Secret-123"}
    )
    assert good.status_code == 302 and good["Location"] == "/"
    assert client.get("/").status_code == 200
    out = client.post("/logout/")
    assert out["Location"] == "/login/?signed_out=1"
    assert client.get("/").status_code == 302


def test_password_reset_mail_goes_through_the_outbox(world: Any, settings: Any) -> None:
    settings.EMAIL_BACKEND = "crm.events.mail.OutboxEmailBackend"  # Django's tests use locmem
    user = world.sales.user
    user.email = "sales@example.com"
    user.save()
    client = Client()
    response = client.post("/password-reset/", {"email": "sales@example.com"})
    assert response["Location"] == "/password-reset/sent/"
    mail = OutboxEmail.objects.get(to=["sales@example.com"])
    link = re.search(r"http://testserver(/reset/\S+/)", mail.body)
    assert link, mail.body
    form = client.get(link.group(1), follow=True)
    assert form.status_code == 200
    done = client.post(
        form.redirect_chain[-1][0] if form.redirect_chain else link.group(1),
        {"new_password1": "A-new-pass-9876", "new_password2": "A-new-pass-9876"},
    )
    assert done["Location"] == "/reset/done/"
    assert Client().login(username=user.username, password="A-new-pass-9876")


def test_chinese_for_a_browser_that_asks_for_it_and_switching_language(
    world: Any, sales_client: Client
) -> None:
    zh = sales_client.get("/", HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9").content.decode()
    assert '<html lang="zh-hans">' in zh and "仪表盘" in zh
    en = sales_client.get("/", HTTP_ACCEPT_LANGUAGE="en-US").content.decode()
    assert '<html lang="en">' in en and "Dashboard" in en
    switched = sales_client.post(
        "/i18n/setlang/", {"language": "en", "next": "/leads/"}, HTTP_ACCEPT_LANGUAGE="zh-CN"
    )
    assert switched["Location"] == "/leads/"
    assert (
        '<html lang="en">' in sales_client.get("/", HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()
    )


def test_times_are_shown_in_the_members_time_zone(world: Any, sales_client: Client) -> None:
    task = task_create(
        actor=world.sales, values={"title": "回电", "due_at": "2026-03-01T02:30:00Z"}
    )
    page = sales_client.get(f"/tasks/{task.pk}/").content.decode()
    assert "2026-03-01 10:30" in page  # the tenant's Asia/Shanghai
    assert sales_client.post("/me/", {"time_zone": "Europe/Berlin"}).status_code == 302
    assert UserPreference.objects.get(membership=world.sales).time_zone == "Europe/Berlin"
    assert "2026-03-01 03:30" in sales_client.get(f"/tasks/{task.pk}/").content.decode()
    refused = sales_client.post("/me/", {"time_zone": "Mars/Olympus"}, HTTP_ACCEPT_LANGUAGE="en")
    assert refused.status_code == 200 and "Select a valid choice" in refused.content.decode()


def test_navigation_follows_the_role(world: Any) -> None:
    admin = client_for(world.admin).get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    sales = client_for(world.sales).get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'href="/settings/"' in admin and 'href="/settings/"' not in sales
    assert 'href="/kanban/"' in sales and "Acme 艾克米" in sales
    assert client_for(world.sales).get("/settings/").status_code == 403


def test_global_search_finds_names_companies_pinyin_email_and_phone(
    world: Any, sales_client: Client
) -> None:
    account_create(actor=world.sales, values={"name": "星辰科技"})
    contact_create(
        actor=world.sales,
        values={"name": "张三", "email": "zs@example.com", "phone": "13800138000"},
    )
    lead_create(actor=world.sales, values={"name": "王小明", "company": "晨光"})
    lead_create(actor=world.sales2, values={"name": "王小红"})  # not visible to this rep
    for query, expected in [
        ("xingchen", "星辰科技"),
        ("xc", "星辰科技"),
        ("zs@example.com", "张三"),
        ("+86 138 0013 8000", "张三"),
        ("wxm", "王小明"),
        ("王", "王小明"),
    ]:
        html = sales_client.get("/search/", {"q": query}, HTTP_HX_REQUEST="true").content.decode()
        assert expected in html and "<html" not in html, query
    assert "王小红" not in sales_client.get("/search/", {"q": "wang"}).content.decode()


def test_security_headers_and_no_inline_script(world: Any, sales_client: Client) -> None:
    response = sales_client.get("/")
    policy = response["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "unsafe" not in policy
    assert response["X-Frame-Options"] == "DENY"
    html = response.content.decode()
    assert re.findall(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)", html) == []
    assert not re.search(r"\son[a-z]+=", html) and "javascript:" not in html
    assert 'style="' not in html


def test_pwa_manifest_and_service_worker(world: Any) -> None:
    client = Client()
    manifest = client.get("/manifest.webmanifest")
    assert manifest["Content-Type"] == "application/manifest+json"
    assert manifest.json()["display"] == "standalone"
    worker = client.get("/sw.js")
    body = worker.content.decode()
    assert worker["Content-Type"] == "application/javascript" and "__SHELL_ASSETS__" not in body
    assert "/offline/" in body
    assert client.get("/offline/").status_code == 200


def test_analytics_pages_share_one_menu_of_the_bar(world: Any) -> None:
    manager = client_for(world.manager).get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    menu = manager.split(">Analytics</button>", 1)[1].split("</ul>", 1)[0]
    for url in ('href="/forecasts/"', 'href="/insights/"', 'href="/reports/"'):
        assert url in menu
    chinese = client_for(world.manager).get("/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert ">分析</button>" in chinese
    # a sales rep's menu holds only what the role may open
    sales = client_for(world.sales).get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    menu = sales.split(">Analytics</button>", 1)[1].split("</ul>", 1)[0]
    assert 'href="/forecasts/"' in menu and 'href="/insights/"' not in sales
