"""Files of personal data (import uploads, failed rows, exports, privacy zips) are deleted a
set number of days after their job ended; the jobs say so instead of failing."""

from __future__ import annotations

import io
import os
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from crm.core.context import tenant_context
from crm.core.errors import GoneError
from crm.customers.services import contact_create
from crm.integrations import expiry, files, services
from crm.integrations.models import (
    ExportJob,
    ImportJob,
    ImportRowError,
    JobStatus,
    PrivacyRequest,
)

from .helpers import csv_bytes, run_import, upload
from .test_api import client_for
from .test_pages import get, signed_in

PEOPLE = csv_bytes(
    [["姓名", "邮箱"], ["张三", "zhang@example.com"], ["", "nobody@example.com"]]  # row 3 fails
)


def ended_days_ago(job: ImportJob | ExportJob, days: int) -> None:
    type(job).objects.filter(pk=job.pk).update(finished_at=timezone.now() - timedelta(days=days))


def test_files_are_deleted_after_retention_and_the_jobs_say_so(
    world, other_world, settings, django_capture_on_commit_callbacks
) -> None:
    settings.FILE_RETENTION_DAYS = 7
    admin = world.admin
    old = run_import(admin, PEOPLE)
    recent = run_import(admin, csv_bytes([["姓名"], ["李四"], [""]]), name="recent.csv")
    assert old.failed_count == 1 and recent.failed_count == 0
    ended_days_ago(old, 8)
    abandoned = upload(admin, PEOPLE, name="never-started.csv")
    ImportJob.objects.filter(pk=abandoned.pk).update(created_at=timezone.now() - timedelta(days=9))
    running = upload(admin, PEOPLE, name="running.csv")
    ImportJob.objects.filter(pk=running.pk).update(
        status=JobStatus.RUNNING, created_at=timezone.now() - timedelta(days=30)
    )
    # a dry run ended long ago; the real run started from it yesterday still needs the file
    dry = run_import(admin, PEOPLE, name="dry.csv", dry_run=True)
    with django_capture_on_commit_callbacks(execute=True):
        real = services.import_rerun(actor=admin, job=dry)
    ended_days_ago(dry, 8)
    ended_days_ago(real, 1)
    contact_create(actor=admin, values={"name": "王芳", "email": "wf@example.com"})
    with django_capture_on_commit_callbacks(execute=True):
        export = services.export_start(actor=admin, target="contact", file_format="csv", filters={})
    export.refresh_from_db()
    ended_days_ago(export, 8)
    person = contact_create(actor=admin, values={"name": "赵六", "phone": "13900139000"})
    privacy = services.privacy_export(actor=admin, contact=person)
    PrivacyRequest.objects.filter(pk=privacy.pk).update(
        completed_at=timezone.now() - timedelta(days=8)
    )
    orphan, _path = files.new_path("exports", ".xlsx")  # a download that crashed half-way
    fresh_orphan, _path2 = files.new_path("exports", ".xlsx")
    for relative, age in ((orphan, 8), (fresh_orphan, 1)):
        path = files.resolve(relative)
        path.write_bytes(b"names and phones")
        stamp = (timezone.now() - timedelta(days=age)).timestamp()
        os.utime(path, (stamp, stamp))
    with tenant_context(other_world.tenant.pk):
        theirs = run_import(other_world.admin, PEOPLE)
        ended_days_ago(theirs, 8)

    def on_disk(relative: str, tenant_id: int = world.tenant.pk) -> bool:
        with tenant_context(tenant_id):
            return files.resolve(relative).exists()

    paths = {job.pk: job.file_path for job in (old, recent, abandoned, running, dry, real, theirs)}
    assert all(on_disk(p) for p in (paths[old.pk], export.file_path, privacy.file_path))

    with tenant_context(None):
        removed = expiry.files_expire_all()

    assert removed == {
        "import_files": 3,  # old, abandoned, the other tenant's
        # the failed row of old and of the other tenant's; the dry run's failed row and its
        # skipped one (张三 was imported by then)
        "import_rows": 4,
        "export_files": 1,
        "privacy_files": 1,
        "orphan_files": 1,
    }
    for job in (old, recent, abandoned, running, dry, real, export, privacy):
        job.refresh_from_db()
    assert not on_disk(paths[old.pk]) and not on_disk(paths[abandoned.pk])
    assert not on_disk(export.file_path) and not on_disk(privacy.file_path)
    assert not on_disk(orphan) and on_disk(fresh_orphan)
    assert not on_disk(paths[theirs.pk], other_world.tenant.pk)
    # kept: the recent import, the running one, and the file the real run shares with its dry run
    assert on_disk(paths[recent.pk]) and on_disk(paths[running.pk]) and on_disk(paths[dry.pk])
    assert recent.file_deleted_at is None and running.file_deleted_at is None
    assert real.file_deleted_at is None and dry.file_deleted_at is not None
    assert (abandoned.status, abandoned.file_deleted_at is not None) == (JobStatus.CANCELLED, True)
    assert "Not started within 7 days" in abandoned.message
    # the reasons and counts stay; the people's data in the cells goes
    error = ImportRowError.objects.get(job=old)
    assert error.values == [] and error.errors and old.failed_count == 1

    client, auth = client_for(admin)
    for url in (
        f"/api/v1/imports/{old.pk}/failed-rows.csv",
        f"/api/v1/exports/{export.pk}/file",
        f"/api/v1/privacy-requests/{privacy.pk}/file",
    ):
        answer = client.get(url, headers=auth)
        assert answer.status_code == 410, url
        assert answer.json()["code"] == "gone"
        assert "deleted on" in answer.json()["message"], answer.json()
    with pytest.raises(GoneError):
        services.import_rerun(actor=admin, job=dry)
    shown_job = client.get(f"/api/v1/imports/{old.pk}", headers=auth).json()
    assert shown_job["file_deleted_at"] is not None and shown_job["failed_count"] == 1
    assert (
        client.get(f"/api/v1/imports/{recent.pk}", headers=auth).json()["file_deleted_at"] is None
    )

    page = signed_in(admin)
    shown = get(page, f"/data/imports/{old.pk}/").content.decode()
    assert 'data-testid="file-deleted"' in shown and 'data-testid="failed-rows"' not in shown
    assert get(page, f"/data/imports/{old.pk}/failed-rows.csv").status_code == 302
    listed = get(page, f"/data/imports/{recent.pk}/").content.decode()
    assert "deleted 7 days after the import ended" in listed

    with tenant_context(None):
        assert expiry.files_expire_all() == {}  # nothing twice


def test_a_failed_import_whose_file_expired_cannot_be_resumed(world, settings) -> None:
    settings.FILE_RETENTION_DAYS = 3
    job = run_import(world.admin, PEOPLE)
    ImportJob.objects.filter(pk=job.pk).update(
        status=JobStatus.FAILED, finished_at=timezone.now() - timedelta(days=4)
    )
    assert expiry.files_expire()["import_files"] == 1
    job.refresh_from_db()
    with pytest.raises(GoneError, match="3 days after its job ended"):
        services.import_resume(actor=world.admin, job=job)
    assert not files.resolve(job.file_path).exists()


def test_an_erasure_reaches_failed_import_rows_and_earlier_privacy_exports(world) -> None:
    admin = world.admin
    person = contact_create(
        actor=admin, values={"name": "王芳", "email": "wf@example.com", "phone": "13900139000"}
    )
    rows = [
        ["姓名", "邮箱", "手机"],
        ["", " WF@Example.com ", ""],  # fails: no name; her email
        ["", "", "+86 139-0013-9000"],  # fails: no name; her phone in another format
        ["", "someone@example.com", ""],  # fails: somebody else
    ]
    job = run_import(admin, csv_bytes(rows))
    assert job.failed_count == 3
    earlier = services.privacy_export(actor=admin, contact=person)
    zip_path = files.resolve(earlier.file_path)
    assert zip_path.exists()

    erasure = services.privacy_erase(actor=admin, contact=person)

    kept = {e.row_number: e.values for e in ImportRowError.objects.filter(job=job)}
    assert kept[2] == [] and kept[3] == []
    assert kept[4] == ["", "someone@example.com", ""]
    assert (erasure.summary["import_rows"], erasure.summary["privacy_files"]) == (2, 1)
    earlier.refresh_from_db()
    assert earlier.file_deleted_at is not None and not zip_path.exists()
    client, auth = client_for(admin)
    answer = client.get(f"/api/v1/privacy-requests/{earlier.pk}/file", headers=auth)
    assert answer.status_code == 410


def test_the_command_says_what_it_deleted(world, settings) -> None:
    settings.FILE_RETENTION_DAYS = 2
    job = run_import(world.admin, PEOPLE)
    out = io.StringIO()
    call_command("files_expire", stdout=out)
    assert out.getvalue() == "Nothing kept longer than 2 days.\n"
    ended_days_ago(job, 3)
    call_command("files_expire", stdout=out)
    assert out.getvalue().splitlines()[1:] == ["import_files: 1", "import_rows: 1"]
    assert not files.resolve(job.file_path).exists()
