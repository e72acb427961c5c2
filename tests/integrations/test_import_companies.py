"""Companies named in an import are looked up once per run and created once, across batches."""

from __future__ import annotations

import pytest

from crm.customers.models import Account, Contact
from crm.customers.services import account_create

from .helpers import csv_bytes, run_import


def test_a_new_company_named_in_every_batch_is_created_once(world) -> None:
    rows = [["姓名", "公司", "外部编号"]] + [[f"员工{i}", "新星科技", f"E{i}"] for i in range(7)]
    job = run_import(world.admin, csv_bytes(rows), batch_size=2)
    assert job.created_count == 7
    accounts = Account.objects.filter(name="新星科技")
    assert accounts.count() == 1
    linked = Contact.objects.filter(external_id__startswith="E").values_list("account_id")
    assert set(linked) == {(accounts.get().pk,)}


def test_existing_and_ambiguous_companies_resolve_the_same_in_every_batch(world) -> None:
    known = account_create(actor=world.admin, values={"name": "老字号", "external_id": "ACC-1"})
    account_create(actor=world.admin, values={"name": "重名公司"})
    account_create(actor=world.admin, values={"name": "重名公司"})
    rows = [["姓名", "公司", "公司外部编号"]]
    rows += [[f"甲{i}", "老字号", ""] for i in range(3)]
    rows += [[f"乙{i}", "", "ACC-1"] for i in range(3)]
    rows += [[f"丙{i}", "重名公司", ""] for i in range(3)]
    job = run_import(world.admin, csv_bytes(rows), batch_size=2)
    assert (job.created_count, job.failed_count) == (6, 3)
    names = Contact.objects.filter(account=known).values_list("name", flat=True)
    assert sorted(names) == sorted([f"甲{i}" for i in range(3)] + [f"乙{i}" for i in range(3)])
    assert Account.objects.filter(name="重名公司").count() == 2
    assert not Contact.objects.filter(name__startswith="丙").exists()


def test_a_new_company_whose_first_rows_are_skipped_is_created_by_a_later_batch(world) -> None:
    """Batch 1 plans 新公司 but only names it on a duplicate row (skipped); batch 2 names it
    on a new contact: the company is created then, once, and linked."""
    rows = [["姓名", "公司", "外部编号"], ["甲", "", "K1"], ["甲", "新公司", "K1"]]
    rows += [["乙", "新公司", "K2"], ["丙", "新公司", "K3"]]
    job = run_import(world.admin, csv_bytes(rows), batch_size=2)
    assert (job.created_count, job.skipped_count) == (3, 1)
    company = Account.objects.get(name="新公司")
    linked = Contact.objects.filter(external_id__in=["K2", "K3"]).values_list("account_id")
    assert set(linked) == {(company.pk,)}
    assert Contact.objects.get(external_id="K1").account_id is None


def test_imported_companies_are_found_by_the_new_account_check(world) -> None:
    """An account file, a contact file naming a new company, and an update that gives only a
    phone: each leaves the keys the check of a new account looks duplicates up by."""
    from crm.integrations import dedupe

    def check(values: dict[str, str]) -> list[str]:
        found = dedupe.matches_for(values, record_type="account")
        return [Account.objects.get(pk=pk).name for pk, _score, _reasons in found]

    accounts = [["公司名称", "网站", "电话", "外部编号"]]
    accounts += [["北京星辰科技有限公司", "https://www.xingchen.cn/about", "", "A1"]]
    accounts += [["Evergreen Electronics Co.", "", "021-6666 1234", "A2"]]
    assert run_import(world.admin, csv_bytes(accounts), target="account").created_count == 2
    run_import(world.admin, csv_bytes([["姓名", "公司"], ["王芳", "云帆物流有限公司"]]))
    assert check({"name": "星辰科技(北京)有限公司", "city": ""}) == ["北京星辰科技有限公司"]
    assert check({"name": "Lakeside", "website": "xingchen.cn"}) == ["北京星辰科技有限公司"]
    assert check({"name": "EVERGREEN ELECTRONICS LTD"}) == ["Evergreen Electronics Co."]
    assert check({"name": "云帆物流"}) == ["云帆物流有限公司"]

    # an update giving no website keeps the website's key and replaces the phone's
    update = [["外部编号", "公司名称", "电话"]]
    update += [["A1", "北京星辰科技有限公司", "+86 10 8888 1234"]]
    update += [["A2", "Evergreen Electronics Co.", "010 5555 1234"]]
    job = run_import(
        world.admin,
        csv_bytes(update),
        target="account",
        options={"duplicate_policy": "update", "match_on": ["external_id"]},
    )
    assert job.updated_count == 2
    assert check({"name": "Other", "phone": "010-88881234"}) == ["北京星辰科技有限公司"]
    assert check({"name": "Other", "website": "www.xingchen.cn"}) == ["北京星辰科技有限公司"]
    assert check({"name": "Other", "phone": "021 6666 1234"}) == []


@pytest.mark.parametrize("batch_size", [1, 5, 1000])  # the same companies however batched
def test_a_company_is_found_under_its_short_or_other_legal_name(world, batch_size: int) -> None:
    """A spreadsheet names companies as people say them: 星辰科技 for the registered
    北京星辰科技有限公司, Acme for Acme, Inc. Those rows join the account on record; a row
    naming another city, or a short name two accounts share, gets a company of its own."""
    admin = world.admin
    beijing = account_create(actor=admin, values={"name": "北京星辰科技有限公司"})
    acme = account_create(actor=admin, values={"name": "Acme, Inc."})
    hangzhou = account_create(actor=admin, values={"name": "杭州云帆物流有限公司"})
    ningbo = account_create(actor=admin, values={"name": "宁波云帆物流有限公司"})
    rows = [["姓名", "公司", "外部编号"]]
    rows += [["甲", "星辰科技", "C1"], ["乙", "星辰科技（北京）有限公司", "C2"]]  # noqa: RUF001 - full-width, as typed
    rows += [["丙", "ACME", "C3"], ["丁", "Acme Corporation", "C4"]]
    rows += [["戊", "深圳星辰科技有限公司", "C5"], ["己", "深圳市星辰科技", "C6"]]
    rows += [["庚", "云帆物流", "C7"], ["辛", "宁波云帆物流", "C8"]]
    job = run_import(world.admin, csv_bytes(rows), batch_size=batch_size)
    assert job.created_count == 8

    def company(external_id: str) -> str:
        return Contact.objects.select_related("account").get(external_id=external_id).account.name

    assert company("C1") == company("C2") == beijing.name
    assert company("C3") == company("C4") == acme.name
    # 深圳 is another company: created once, for both of its spellings
    assert company("C5") == company("C6") == "深圳星辰科技有限公司"
    # two accounts share 云帆物流: the short name gets its own; 宁波 takes Ningbo's
    assert company("C7") == "云帆物流" and company("C8") == ningbo.name
    assert hangzhou.name not in {company(f"C{i}") for i in range(1, 9)}
    assert Account.objects.count() == 6


def test_an_account_file_finds_accounts_under_another_legal_name(world) -> None:
    """The account import's name match takes the same rule: 星辰科技(北京)有限公司 is the
    北京星辰科技有限公司 on record (skipped, or updated), 深圳星辰科技有限公司 a new account."""
    admin = world.admin
    beijing = account_create(actor=admin, values={"name": "北京星辰科技有限公司"})
    acme = account_create(actor=admin, values={"name": "Acme, Inc."})
    rows = [["公司名称", "城市"], ["星辰科技(北京)有限公司", "北京"], ["ACME Corp", "Boston"]]
    rows += [["深圳星辰科技有限公司", "深圳"]]
    job = run_import(admin, csv_bytes(rows), target="account")
    assert (job.created_count, job.skipped_count) == (1, 2)
    reasons = [e.errors["__row__"][0] for e in job.row_errors.order_by("row_number")]
    assert "北京星辰科技有限公司" in reasons[0] and "Acme, Inc." in reasons[1]
    assert Account.objects.filter(name="深圳星辰科技有限公司").exists()

    job = run_import(
        admin, csv_bytes(rows[:3]), target="account", options={"duplicate_policy": "update"}
    )
    assert job.updated_count == 2
    assert Account.objects.get(pk=beijing.pk).city == "北京"
    assert Account.objects.get(pk=acme.pk).city == "Boston"
    assert Account.objects.get(pk=beijing.pk).name == beijing.name  # the registered name stays
