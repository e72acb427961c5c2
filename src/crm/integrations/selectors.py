"""Every read of the integrations app, scoped to the tenant and to what the actor may see."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from crm.core.context import current_tenant_id, tenant_context
from crm.core.errors import NotFoundError
from crm.integrations.mapping import PreviewRow, preview
from crm.integrations.models import (
    DuplicateCandidate,
    DuplicateScan,
    ExportJob,
    ImportJob,
    ImportRowError,
    ImportTemplate,
    MergeRecord,
    PrivacyRequest,
    RowOutcome,
)
from crm.integrations.targets import target_for
from crm.tenancy.models import Membership
from crm.tenancy.permissions import require_admin


def import_job_list(*, actor: Membership) -> QuerySet[ImportJob]:
    """Admins see every import of the tenant; others the imports they started."""
    qs = ImportJob.objects.all()
    if not actor.is_admin:
        qs = qs.filter(created_by=actor)
    return qs.order_by("-id")


def import_job_get(*, actor: Membership, job_id: int) -> ImportJob:
    job = import_job_list(actor=actor).filter(pk=job_id).first()
    if job is None:
        raise NotFoundError("No such import.")
    return job


def import_preview(*, actor: Membership, job: ImportJob, limit: int = 20) -> list[PreviewRow]:
    return preview(job, actor, limit=limit)


def import_row_errors(*, job: ImportJob, outcome: str = "") -> QuerySet[ImportRowError]:
    qs = ImportRowError.objects.filter(job=job)
    if outcome:
        qs = qs.filter(outcome=outcome)
    return qs.order_by("row_number")


def failed_rows_csv(*, job: ImportJob, include_skipped: bool = False) -> Iterator[bytes]:
    """The failed rows as they were read plus a column saying why: fix them, import again.

    UTF-8 with BOM; the header row is the file's own, so the same mapping applies. The rows
    are read as the response is sent, after the request's tenant context has closed: the
    generator carries the tenant with it.
    """
    return _in_tenant(current_tenant_id(), _failed_rows(job, include_skipped))


def _in_tenant(tenant_id: int, chunks: Iterator[bytes]) -> Iterator[bytes]:
    with tenant_context(tenant_id):
        yield from chunks


def _failed_rows(job: ImportJob, include_skipped: bool) -> Iterator[bytes]:
    target = target_for(job.target)
    labels = {spec.key: spec.label for spec in target.fields}
    column_of = {key: job.headers[i] for i, key in enumerate(job.mapping) if key}
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    buffer.write("\ufeff")
    writer.writerow([*job.headers, "错误 Error"])
    outcomes = [RowOutcome.FAILED, RowOutcome.SKIPPED] if include_skipped else [RowOutcome.FAILED]
    rows = ImportRowError.objects.filter(job=job, outcome__in=outcomes).order_by("row_number")
    for i, error in enumerate(rows.iterator(chunk_size=2000), start=1):
        values = list(error.values)[: len(job.headers)]
        values += [""] * (len(job.headers) - len(values))
        reasons: list[str] = []
        for key, messages in error.errors.items():
            where = "" if key == "__row__" else f"{column_of.get(key, labels.get(key, key))}: "
            reasons.extend(f"{where}{m}" for m in messages)
        writer.writerow([*values, f"row {error.row_number}: " + "; ".join(reasons)])
        if i % 500 == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


def template_list(*, target: str = "") -> QuerySet[ImportTemplate]:
    qs = ImportTemplate.objects.all()
    if target:
        qs = qs.filter(target=target)
    return qs.order_by("target", "name")


def template_get(*, template_id: int) -> ImportTemplate:
    template = ImportTemplate.objects.filter(pk=template_id).first()
    if template is None:
        raise NotFoundError("No such template.")
    return template


def _visible(record_type: str, actor: Membership) -> QuerySet[Any] | None:
    """The records of a type the duplicate finder knows that `actor` may see (None: another)."""
    from crm.customers.selectors import account_list, contact_list
    from crm.sales.selectors import lead_list

    lists: dict[str, Any] = {"contact": contact_list, "account": account_list, "lead": lead_list}
    found = lists.get(record_type)
    return None if found is None else found(actor=actor)


def duplicate_queue(
    *, actor: Membership, record_type: str = "contact", status: str = "open"
) -> QuerySet[DuplicateCandidate]:
    """The review queue, best matches first. Pairs the actor cannot see both sides of are hidden."""
    qs = DuplicateCandidate.objects.filter(record_type=record_type)
    if status:
        qs = qs.filter(status=status)
    listed = _visible(record_type, actor) if actor.visibility != "all" else None
    if listed is not None:
        visible = listed.values("pk")
        qs = qs.filter(left_id__in=visible, right_id__in=visible)
    return qs.order_by("-score", "id")


@dataclass(frozen=True)
class LikelyDuplicate:
    record: Any
    score: int
    reasons: list[str]


def likely_duplicates(
    *, actor: Membership, record_type: str, values: dict[str, Any], limit: int = 5
) -> list[LikelyDuplicate]:
    """Existing records (that `actor` may see) which a new record with `values` would duplicate:
    the scan's keys and scores (crm.integrations.dedupe.matches_for), for capture forms and the
    API, best first."""
    from crm.integrations.dedupe import matches_for

    listed = _visible(record_type, actor)
    if listed is None:
        raise NotFoundError("No duplicates are looked for among these records.")
    matches = matches_for(values, record_type=record_type, limit=50)
    visible = {record.pk: record for record in listed.filter(pk__in=[m[0] for m in matches])}
    out = [
        LikelyDuplicate(visible[pk], score, reasons)
        for pk, score, reasons in matches
        if pk in visible
    ]
    return out[:limit]


def duplicate_get(*, actor: Membership, candidate_id: int) -> DuplicateCandidate:
    found = DuplicateCandidate.objects.filter(pk=candidate_id).values_list("record_type").first()
    record_type = found[0] if found else "contact"
    queue = duplicate_queue(actor=actor, record_type=record_type, status="")
    candidate = queue.filter(pk=candidate_id).first()
    if candidate is None:
        raise NotFoundError("No such duplicate pair.")
    return candidate


def duplicate_scan_get(*, scan_id: int) -> DuplicateScan:
    scan = DuplicateScan.objects.filter(pk=scan_id).first()
    if scan is None:
        raise NotFoundError("No such scan.")
    return scan


def last_scan(*, record_type: str) -> DuplicateScan | None:
    return DuplicateScan.objects.filter(record_type=record_type).order_by("-id").first()


def merge_record_get(*, actor: Membership, merge_id: int) -> MergeRecord:
    record = MergeRecord.objects.filter(pk=merge_id).first()
    if record is None or (record.merged_by_id != actor.pk and not actor.is_admin):
        raise NotFoundError("No such merge.")
    return record


def merge_already_done(
    *, actor: Membership, survivor_id: int, merged_id: int, record_type: str = "contact"
) -> MergeRecord | None:
    """The standing merge of `merged_id` into `survivor_id`, so that a retried merge request
    answers the merge it made instead of "no such contact" (the merged one is deleted now)."""
    record = (
        MergeRecord.objects.filter(
            record_type=record_type,
            survivor_id=survivor_id,
            merged_id=merged_id,
            undone_at__isnull=True,
        )
        .order_by("-id")
        .first()
    )
    if record is None or (record.merged_by_id != actor.pk and not actor.is_admin):
        return None
    return record


def export_job_get(*, actor: Membership, job_id: int) -> ExportJob:
    job = ExportJob.objects.filter(pk=job_id, created_by=actor).first()
    if job is None:
        raise NotFoundError("No such export.")
    return job


def privacy_request_list(*, actor: Membership) -> QuerySet[PrivacyRequest]:
    require_admin(actor)
    return PrivacyRequest.objects.order_by("-id")


def privacy_request_get(*, actor: Membership, request_id: int) -> PrivacyRequest:
    request = privacy_request_list(actor=actor).filter(pk=request_id).first()
    if request is None:
        raise NotFoundError("No such privacy request.")
    return request
