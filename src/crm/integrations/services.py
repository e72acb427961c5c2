"""Every write of the integrations app: imports, duplicate review, merges, exports, privacy.

Long work (an import, a scan, a large export, an erasure) runs in a job; the service here
checks permissions and input, records the request on a row and queues the job on commit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.core.errors import ConflictError, PermissionDeniedError
from crm.core.writes import field_error
from crm.events.services import record_written
from crm.integrations import expiry, files
from crm.integrations import mapping as column_mapping
from crm.integrations.bulk import MAX_BATCH_ROWS
from crm.integrations.models import (
    CandidateStatus,
    DuplicateCandidate,
    DuplicatePolicy,
    DuplicateScan,
    ExportFormat,
    ExportJob,
    ImportJob,
    ImportTarget,
    ImportTemplate,
    JobStatus,
)
from crm.integrations.readers import ImportFileError, inspect_file
from crm.integrations.targets import target_for
from crm.integrations.values import DATE_ORDERS
from crm.tenancy.models import Membership
from crm.tenancy.permissions import require_admin, require_write


def _enqueue(task_name: str, *args: Any) -> None:
    """Queue a job of tasks.py once the current transaction commits."""
    from crm.integrations import tasks

    task = getattr(tasks, task_name)
    transaction.on_commit(lambda: task(*args))


# --- imports ------------------------------------------------------------------------------------


@transaction.atomic
def import_upload(
    *,
    actor: Membership,
    upload: IO[bytes] | Any,
    file_name: str,
    target: str,
    encoding: str = "",
    sheet: str = "",
    template_id: int | None = None,
) -> ImportJob:
    """Store the file, read its header row and suggest a mapping (from a template if given)."""
    require_write(actor)
    spec = target_for(target)
    template = None
    if template_id is not None:
        template = ImportTemplate.objects.filter(pk=template_id, target=target).first()
        if template is None:
            raise field_error("template_id", _("No such template."))
    suffix = Path(file_name).suffix.lower()[:10]
    if suffix not in (".csv", ".txt", ".tsv", ".xlsx", ".xlsm", ""):
        raise field_error("file", _("Upload a .csv or .xlsx file."))
    relative, size, digest = files.save_upload(upload, suffix=suffix)
    try:
        info = inspect_file(files.resolve(relative), encoding=encoding, sheet=sheet)
    except ImportFileError as exc:
        files.remove(relative)
        raise field_error("file", str(exc)) from exc
    options: dict[str, Any] = {
        "duplicate_policy": DuplicatePolicy.SKIP,
        "match_on": list(spec.default_match),
        "date_order": "",
        "create_missing": True,
    }
    if template is not None:
        options.update(template.options)
    job = ImportJob(
        target=target,
        created_by=actor,
        template=template,
        file_name=Path(file_name).name[:255] or "upload",
        file_path=relative,
        file_size=size,
        file_sha256=digest,
        file_format=info.file_format,
        encoding=info.encoding,
        delimiter=info.delimiter,
        sheet=info.sheet,
        headers=info.headers,
        mapping=column_mapping.suggest_mapping(
            spec, info.headers, template.mapping if template else None
        ),
        options=options,
    )
    job.save()
    record_written(
        actor=actor,
        instance=job,
        action="uploaded",
        changes={"file_name": [None, job.file_name], "file_size": [None, size]},
    )
    return job


def _require_job_owner(actor: Membership, job: ImportJob) -> None:
    require_write(actor)
    if job.created_by_id != actor.pk and not actor.is_admin:
        raise PermissionDeniedError(_("Only the member who uploaded this file can change it."))


def _check_options(target: str, options: Mapping[str, Any], actor: Membership) -> dict[str, Any]:
    spec = target_for(target)
    cleaned: dict[str, Any] = {}
    policy = options.get("duplicate_policy", DuplicatePolicy.SKIP)
    if policy not in DuplicatePolicy.values:
        raise field_error("duplicate_policy", _("Choose skip, update or create."))
    cleaned["duplicate_policy"] = policy
    match_on = list(options.get("match_on") or spec.default_match)
    unknown = [m for m in match_on if m not in spec.match_options]
    if unknown:
        raise field_error(
            "match_on",
            _("Match %(target)s on: %(options)s.")
            % {"target": target, "options": ", ".join(spec.match_options)},
        )
    cleaned["match_on"] = match_on
    date_order = options.get("date_order", "")
    if date_order not in DATE_ORDERS:
        raise field_error("date_order", _("Choose dmy or mdy."))
    cleaned["date_order"] = date_order
    cleaned["create_missing"] = bool(options.get("create_missing", True))
    owner_id = options.get("owner_id")
    if owner_id is not None:
        from crm.events.crud import resolve_owner

        cleaned["owner_id"] = resolve_owner(actor, int(owner_id)).pk
    return cleaned


@transaction.atomic
def import_configure(
    *,
    actor: Membership,
    job: ImportJob,
    mapping: Sequence[str] | None = None,
    options: Mapping[str, Any] | None = None,
    save_template_as: str = "",
) -> ImportJob:
    """Set the column mapping and options; optionally save them as a reusable template."""
    _require_job_owner(actor, job)
    if job.status != JobStatus.UPLOADED:
        raise ConflictError(_("This import has already started."))
    spec = target_for(job.target)
    if mapping is not None:
        job.mapping = column_mapping.check_mapping(spec, job.headers, mapping)
    if options is not None:
        job.options = _check_options(job.target, {**job.options, **options}, actor)
    job.save(update_fields=["mapping", "options", "updated_at"])
    if save_template_as:
        template_save(
            actor=actor,
            name=save_template_as,
            target=job.target,
            mapping=column_mapping.template_from(job.headers, job.mapping),
            options={k: v for k, v in job.options.items() if k != "owner_id"},
        )
    return job


@transaction.atomic
def template_save(
    *,
    actor: Membership,
    name: str,
    target: str,
    mapping: Mapping[str, str],
    options: Mapping[str, Any],
) -> ImportTemplate:
    """Create or replace the template of this name (mapping: header key -> field key)."""
    require_write(actor)
    if target not in ImportTarget.values:
        raise field_error("target", _("Unknown import target."))
    name = name.strip()
    if not name or len(name) > 100:
        raise field_error("name", _("Give the template a name of up to 100 characters."))
    spec = target_for(target)
    for key in mapping.values():
        if key not in spec.by_key:
            raise field_error("mapping", _("Unknown field “%s”.") % key)
    template = ImportTemplate.objects.filter(target=target, name=name).first()
    action = "updated" if template else "created"
    template = template or ImportTemplate(target=target, name=name, created_by=actor)
    template.mapping = dict(mapping)
    template.options = _check_options(target, options, actor)
    template.save()
    record_written(actor=actor, instance=template, action=action, changes={"name": [None, name]})
    return template


@transaction.atomic
def import_start(*, actor: Membership, job: ImportJob, dry_run: bool = False) -> ImportJob:
    """Queue the import (or a dry run that reports what it would do and writes nothing)."""
    _require_job_owner(actor, job)
    if job.status != JobStatus.UPLOADED:
        raise ConflictError(_("This import has already started."))
    column_mapping.check_mapping(target_for(job.target), job.headers, job.mapping)
    job.status = JobStatus.QUEUED
    job.dry_run = dry_run
    job.batch_size = min(job.batch_size, MAX_BATCH_ROWS)  # 0: sized from the file
    job.save(update_fields=["status", "dry_run", "batch_size", "updated_at"])
    record_written(
        actor=actor,
        instance=job,
        action="started",
        changes={"dry_run": [None, dry_run], "mapping": [None, job.mapping]},
    )
    _enqueue("import_run_task", job.tenant_id, job.pk)
    return job


@transaction.atomic
def import_rerun(*, actor: Membership, job: ImportJob) -> ImportJob:
    """A finished dry run, run for real: a new job on the same file, mapping and options."""
    _require_job_owner(actor, job)
    if not job.dry_run or job.status != JobStatus.DONE:
        raise ConflictError(_("Only a finished dry run can be run for real."))
    expiry.require_file(job)
    fresh = ImportJob(
        target=job.target,
        created_by=actor,
        template=job.template,
        file_name=job.file_name,
        file_path=job.file_path,
        file_size=job.file_size,
        file_sha256=job.file_sha256,
        file_format=job.file_format,
        encoding=job.encoding,
        delimiter=job.delimiter,
        sheet=job.sheet,
        headers=job.headers,
        mapping=job.mapping,
        options=job.options,
        batch_size=job.batch_size,
    )
    fresh.save()
    record_written(
        actor=actor, instance=fresh, action="uploaded", changes={"from_job": [None, job.pk]}
    )
    return import_start(actor=actor, job=fresh)


@transaction.atomic
def import_resume(*, actor: Membership, job: ImportJob) -> ImportJob:
    """Queue a failed or interrupted import again; it continues at its recorded position."""
    _require_job_owner(actor, job)
    if job.status not in (JobStatus.FAILED, JobStatus.RUNNING):
        raise ConflictError(_("Only a failed or interrupted import can be resumed."))
    expiry.require_file(job)
    ImportJob.objects.filter(pk=job.pk, status=job.status).update(
        status=JobStatus.QUEUED, worker="", message=""
    )
    job.refresh_from_db()
    _enqueue("import_run_task", job.tenant_id, job.pk)
    return job


@transaction.atomic
def import_cancel(*, actor: Membership, job: ImportJob) -> ImportJob:
    """Stop an import; the batches already committed stay, the one in flight is rolled back."""
    _require_job_owner(actor, job)
    stoppable = (JobStatus.UPLOADED, JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.FAILED)
    if job.status not in stoppable:
        raise ConflictError(_("This import has finished."))
    ImportJob.objects.filter(pk=job.pk, status__in=stoppable).update(
        status=JobStatus.CANCELLED, finished_at=timezone.now()
    )
    job.refresh_from_db()
    record_written(actor=actor, instance=job, action="cancelled", changes={})
    return job


# --- duplicates and merges ----------------------------------------------------------------------


@transaction.atomic
def duplicate_scan_start(*, actor: Membership, record_type: str = "contact") -> DuplicateScan:
    require_write(actor)
    from crm.integrations.dedupe import SCANNERS

    if record_type not in SCANNERS:
        raise field_error(
            "record_type", _("Duplicates can be scanned for: %s.") % ", ".join(SCANNERS)
        )
    scan = DuplicateScan(record_type=record_type, created_by=actor)
    scan.save()
    _enqueue("duplicate_scan_task", scan.tenant_id, scan.pk)
    return scan


@transaction.atomic
def duplicate_dismiss(*, actor: Membership, candidate: DuplicateCandidate) -> DuplicateCandidate:
    """Mark a pair as not duplicates; later scans keep it out of the queue."""
    require_write(actor)
    candidate.status = CandidateStatus.DISMISSED
    candidate.reviewed_by = actor
    candidate.reviewed_at = timezone.now()
    candidate.save(update_fields=["status", "reviewed_by", "reviewed_at", "updated_at"])
    record_written(
        actor=actor,
        instance=candidate,
        action="dismissed",
        changes={"pair": [None, [candidate.left_id, candidate.right_id]]},
    )
    return candidate


# --- exports ------------------------------------------------------------------------------------


@transaction.atomic
def export_start(
    *,
    actor: Membership,
    target: str,
    file_format: str,
    filters: Mapping[str, Any],
    include_pii: bool = True,
) -> ExportJob:
    """A large export as a job; the member is notified when the file is ready."""
    from crm.integrations.export import check_filters

    if file_format not in ExportFormat.values:
        raise field_error("file_format", _("Choose csv or xlsx."))
    cleaned = check_filters(target, filters)
    job = ExportJob(
        target=target,
        file_format=file_format,
        filters={**cleaned, "_include_pii": bool(include_pii)},
        created_by=actor,
    )
    job.save()
    record_written(
        actor=actor,
        instance=job,
        action="requested",
        changes={"target": [None, target], "filters": [None, cleaned]},
    )
    _enqueue("export_run_task", job.tenant_id, job.pk)
    return job


def require_privacy_admin(actor: Membership) -> None:
    require_admin(actor)


# Merges and privacy requests are written in their own modules; these are their entry points.
from crm.integrations.merge import (  # noqa: E402
    account_merge,
    contact_merge,
    lead_merge,
    merge_undo,
    record_merge,
)
from crm.integrations.privacy import (  # noqa: E402
    consent_record,
    privacy_erase,
    privacy_export,
    retention_run,
    retention_set,
)

__all__ = [
    "account_merge",
    "consent_record",
    "contact_merge",
    "duplicate_dismiss",
    "duplicate_scan_start",
    "export_start",
    "import_cancel",
    "import_configure",
    "import_rerun",
    "import_resume",
    "import_start",
    "import_upload",
    "lead_merge",
    "merge_undo",
    "privacy_erase",
    "privacy_export",
    "record_merge",
    "retention_run",
    "retention_set",
    "template_save",
]
