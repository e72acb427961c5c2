from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import timedelta

import pytest
from django.utils import timezone
from openpyxl import load_workbook

from crm.activities.models import Activity
from crm.activities.services import activity_log
from crm.core.errors import ConflictError
from crm.customers.models import Contact
from crm.customers.services import contact_create
from crm.events.models import Notification
from crm.integrations import files, services
from crm.integrations.export import Export, csv_chunks, write_xlsx
from crm.integrations.models import ConsentRecord
from crm.sales.models import Order
from crm.sales.services import lead_create, order_create
from crm.tenancy.models import AuditLog

from .helpers import run_import


def test_csv_export_respects_visibility_filters_and_neutralises_formulas(world) -> None:
    contact_create(
        actor=world.sales, values={"name": "=1+2", "phone": "13800138000", "city": "上海"}
    )
    contact_create(actor=world.sales, values={"name": "@evil", "city": "北京"})
    contact_create(actor=world.sales2, values={"name": "Other team", "city": "上海"})
    export = Export(actor=world.sales, target="contact", filters={"city": "上海"}, include_pii=True)
    raw = b"".join(csv_chunks(export))
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0][:5] == ["ID", "姓名", "职位", "邮箱", "电话"]
    assert [(r[1], r[4]) for r in rows[1:]] == [("'=1+2", "'+8613800138000")]
    masked = Export(actor=world.admin, target="contact", filters={}, include_pii=False)
    phones = [
        r[4]
        for r in list(csv.reader(io.StringIO(b"".join(csv_chunks(masked)).decode("utf-8-sig"))))[1:]
    ]
    assert "'+86138****8000" in phones


def test_exported_file_imports_back(world) -> None:
    contact_create(
        actor=world.admin, values={"name": "张三", "phone": "13800138000", "email": "z@example.com"}
    )
    raw = b"".join(
        csv_chunks(Export(actor=world.admin, target="contact", filters={}, include_pii=True))
    )
    Contact.objects.all().delete()
    job = run_import(world.admin, raw)
    assert job.created_count == 1 and job.failed_count == 0
    assert Contact.objects.get().phone == "+8613800138000"


def test_large_export_job_writes_xlsx_and_notifies(
    world, django_capture_on_commit_callbacks, tmp_path
) -> None:
    for i in range(30):
        contact_create(
            actor=world.admin, values={"name": f"客户{i}", "title": "-" if i == 0 else ""}
        )
    with django_capture_on_commit_callbacks(execute=True):
        job = services.export_start(
            actor=world.admin, target="contact", file_format="xlsx", filters={}
        )
    job.refresh_from_db()
    assert (job.status, job.rows_done) == ("done", 30)
    sheet = load_workbook(files.resolve(job.file_path), read_only=True).active
    values = list(sheet.iter_rows(values_only=True))
    assert len(values) == 31 and "'-" in values[-1]
    note = Notification.objects.get(recipient=world.admin, kind="export_ready")
    assert str(job.pk) in note.link
    path = tmp_path / "x.xlsx"
    assert (
        write_xlsx(Export(actor=world.sales, target="contact", filters={}, include_pii=True), path)
        == 0
    )


def test_privacy_export_erase_and_consent(world) -> None:
    person = contact_create(
        actor=world.admin,
        values={"name": "王芳", "email": "wf@example.com", "phone": "13900139000"},
    )
    activity_log(
        actor=world.admin,
        record_type="contact",
        record_id=person.pk,
        values={"kind": "call", "subject": "聊了王芳的需求"},
    )
    order_create(
        actor=world.admin,
        values={"number": "P-1", "ordered_at": timezone.now()},
        contact_id=person.pk,
        lines=[{"quantity": 2, "unit_price": 50}],
    )
    services.consent_record(
        actor=world.admin,
        contact=person,
        channel="email",
        granted=True,
        source="web form /signup",
        wording="我同意接收邮件",
    )
    person.refresh_from_db()
    assert person.consent_email is True

    request = services.privacy_export(actor=world.admin, contact=person)
    archive = zipfile.ZipFile(files.resolve(request.file_path))
    data = json.loads(archive.read("person.json"))
    assert data["contact"][0]["email"] == "wf@example.com"
    assert (
        data["orders"][0]["number"] == "P-1" and data["consents"][0]["wording"] == "我同意接收邮件"
    )
    assert "activities.csv" in archive.namelist()

    services.privacy_erase(actor=world.admin, contact=person, note="ticket 42")
    person.refresh_from_db()
    assert person.name.startswith("[erased]") and (
        person.email,
        person.phone,
        person.email_index,
    ) == ("", "", "")
    assert person.consent_email is False and ConsentRecord.objects.count() == 0
    assert Activity.objects.get().subject == "[erased]"
    order = Order.objects.get()
    assert order.contact_id == person.pk and str(order.total) == "100.00"  # aggregates kept
    erased = AuditLog.objects.get(record_type="contact", record_id=person.pk, action="erased")
    assert "王芳" not in json.dumps(erased.changes, ensure_ascii=False)
    with pytest.raises(ConflictError):
        services.privacy_erase(actor=world.admin, contact=person)


def test_export_and_erasure_reach_leads_under_any_spelling_of_the_mailbox(world) -> None:
    """ann@x.com asks: her leads signed up as ann+news@x.com and ann+crm@x.com are hers too
    (one mailbox); a lead of another mailbox is left alone."""
    person = contact_create(
        actor=world.admin, values={"name": "Ann Lee", "email": "ann@example.com"}
    )
    tagged = lead_create(
        actor=world.admin, values={"name": "Ann L", "email": "ann+news@example.com"}
    )
    other_tag = lead_create(
        actor=world.admin, values={"name": "A. Lee", "email": "ann+crm@example.com"}
    )
    stranger = lead_create(actor=world.admin, values={"name": "Anna", "email": "anna@example.com"})
    request = services.privacy_export(actor=world.admin, contact=person)
    data = json.loads(zipfile.ZipFile(files.resolve(request.file_path)).read("person.json"))
    assert sorted(lead["id"] for lead in data["leads"]) == [tagged.pk, other_tag.pk]

    services.privacy_erase(actor=world.admin, contact=person)
    for lead in (tagged, other_tag):
        lead.refresh_from_db()
        assert (lead.email, lead.email_index, lead.email_alias_index) == ("", "", None)
        assert lead.name.startswith("[erased]")
    stranger.refresh_from_db()
    assert stranger.email == "anna@example.com" and stranger.name == "Anna"


def test_retention_dry_run_then_anonymise(world) -> None:
    old = contact_create(
        actor=world.admin, values={"name": "Old Customer", "email": "old@example.com"}
    )
    recent = contact_create(actor=world.admin, values={"name": "Recent"})
    Contact.objects.filter(pk__in=[old.pk, recent.pk]).update(
        updated_at=timezone.now() - timedelta(days=4 * 365)
    )
    activity_log(
        actor=world.admin,
        record_type="contact",
        record_id=recent.pk,
        values={"kind": "note", "subject": "still here"},
    )
    with pytest.raises(ConflictError):
        services.retention_run(actor=world.admin)
    services.retention_set(actor=world.admin, inactive_years=3)
    report = services.retention_run(actor=world.admin, dry_run=True)
    assert report == {"dry_run": True, "would_anonymise": 1, "sample_ids": [old.pk]}
    assert Contact.objects.get(pk=old.pk).name == "Old Customer"
    assert services.retention_run(actor=world.admin, dry_run=False) == {
        "dry_run": False,
        "anonymised": 1,
    }
    assert Contact.objects.get(pk=old.pk).name.startswith("[erased]")
    assert Contact.objects.get(pk=recent.pk).name == "Recent"
