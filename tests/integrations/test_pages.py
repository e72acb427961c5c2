"""The data pages: the import wizard from upload to report, bad files, the duplicate queue with
merge and undo, the privacy screen; other tenants' ids answer 404, other roles 403."""

from __future__ import annotations

import io
import zipfile
from typing import Any

from django.test import Client

from crm.core.context import tenant_context
from crm.customers.models import Contact
from crm.customers.services import contact_create
from crm.integrations import dedupe, services
from crm.integrations.models import (
    DuplicateCandidate,
    ImportJob,
    JobStatus,
    MergeRecord,
    PrivacyRequest,
)
from crm.sales.services import lead_create
from crm.tenancy.middleware import SESSION_MEMBERSHIP_KEY

from .helpers import csv_bytes, run_import


def signed_in(member: Any) -> Client:
    client = Client(headers={"Accept-Language": "en"})
    client.force_login(member.user)
    session = client.session
    session[SESSION_MEMBERSHIP_KEY] = member.pk
    session.save()
    return client


def get(client: Client, path: str, **params: str) -> Any:
    with tenant_context(None):  # the middleware sets the tenant from the session
        return client.get(path, params)


def post(client: Client, path: str, data: dict[str, Any] | None = None) -> Any:
    with tenant_context(None):
        return client.post(path, data or {})


def upload(client: Client, content: bytes, name: str = "people.csv", **extra: str) -> Any:
    file = io.BytesIO(content)
    file.name = name
    return post(client, "/data/imports/", {"file": file, "target": "contact", **extra})


def test_wizard_upload_map_preview_run_report_and_failed_rows(
    world, django_capture_on_commit_callbacks
) -> None:
    client = signed_in(world.admin)
    content = csv_bytes(
        [["姓名", "邮箱", "Notes"], ["张三", "z@example.com", "x"], ["", "bad-email", "y"]]
    )
    response = upload(client, content)
    assert response.status_code == 302
    job = ImportJob.objects.get()
    assert response["Location"] == f"/data/imports/{job.pk}/"
    page = get(client, f"/data/imports/{job.pk}/").content.decode()
    # suggested from the Chinese headers; the unknown column is left out
    assert '<option value="name" selected>' in page
    assert '<option value="email" selected>' in page
    form = {"column_0": "name", "column_1": "email", "column_2": "", "duplicate_policy": "skip"}
    response = post(
        client,
        f"/data/imports/{job.pk}/",
        {**form, "action": "preview", "template_name": "Old CRM"},
    )
    preview = response.content.decode()
    assert response.status_code == 200 and 'data-testid="preview-table"' in preview
    assert "This field cannot be blank." in preview and "Enter a valid email address." in preview
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, f"/data/imports/{job.pk}/", {**form, "action": "start"})
    assert response.status_code == 302
    job.refresh_from_db()
    assert (job.status, job.created_count, job.failed_count) == (JobStatus.DONE, 1, 1)
    report = get(client, f"/data/imports/{job.pk}/progress/").content.decode()
    assert 'value="100"' in report and "hx-trigger" not in report  # finished: no more polling
    assert 'data-testid="failed">1<' in report
    failed = get(client, f"/data/imports/{job.pk}/failed-rows.csv")
    rows = b"".join(failed.streaming_content).decode("utf-8-sig").splitlines()
    assert rows[0] == "姓名,邮箱,Notes,错误 Error"
    assert rows[1].startswith(",bad-email,y,row 3: ")
    history = get(client, "/data/imports/").content.decode()
    assert "people.csv" in history and "Old CRM" in history  # the saved template is offered


def test_running_job_polls_every_second(world) -> None:
    client = signed_in(world.admin)
    content = csv_bytes([["Name"], ["A"], ["B"]])
    assert upload(client, content).status_code == 302
    job = ImportJob.objects.get()
    ImportJob.objects.filter(pk=job.pk).update(
        status=JobStatus.RUNNING, total_rows=4, position=1, rate=250.0, eta_seconds=75
    )
    part = get(client, f"/data/imports/{job.pk}/progress/").content.decode()
    assert 'hx-trigger="every 1s"' in part
    assert 'value="25"' in part and "1 of 4 rows" in part
    assert "250 rows/s" in part and "about 1 min 15 s left" in part


def test_bad_files_get_a_clear_message_never_a_500(world) -> None:
    client = signed_in(world.admin)
    cases = [
        (b"", "people.csv", {}, "The file is empty."),
        ("姓名,电话\n张三,1\n".encode("gbk"), "people.csv", {"encoding": "utf-8"}, "UTF-8"),
        (b"PK\x03\x04 not a workbook", "people.xlsx", {}, "not a readable XLSX"),
        (b"\x00\x01\x02binary", "people.csv", {}, "binary data"),
        (b"a,b\n", "people.pdf", {}, "Upload a .csv or .xlsx file."),
    ]
    for content, name, extra, message in cases:
        response = upload(client, content, name, **extra)
        assert response.status_code == 422, name
        assert message in response.content.decode(), (name, response.content.decode()[:300])
    response = post(client, "/data/imports/", {"target": "contact"})
    assert response.status_code == 422
    assert "Choose a CSV or XLSX file" in response.content.decode()
    assert ImportJob.objects.count() == 0


def test_headers_only_file_reports_no_rows(world, django_capture_on_commit_callbacks) -> None:
    client = signed_in(world.admin)
    assert upload(client, csv_bytes([["Name", "Email"]])).status_code == 302
    job = ImportJob.objects.get()
    form = {"column_0": "name", "column_1": "email", "action": "start"}
    with django_capture_on_commit_callbacks(execute=True):
        post(client, f"/data/imports/{job.pk}/", form)
    job.refresh_from_db()
    assert (job.status, job.created_count, job.failed_count) == (JobStatus.DONE, 0, 0)
    assert 'value="100"' in get(client, f"/data/imports/{job.pk}/").content.decode()


def test_mapping_error_is_shown_not_raised(world) -> None:
    client = signed_in(world.admin)
    upload(client, csv_bytes([["Name", "Email"], ["A", "a@example.com"]]))
    job = ImportJob.objects.get()
    response = post(
        client,
        f"/data/imports/{job.pk}/",
        {"column_0": "email", "column_1": "email", "action": "start"},
    )
    assert response.status_code == 422
    assert 'data-testid="error"' in response.content.decode()
    job.refresh_from_db()
    assert job.status == JobStatus.UPLOADED


def test_duplicate_queue_merge_and_undo(world, django_capture_on_commit_callbacks) -> None:
    manager = world.manager
    older = contact_create(actor=manager, values={"name": "王芳", "email": "wang@example.com"})
    newer = contact_create(
        actor=manager, values={"name": "王芳", "email": "wang@example.com", "city": "上海"}
    )
    client = signed_in(world.manager)
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, "/data/duplicates/", {"record_type": "contact"})
    assert response.status_code == 302
    queue = get(client, "/data/duplicates/", type="contact").content.decode()
    assert "王芳" in queue and f"#{older.pk}" in queue and f"#{newer.pk}" in queue
    candidate = DuplicateCandidate.objects.get()
    review = get(client, f"/data/duplicates/{candidate.pk}/").content.decode()
    assert 'name="keep_city"' in review and "上海" in review
    response = post(
        client,
        f"/data/duplicates/{candidate.pk}/",
        {"action": "merge", "keep_city": "survivor", "keep_name": "survivor"},
    )
    record = MergeRecord.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/data/merges/{record.pk}/"
    older.refresh_from_db()
    assert older.city == ""  # the left value was kept
    assert Contact.objects.filter(pk=newer.pk, deleted_at__isnull=True).count() == 0
    undone = post(client, f"/data/merges/{record.pk}/")
    assert 'data-testid="undone"' in undone.content.decode()
    assert Contact.objects.filter(pk=newer.pk, deleted_at__isnull=True).count() == 1


def test_privacy_screen_export_erase_consent_and_retention(world) -> None:
    person = contact_create(
        actor=world.admin, values={"name": "李雷", "email": "lilei@example.com"}
    )
    client = signed_in(world.admin)
    found = get(client, "/data/privacy/", q="李雷").content.decode()
    assert f"/data/privacy/contacts/{person.pk}/" in found
    response = post(client, f"/data/privacy/contacts/{person.pk}/", {"action": "export"})
    request = PrivacyRequest.objects.get()
    assert response["Location"] == f"/data/privacy/requests/{request.pk}/file"
    zipped = get(client, response["Location"])
    archive = zipfile.ZipFile(io.BytesIO(b"".join(zipped.streaming_content)))
    assert "lilei@example.com" in "".join(archive.read(n).decode() for n in archive.namelist())
    consent = {"action": "consent", "channel": "sms", "granted": "yes", "source": "phone call"}
    page = post(client, f"/data/privacy/contacts/{person.pk}/", consent).content.decode()
    assert "The consent was recorded." in page
    person.refresh_from_db()
    assert person.consent_sms is True
    wrong = post(
        client, f"/data/privacy/contacts/{person.pk}/", {"action": "erase", "confirm": "no"}
    )
    assert wrong.status_code == 422 and "Type the contact number" in wrong.content.decode()
    person.refresh_from_db()
    assert person.email == "lilei@example.com"
    erased = post(
        client, f"/data/privacy/contacts/{person.pk}/", {"action": "erase", "confirm": person.pk}
    )
    assert erased.status_code == 200
    person.refresh_from_db()
    assert person.email == "" and person.name != "李雷"
    dry = post(client, "/data/privacy/", {"inactive_years": "3", "action": "dry_run"})
    assert "Dry run: 0 contacts would be anonymised." in dry.content.decode()
    bad = post(client, "/data/privacy/", {"inactive_years": "many", "action": "save"})
    assert bad.status_code == 422


def test_pages_with_ids_of_another_tenant_answer_404(
    world, other_world, django_capture_on_commit_callbacks
) -> None:
    with tenant_context(other_world.tenant.pk):
        b_admin = other_world.admin
        job = run_import(b_admin, csv_bytes([["Name"], [""]]))
        twins = [
            contact_create(actor=b_admin, values={"name": "赵六", "email": "z6@example.com"})
            for _ in range(2)
        ]
        scan = services.duplicate_scan_start(actor=b_admin, record_type="contact")
        dedupe.scan_run(scan.pk)
        candidate = DuplicateCandidate.objects.get()
        merge = services.contact_merge(actor=b_admin, survivor=twins[0], merged=twins[1])
        request = services.privacy_export(actor=b_admin, contact=twins[0])
    client = signed_in(world.admin)
    paths = [
        f"/data/imports/{job.pk}/",
        f"/data/imports/{job.pk}/progress/",
        f"/data/imports/{job.pk}/failed-rows.csv",
        f"/data/duplicates/{candidate.pk}/",
        f"/data/merges/{merge.pk}/",
        f"/data/privacy/contacts/{twins[0].pk}/",
        f"/data/privacy/requests/{request.pk}/file",
    ]
    for path in paths:
        assert get(client, path).status_code == 404, path
    for path in [*paths[:1], paths[3], paths[4], paths[5], f"/data/imports/{job.pk}/cancel/"]:
        assert post(client, path, {"action": "erase", "confirm": twins[0].pk}).status_code == 404
    with tenant_context(other_world.tenant.pk):
        assert MergeRecord.objects.get().undone_at is None
        assert Contact.objects.get(pk=twins[0].pk).name == "赵六"


def test_data_pages_are_for_admins_and_managers(world) -> None:
    for member, status in [(world.sales, 403), (world.viewer, 403), (world.manager, 200)]:
        client = signed_in(member)
        assert get(client, "/data/imports/").status_code == status
        assert get(client, "/data/duplicates/").status_code == status
        home = get(client, "/").content.decode()
        assert ('href="/data/imports/"' in home) is (status == 200)
    assert get(signed_in(world.manager), "/data/privacy/").status_code == 403
    assert get(signed_in(world.admin), "/data/privacy/").status_code == 200
    assert get(Client(), "/data/imports/").status_code == 302


def test_failed_rows_stream_after_the_request_has_left_the_tenant(world) -> None:
    """The file is sent after the middleware has closed the tenant context."""
    job = run_import(world.admin, csv_bytes([["Name", "Email"], ["", "x@example.com"]]))
    client = signed_in(world.admin)
    response = get(client, f"/data/imports/{job.pk}/failed-rows.csv")
    with tenant_context(None):
        body = b"".join(response.streaming_content).decode("utf-8-sig")
    assert response["Content-Disposition"] == (
        f'attachment; filename="import-{job.pk}-failed-rows.csv"'
    )
    assert body.splitlines()[1].startswith(",x@example.com,row 2: ")


def test_lead_pairs_are_reviewed_and_dismissed(world, django_capture_on_commit_callbacks) -> None:
    for _ in range(2):
        lead_create(actor=world.admin, values={"name": "孙七", "email": "s7@example.com"})
    client = signed_in(world.admin)
    with django_capture_on_commit_callbacks(execute=True):
        post(client, "/data/duplicates/", {"record_type": "lead"})
    candidate = DuplicateCandidate.objects.get(record_type="lead")
    page = get(client, f"/data/duplicates/{candidate.pk}/").content.decode()
    # merging a lead pair: tests/integrations/test_merge_accounts_and_leads.py
    assert "孙七" in page and 'data-testid="merge"' in page
    dismissed = post(client, f"/data/duplicates/{candidate.pk}/", {"action": "dismiss"})
    assert dismissed["Location"] == "/data/duplicates/?type=lead"
    candidate.refresh_from_db()
    assert candidate.status == "dismissed" and MergeRecord.objects.count() == 0
