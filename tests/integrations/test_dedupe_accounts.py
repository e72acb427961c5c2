"""Duplicate accounts: the same company under a longer or shorter name, its phone or website."""

from __future__ import annotations

from itertools import combinations
from typing import Any

import pytest

from crm.core.company_keys import company_core, phone_digits, website_domain
from crm.core.context import tenant_context
from crm.customers.models import Account
from crm.customers.services import account_create, account_delete
from crm.integrations import dedupe, services
from crm.integrations.models import DuplicateCandidate
from crm.integrations.selectors import duplicate_queue


@pytest.mark.parametrize(
    ("name", "core"),
    [
        ("北京星辰科技有限公司", "星辰科技"),
        ("星辰科技（北京）有限公司", "星辰科技"),  # noqa: RUF001 - full-width, as typed in China
        ("北京市星辰科技集团有限公司", "星辰科技"),
        ("浙江省杭州云帆物流有限公司", "云帆物流"),  # province, then city
        ("深圳", "深圳"),
        ("星辰科技", "星辰科技"),
        ("中国银行股份有限公司", "中国银行"),
        ("Acme, Inc.", "acme"),
        ("ACME Corporation", "acme"),
        ("Tencent Holdings Ltd.", "tencent"),
        ("上海", "上海"),  # never cut down to nothing
        ("公司", "公司"),
    ],
)
def test_company_core_drops_legal_form_brackets_and_region(name: str, core: str) -> None:
    assert company_core(name) == core


def test_phone_and_website_keys() -> None:
    assert phone_digits("+86 10 8888 1234") == phone_digits("010-8888 1234") == "1088881234"
    assert phone_digits("0086 138 0013 8000") == "13800138000"
    assert phone_digits("123") == ""
    assert website_domain("https://www.acme.com/about") == website_domain("ACME.com") == "acme.com"
    assert website_domain("shop123.tmall.com") == ""  # a shop on a platform says nothing
    assert website_domain("") == website_domain("not a site") == ""


def scan(admin: Any, capture: Any) -> tuple[dict[tuple[int, int], Any], Any]:
    with capture(execute=True):
        job = services.duplicate_scan_start(actor=admin, record_type="account")
    job.refresh_from_db()
    queue = duplicate_queue(actor=admin, record_type="account")
    return {(c.left_id, c.right_id): c for c in queue}, job


def test_account_scan_finds_the_same_company_and_leaves_others(
    world, other_world, django_capture_on_commit_callbacks
) -> None:
    admin = world.admin

    def account(name: str, **values: str) -> Account:
        return account_create(actor=admin, values={"name": name, **values})

    expected: set[tuple[int, int]] = set()

    def same(*accounts: Account) -> None:
        expected.update(combinations(sorted(a.pk for a in accounts), 2))

    xc_long = account("北京星辰科技有限公司", city="北京")
    xc_short = account("星辰科技", city="北京")
    xc_shenzhen = account("星辰科技", city="深圳")  # same trade name, another city
    xc_somewhere = account("星辰科技股份有限公司")  # city not known
    same(xc_long, xc_short, xc_somewhere)
    same(xc_shenzhen, xc_somewhere)
    same(account("Acme, Inc."), account("ACME Corporation", city="Boston"))
    same(
        account("Foo Trading", website="https://www.foo-trade.com/"),
        account("FT Group", website="foo-trade.com"),
    )
    same(account("云帆物流", phone="010-8888 1234"), account("云帆速运", phone="+86 10 8888 1234"))
    # one company's branches in two cities share its website: two accounts on purpose, unless
    # the phone is the same too (then one of the cities is wrong)
    site = "https://www.haiyun-ship.com/"
    haiyun_sh = account("上海海运通物流有限公司", city="上海", website=site)
    haiyun_nb = account("宁波海运通物流有限公司", city="宁波", website=site)
    same(account("海运通物流", city="上海", website="haiyun-ship.com/contact"), haiyun_sh)
    same(
        account("广州蓝鲸贸易有限公司", city="广州", website="lanjing.cn", phone="020-3888 0001"),
        account("蓝鲸贸易", city="深圳", website="lanjing.cn", phone="+86 20 3888 0001"),
    )
    # distractors: other names, shops on one platform, a deleted twin, another tenant's twin
    account("华为技术有限公司")
    account("中兴通讯股份有限公司")
    account("甲店", website="https://shop1.tmall.com")
    account("乙店", website="https://shop2.tmall.com")
    gone = account("云帆物流有限公司")
    account_delete(actor=admin, account=gone)
    with tenant_context(other_world.tenant.pk):
        account_create(actor=other_world.admin, values={"name": "星辰科技有限公司", "city": "北京"})

    found, job = scan(admin, django_capture_on_commit_callbacks)
    assert set(found) == expected
    assert job.pairs_found == len(expected)
    assert job.scanned == Account.objects.filter(deleted_at__isnull=True).count()
    long_short = found[tuple(sorted((xc_long.pk, xc_short.pk)))]
    assert long_short.score >= 85
    assert any("legal form" in r for r in long_short.reasons)
    # one name in two cities is two companies unless a phone or website says otherwise
    assert tuple(sorted((xc_long.pk, xc_shenzhen.pk))) not in found
    assert tuple(sorted((haiyun_sh.pk, haiyun_nb.pk))) not in found

    # a second scan queues nothing new
    again, _job = scan(admin, django_capture_on_commit_callbacks)
    assert set(again) == expected
    assert DuplicateCandidate.objects.filter(record_type="account").count() == len(expected)


def test_account_matches_for_a_new_account(world) -> None:
    admin = world.admin
    existing = account_create(actor=admin, values={"name": "杭州云帆物流有限公司", "city": "杭州"})
    account_create(actor=admin, values={"name": "云海贸易"})
    found = dedupe.matches_for({"name": "云帆物流", "city": "杭州"}, record_type="account")
    assert [pk for pk, _score, _reasons in found] == [existing.pk]
    assert dedupe.matches_for({"name": "云帆"}, record_type="account") == []


def test_a_scan_queues_the_likeliest_pairs_first_and_says_so(
    world, django_capture_on_commit_callbacks, monkeypatch
) -> None:
    admin = world.admin
    monkeypatch.setattr(dedupe, "MAX_NEW_PAIRS", 2)
    # one site, four names: six pairs, the two names with one core name scoring highest
    for name in ("云帆物流", "云帆物流有限公司", "北方速运", "南方快递"):
        account_create(actor=admin, values={"name": name, "website": "yunfan56.com"})
    found, job = scan(admin, django_capture_on_commit_callbacks)
    assert job.pairs_found == 6 and len(found) == 2
    assert max(c.score for c in found.values()) == 95
    assert "6 new pairs found; the 2 likeliest" in job.message
    again, job = scan(admin, django_capture_on_commit_callbacks)
    assert len(again) == 4 and job.pairs_found == 6 and job.message
    later = [c.score for pair, c in again.items() if pair not in found]
    assert min(c.score for c in found.values()) >= max(later)
    third, job = scan(admin, django_capture_on_commit_callbacks)
    assert len(third) == 6 and job.message == ""


def test_account_check_finds_the_company_under_another_spelling(world) -> None:
    """The New account form's check: the name as words or not, the phone in any format, the
    website with or without www and a path all find the account on record."""
    admin = world.admin
    evergreen = account_create(actor=admin, values={"name": "Evergreen Electronics Co."})
    switchboard = account_create(
        actor=admin, values={"name": "北方速运", "phone": "010-8888 1234", "city": "北京"}
    )
    site = account_create(
        actor=admin, values={"name": "Lakeside", "website": "https://lakeside.io/"}
    )
    account_create(actor=admin, values={"name": "Evergreen Foods", "phone": "021 6666 1234"})

    def found(values: dict[str, str]) -> list[int]:
        return [pk for pk, _score, _reasons in dedupe.matches_for(values, record_type="account")]

    assert found({"name": "EVERGREEN ELECTRONICS CORP"}) == [evergreen.pk]
    assert found({"name": "北方快运物流", "phone": "+86 10 88881234"}) == [switchboard.pk]
    assert found({"name": "Lakeside Ltd", "website": "www.lakeside.io/contact"}) == [site.pk]
    # a deleted account is not offered
    account_delete(actor=admin, account=evergreen)
    assert found({"name": "Evergreen Electronics"}) == []


def test_the_migration_fills_the_keys_of_existing_accounts(world) -> None:
    """Accounts written before the key columns existed, deleted ones too, get their keys."""
    import importlib

    from django.apps import apps
    from django.db import connection

    admin = world.admin
    values = {"name": "星辰科技(北京)有限公司", "phone": "010-8888 1234", "website": "xingchen.cn"}
    kept = account_create(actor=admin, values=values)
    gone = account_create(actor=admin, values={"name": "Acme, Inc."})
    account_delete(actor=admin, account=gone)
    columns = ("core_name_key", "phone_key", "website_key")
    Account.objects.update(**dict.fromkeys(columns, ""))
    module = importlib.import_module("crm.customers.migrations.0005_account_company_keys")
    module.fill_company_keys(apps, connection.schema_editor())
    stored = Account.objects.values_list("pk", *columns)
    assert set(stored) == {
        (kept.pk, "星辰科技", "1088881234", "xingchen.cn"),
        (gone.pk, "acme", "", ""),
    }
