from __future__ import annotations

from crm.customers.models import Account, Contact
from crm.customers.services import account_create, contact_create
from crm.events.models import OutboxEvent
from crm.integrations.models import ImportRowError
from crm.tenancy.models import AuditLog

from .helpers import csv_bytes, run_import, upload


def test_chinese_headers_are_mapped_and_rows_land_like_the_service_writes_them(world) -> None:
    content = csv_bytes(
        [
            ["姓名", "手机", "邮箱", "公司", "职位"],
            ["张三", "138 0013 8000", "Zhang.San@Example.com", "艾克米科技", "经理"],
            ["John Smith", "+86-139-0013-9000", "john@example.com", "Acme Ltd", "CTO"],
        ]
    )
    job = upload(world.admin, content)
    assert job.mapping == ["name", "phone", "email", "account", "title"]
    job = run_import(world.admin, content)
    assert (job.status, job.created_count, job.failed_count) == ("done", 2, 0)
    imported = Contact.objects.get(name="张三")
    reference = contact_create(
        actor=world.admin,
        values={"name": "张三", "phone": "138 0013 8000", "email": "Zhang.San@Example.com"},
    )
    for field in (
        "email",
        "phone",
        "email_index",
        "phone_index",
        "name_key",
        "pinyin_key",
        "initials_key",
    ):
        assert getattr(imported, field) == getattr(reference, field), field
    assert imported.account.name == "艾克米科技"
    assert imported.owner == world.admin
    assert Account.objects.count() == 2
    link = AuditLog.objects.get(record_type="importjob", action="contact.imported")
    assert link.changes["created"]["contact"] == [[imported.pk, imported.pk + 1]]
    assert OutboxEvent.objects.filter(name="contact.imported").count() == 1


def test_duplicate_policies_skip_update_create(world) -> None:
    contact_create(actor=world.admin, values={"name": "王芳", "email": "wf@example.com"})
    content = csv_bytes([["Name", "Email", "Title"], ["王芳 Wang", "WF@example.com", "Director"]])
    skipped = run_import(world.admin, content)
    assert (skipped.created_count, skipped.skipped_count) == (0, 1)
    error = ImportRowError.objects.get(job=skipped)
    assert error.outcome == "skipped" and "same email" in error.errors["__row__"][0]
    updated = run_import(world.admin, content, options={"duplicate_policy": "update"})
    assert updated.updated_count == 1
    assert Contact.objects.get(email_index=Contact.objects.first().email_index).title == "Director"
    created = run_import(world.admin, content, options={"duplicate_policy": "create"})
    assert created.created_count == 1
    assert Contact.objects.count() == 2


def test_an_imported_alias_gets_its_mailbox_key_and_an_update_takes_it_away(world) -> None:
    header = ["External ID", "Name", "Email"]
    content = csv_bytes(
        [header, ["X1", "Ann Lee", "Ann+News@Example.com"], ["X2", "Bo", "bo@x.cn"]]
    )
    assert run_import(world.admin, content).created_count == 2
    reference = contact_create(
        actor=world.admin, values={"name": "A", "email": "ann+news@example.com"}
    )
    assert reference.email_alias_index is not None
    assert Contact.objects.get(external_id="X1").email_alias_index == reference.email_alias_index
    assert Contact.objects.get(external_id="X2").email_alias_index is None

    plain = csv_bytes([header, ["X1", "Ann Lee", "ann@example.com"]])
    options = {"duplicate_policy": "update", "match_on": ["external_id"]}
    assert run_import(world.admin, plain, options=options).updated_count == 1
    assert Contact.objects.get(external_id="X1").email_alias_index is None


def test_an_import_matches_every_spelling_of_a_mailbox_and_companies_by_their_key(world) -> None:
    """The same matching as capture: a+news@x.com on record is a@x.com's (and the other way
    round, and within the file); name + company ignores the legal form and the script."""
    on_record = contact_create(
        actor=world.admin, values={"name": "Ann Lee", "email": "ann+news@example.com"}
    )
    plain = contact_create(actor=world.admin, values={"name": "Bo", "email": "bo@example.com"})
    rows = [
        ["Name", "Email"],
        ["Ann Lee", "ann@example.com"],  # the mailbox of the alias on record
        ["Bo", "bo+crm@example.com"],  # an alias of a plain address on record
        ["Cy", "cy@example.com"],
        ["Cy", "cy+2@example.com"],  # the same mailbox again within the file
        ["Di", "di@other.example.com"],
    ]
    job = run_import(world.admin, csv_bytes(rows))
    assert (job.created_count, job.skipped_count) == (2, 3)
    reasons = {e.row_number: e.errors["__row__"][0] for e in ImportRowError.objects.filter(job=job)}
    assert f"#{on_record.pk}" in reasons[2] and "same email" in reasons[2]
    assert f"#{plain.pk}" in reasons[3]
    assert "row 4" in reasons[5]

    account = account_create(actor=world.admin, values={"name": "阿里巴巴有限公司"})
    contact_create(actor=world.admin, values={"name": "王芳"}, account_id=account.pk)
    by_name = csv_bytes([["姓名", "公司"], ["王芳", "阿里巴巴集团"], ["王芳", "腾讯科技有限公司"]])
    job = run_import(world.admin, by_name, options={"match_on": ["name_company"]})
    assert (job.created_count, job.skipped_count) == (1, 1)
