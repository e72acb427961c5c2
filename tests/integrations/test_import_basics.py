from __future__ import annotations

from crm.customers.models import Account, Contact
from crm.customers.services import contact_create
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
