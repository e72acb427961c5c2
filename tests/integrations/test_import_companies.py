"""Companies named in an import are looked up once per run and created once, across batches."""

from __future__ import annotations

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
