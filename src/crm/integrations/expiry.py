"""Files of personal data are kept for days, not forever (PIPL / GDPR storage limitation).

An uploaded import file, a large export, a privacy export's zip and the cells of an import's
failed rows each hold personal data of many people, copied out of the records. Once their job
has ended they are kept FILE_RETENTION_DAYS (default 7, `CRM_FILE_RETENTION_DAYS`) for the
person to download or fix, then deleted by the nightly job `files_expire`:

* an import that ended (done, failed, cancelled): its uploaded file and the cells of its failed
  and skipped rows (the reasons and counts stay); one uploaded and never started is cancelled;
* an export job that ended: its file;
* a privacy export: its zip;
* any file under the tenant's folder that no job refers to any more (a download that crashed
  half-way), by its age.

The job keeps its record with `file_deleted_at` set, so its page and the API say the file was
deleted and when, rather than failing. An erasure (crm.integrations.privacy) therefore also
reaches the copies of a person in these files within the same number of days.

A file shared by a dry run and the real run started from it is deleted when neither needs it.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.core.context import tenant_context
from crm.core.errors import GoneError
from crm.integrations import files
from crm.integrations.models import (
    ExportJob,
    ImportJob,
    ImportRowError,
    JobStatus,
    PrivacyKind,
    PrivacyRequest,
)
from crm.tenancy.models import Tenant

logger = logging.getLogger(__name__)

ENDED = (JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED)


def retention_days() -> int:
    return max(1, int(settings.FILE_RETENTION_DAYS))


def files_expire_all(*, now: datetime | None = None) -> Counter[str]:
    """The nightly job: every tenant's expired files. Operator code, all tenants."""
    totals: Counter[str] = Counter()
    for tenant_id in Tenant.objects.order_by("id").values_list("id", flat=True):
        with tenant_context(tenant_id):
            totals.update(files_expire(now=now))
    if totals:
        logger.info("files_expire: %s", dict(totals))
    return totals


def files_expire(*, now: datetime | None = None) -> Counter[str]:
    """The current tenant's files past retention: deleted, their jobs marked. Counts by kind."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=retention_days())
    done: Counter[str] = Counter()

    abandoned = list(
        ImportJob.objects.filter(
            file_deleted_at__isnull=True, status=JobStatus.UPLOADED, created_at__lt=cutoff
        ).values_list("id", flat=True)
    )
    if abandoned:
        message = _("Not started within %s days: the file was deleted.") % retention_days()
        ImportJob.objects.filter(pk__in=abandoned, status=JobStatus.UPLOADED).update(
            status=JobStatus.CANCELLED, finished_at=now, message=message
        )
    imports = list(
        ImportJob.objects.filter(file_deleted_at__isnull=True, status__in=ENDED).filter(
            Q(pk__in=abandoned)
            | Q(finished_at__lt=cutoff)
            | Q(finished_at__isnull=True, created_at__lt=cutoff)
        )
    )
    expired = []
    for job in imports:
        # still ended: a failed import resumed meanwhile keeps its file
        marked = ImportJob.objects.filter(
            pk=job.pk, status__in=ENDED, file_deleted_at__isnull=True
        ).update(file_deleted_at=now)
        if marked:
            expired.append(job)
            done["import_rows"] += (
                ImportRowError.objects.filter(job=job).exclude(values=[]).update(values=[])
            )
    still_needed = set(
        ImportJob.objects.filter(file_deleted_at__isnull=True).values_list("file_path", flat=True)
    )
    for path in {job.file_path for job in expired} - still_needed:
        done["import_files"] += files.remove(path)

    exports = ExportJob.objects.filter(
        file_deleted_at__isnull=True, status__in=ENDED, finished_at__lt=cutoff
    )
    for export in exports:
        done["export_files"] += files.remove(export.file_path)
        ExportJob.objects.filter(pk=export.pk).update(file_deleted_at=now)

    zips = PrivacyRequest.objects.filter(
        kind=PrivacyKind.EXPORT, file_deleted_at__isnull=True, completed_at__lt=cutoff
    ).exclude(file_path="")
    for request in zips:
        done["privacy_files"] += files.remove(request.file_path)
        PrivacyRequest.objects.filter(pk=request.pk).update(file_deleted_at=now)

    done["orphan_files"] += _remove_orphans(cutoff)
    return +done


def _remove_orphans(cutoff: datetime) -> int:
    """Files of this tenant older than the cutoff that no job still refers to."""
    folder = files.tenant_folder()
    if not folder.is_dir():
        return 0
    referenced = {
        *ImportJob.objects.filter(file_deleted_at__isnull=True).values_list("file_path", flat=True),
        *ExportJob.objects.filter(file_deleted_at__isnull=True).values_list("file_path", flat=True),
        *PrivacyRequest.objects.filter(file_deleted_at__isnull=True).values_list(
            "file_path", flat=True
        ),
    }
    oldest = cutoff.timestamp()
    removed = 0
    for path in folder.rglob("*"):
        if not path.is_file() or _relative(path) in referenced:
            continue
        try:
            if path.stat().st_mtime < oldest:
                path.unlink(missing_ok=True)
                removed += 1
        except FileNotFoundError:
            continue  # removed meanwhile
    return removed


def _relative(path: Path) -> str:
    return path.relative_to(files.tenant_folder().parent).as_posix()


def deleted_message(deleted_at: datetime) -> str:
    """What a download of an expired file answers."""
    return _(
        "This file was deleted on %(date)s, %(days)s days after its job ended, as personal "
        "data is not kept longer. Run the job again to get a new one."
    ) % {"date": timezone.localdate(deleted_at).isoformat(), "days": retention_days()}


def require_file(record: ImportJob | ExportJob | PrivacyRequest) -> None:
    """Refuse, saying when and why, to serve or reuse a file that expired."""
    if record.file_deleted_at is not None:
        raise GoneError(deleted_message(record.file_deleted_at))
