"""API: imports, duplicates and merges, exports, privacy requests.

Mounted by crm.api with `api.add_router("", integrations_router)`. Handlers parse, call one
service or selector, and return; long work runs in jobs whose rows report progress.
"""

from __future__ import annotations

import io
import json
from typing import Any, Literal

from django.http import FileResponse, HttpRequest, HttpResponse, StreamingHttpResponse
from django.utils.translation import gettext as _
from ninja import Path, Query, Router, Status

from crm.activities.records import record_find
from crm.core.api import (
    Id,
    ListParams,
    actor,
    body_reference,
    created,
    has_scope,
    paginated,
    require_scopes,
)
from crm.core.api import responses as r
from crm.core.errors import ConflictError
from crm.core.writes import field_error
from crm.customers.selectors import account_get, contact_get
from crm.integrations import expiry, files, selectors, services
from crm.integrations import export as exporting
from crm.integrations.schemas import (
    UPLOAD_BODY,
    CandidateFilter,
    CandidateOut,
    CandidatePage,
    ConsentIn,
    DuplicateCheckIn,
    DuplicateMatchOut,
    ExportIn,
    ExportJobOut,
    ImportConfigureIn,
    ImportJobOut,
    ImportJobPage,
    ImportStartIn,
    ImportUploadForm,
    ImportUploadIn,
    MergeIn,
    MergeOut,
    PreviewRowOut,
    PrivacyIn,
    PrivacyOut,
    RetentionIn,
    RetentionRunIn,
    RowErrorFilter,
    RowErrorPage,
    ScanIn,
    ScanOut,
    Target,
    TemplateOut,
    validated,
)

router = Router(tags=["integrations"])

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


# --- imports ------------------------------------------------------------------------------------


@router.post(
    "/imports",
    response=r({201: ImportJobOut}),
    operation_id="import_upload",
    openapi_extra={"requestBody": UPLOAD_BODY},
)
def import_upload(request: HttpRequest) -> Status[Any]:
    """Upload a CSV or XLSX file; the answer suggests a mapping from its header row.

    Send the file as multipart/form-data (any size), or as JSON with its text or base64 content.
    """
    member = actor(request)
    stream: Any
    if request.content_type == "multipart/form-data":
        form = validated(ImportUploadForm, dict(request.POST.items()))
        upload = request.FILES.get("file")
        if upload is None:
            raise field_error("file", _("Choose a file to upload."))
        stream, file_name = upload, upload.name or "upload"
    else:
        try:
            data = json.loads(request.body or b"null")
        except ValueError as exc:
            raise field_error("body", _("Send a JSON object.")) from exc
        form = payload = validated(ImportUploadIn, data)
        stream, file_name = io.BytesIO(payload.file_bytes()), payload.file_name
    job = services.import_upload(
        actor=member,
        upload=stream,
        file_name=file_name,
        target=form.target,
        encoding=form.encoding,
        sheet=form.sheet,
        template_id=form.template_id,
    )
    return created(job)


@router.get("/imports", response=r({200: ImportJobPage}), operation_id="import_list")
def import_list(request: HttpRequest, params: Query[ListParams]) -> dict[str, Any]:
    return paginated(selectors.import_job_list(actor=actor(request)), params)


@router.get("/imports/{job_id}", response=r({200: ImportJobOut}), operation_id="import_get")
def import_get(request: HttpRequest, job_id: Path[Id]) -> Any:
    """The job with its live progress: rows done / total, rate and time left."""
    return selectors.import_job_get(actor=actor(request), job_id=job_id)


@router.patch("/imports/{job_id}", response=r({200: ImportJobOut}), operation_id="import_configure")
def import_configure(request: HttpRequest, job_id: Path[Id], payload: ImportConfigureIn) -> Any:
    job = selectors.import_job_get(actor=actor(request), job_id=job_id)
    options = payload.given(exclude={"mapping", "save_template_as"})
    return services.import_configure(
        actor=actor(request),
        job=job,
        mapping=payload.mapping,
        options=options or None,
        save_template_as=payload.save_template_as,
    )


@router.get(
    "/imports/{job_id}/preview",
    response=r({200: list[PreviewRowOut]}),
    operation_id="import_preview",
)
def import_preview(request: HttpRequest, job_id: Path[Id]) -> Any:
    """The first rows as they would be imported, with per-row, per-field errors."""
    job = selectors.import_job_get(actor=actor(request), job_id=job_id)
    return selectors.import_preview(actor=actor(request), job=job)


@router.post(
    "/imports/{job_id}/start", response=r({200: ImportJobOut}), operation_id="import_start"
)
def import_start(request: HttpRequest, job_id: Path[Id], payload: ImportStartIn) -> Any:
    job = selectors.import_job_get(actor=actor(request), job_id=job_id)
    return services.import_start(actor=actor(request), job=job, dry_run=payload.dry_run)


@router.post(
    "/imports/{job_id}/cancel", response=r({200: ImportJobOut}), operation_id="import_cancel"
)
def import_cancel(request: HttpRequest, job_id: Path[Id]) -> Any:
    job = selectors.import_job_get(actor=actor(request), job_id=job_id)
    return services.import_cancel(actor=actor(request), job=job)


@router.post(
    "/imports/{job_id}/resume", response=r({200: ImportJobOut}), operation_id="import_resume"
)
def import_resume(request: HttpRequest, job_id: Path[Id]) -> Any:
    job = selectors.import_job_get(actor=actor(request), job_id=job_id)
    return services.import_resume(actor=actor(request), job=job)


@router.post(
    "/imports/{job_id}/rerun", response=r({201: ImportJobOut}), operation_id="import_rerun"
)
def import_rerun(request: HttpRequest, job_id: Path[Id]) -> Status[Any]:
    """Run a finished dry run for real."""
    job = selectors.import_job_get(actor=actor(request), job_id=job_id)
    return created(services.import_rerun(actor=actor(request), job=job))


@router.get(
    "/imports/{job_id}/errors", response=r({200: RowErrorPage}), operation_id="import_errors"
)
def import_errors(request: HttpRequest, job_id: Path[Id], params: Query[RowErrorFilter]) -> Any:
    job = selectors.import_job_get(actor=actor(request), job_id=job_id)
    return paginated(selectors.import_row_errors(job=job, outcome=params.outcome), params)


@router.get(
    "/imports/{job_id}/failed-rows.csv", operation_id="import_failed_rows", response=r({200: None})
)
def import_failed_rows(request: HttpRequest, job_id: Path[Id]) -> StreamingHttpResponse:
    """The failed rows with a column saying why: fix them and import the file again."""
    job = selectors.import_job_get(actor=actor(request), job_id=job_id)
    expiry.require_file(job)
    response = StreamingHttpResponse(
        selectors.failed_rows_csv(job=job), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="import-{job.pk}-failed-rows.csv"'
    return response


@router.get(
    "/import-templates", response=r({200: list[TemplateOut]}), operation_id="import_template_list"
)
def import_template_list(request: HttpRequest, target: Target | None = None) -> Any:
    return list(selectors.template_list(target=target or ""))


# --- duplicates and merges ----------------------------------------------------------------------


@router.post("/duplicate-scans", response=r({201: ScanOut}), operation_id="duplicate_scan_start")
def duplicate_scan_start(request: HttpRequest, payload: ScanIn) -> Status[Any]:
    return created(
        services.duplicate_scan_start(actor=actor(request), record_type=payload.record_type)
    )


@router.get(
    "/duplicate-scans/{scan_id}", response=r({200: ScanOut}), operation_id="duplicate_scan_get"
)
def duplicate_scan_get(request: HttpRequest, scan_id: Path[Id]) -> Any:
    actor(request)
    return selectors.duplicate_scan_get(scan_id=scan_id)


@router.get("/duplicates", response=r({200: CandidatePage}), operation_id="duplicate_list")
def duplicate_list(request: HttpRequest, params: Query[CandidateFilter]) -> Any:
    """The review queue, best matches first, with the reasons for each pair."""
    qs = selectors.duplicate_queue(
        actor=actor(request), record_type=params.record_type, status=params.status
    )
    return paginated(qs, params)


@router.post(
    "/duplicates/check",
    response=r({200: list[DuplicateMatchOut]}),
    operation_id="duplicate_check",
)
def duplicate_check(request: HttpRequest, payload: DuplicateCheckIn) -> Any:
    """Existing records you can see that a record with these values would duplicate (the scan's
    keys and scores), best first: ask before creating one. Nothing is written."""
    member = actor(request)
    if payload.email or payload.phone:
        require_scopes(request, ["pii"])  # else it would tell who is in the CRM by email
    values = payload.given(exclude={"record_type"})
    if payload.account_id is not None:
        with body_reference("account_id"):
            account_get(actor=member, account_id=payload.account_id)
    found = selectors.likely_duplicates(
        actor=member, record_type=payload.record_type, values=values, limit=10
    )
    return [
        {"id": d.record.pk, "name": d.record.name, "score": d.score, "reasons": d.reasons}
        for d in found
    ]


@router.post(
    "/duplicates/{candidate_id}/dismiss",
    response=r({200: CandidateOut}),
    operation_id="duplicate_dismiss",
)
def duplicate_dismiss(request: HttpRequest, candidate_id: Path[Id]) -> Any:
    candidate = selectors.duplicate_get(actor=actor(request), candidate_id=candidate_id)
    return services.duplicate_dismiss(actor=actor(request), candidate=candidate)


def _merge(
    request: HttpRequest, record_type: str, survivor_id: int, payload: MergeIn
) -> Status[Any]:
    """Merge `payload.other_id` into the record `survivor_id`; a retry answers the same merge."""
    member = actor(request)
    survivor = record_find(member, record_type, survivor_id)
    done = selectors.merge_already_done(
        actor=member, survivor_id=survivor.pk, merged_id=payload.other_id, record_type=record_type
    )
    if done is not None:  # a retried request: the same answer
        return created(done)
    with body_reference("other_id"):
        other = record_find(member, record_type, payload.other_id)
    record = services.record_merge(
        actor=member,
        record_type=record_type,
        survivor=survivor,
        merged=other,
        choices=payload.fields,
    )
    return created(record)


@router.post(
    "/contacts/{contact_id}/merge", response=r({201: MergeOut}), operation_id="contact_merge"
)
def contact_merge(request: HttpRequest, contact_id: Path[Id], payload: MergeIn) -> Status[Any]:
    """Merge another contact into this one; every linked record moves here. Undo: 30 days."""
    return _merge(request, "contact", contact_id, payload)


@router.post(
    "/accounts/{account_id}/merge", response=r({201: MergeOut}), operation_id="account_merge"
)
def account_merge(request: HttpRequest, account_id: Path[Id], payload: MergeIn) -> Status[Any]:
    """Merge another account into this one: its contacts, deals, orders, converted leads,
    activities and tasks move here. Undo: 30 days."""
    return _merge(request, "account", account_id, payload)


@router.post("/leads/{lead_id}/merge", response=r({201: MergeOut}), operation_id="lead_merge")
def lead_merge(request: HttpRequest, lead_id: Path[Id], payload: MergeIn) -> Status[Any]:
    """Merge another lead into this one: its activities, tasks and deals move here (neither may
    be converted yet). Undo: 30 days."""
    return _merge(request, "lead", lead_id, payload)


@router.post("/merges/{merge_id}/undo", response=r({200: MergeOut}), operation_id="merge_undo")
def merge_undo(request: HttpRequest, merge_id: Path[Id]) -> Any:
    record = selectors.merge_record_get(actor=actor(request), merge_id=merge_id)
    return services.merge_undo(actor=actor(request), record=record)


# --- exports ------------------------------------------------------------------------------------


@router.get("/exports/download", operation_id="export_download", response=r({200: None}))
def export_download(
    request: HttpRequest,
    target: Target = "contact",
    file_format: Literal["csv", "xlsx"] = "csv",
) -> Any:
    """A list as CSV or XLSX, up to 10,000 rows; other query parameters are its filters
    (those of the list's own endpoint, e.g. `?target=contact&owner_id=3&search=li`).

    Larger lists: POST /exports runs the export as a job and notifies when it is ready.
    """
    reserved = {"target", "file_format", "limit", "offset"}
    filters = {k: v for k, v in request.GET.items() if k not in reserved}
    export = exporting.Export(
        actor=actor(request), target=target, filters=filters, include_pii=has_scope(request, "pii")
    )
    if export.count_upto(exporting.SYNC_LIMIT) > exporting.SYNC_LIMIT:
        raise ConflictError(
            _("More than 10,000 rows: start an export job instead (POST /exports).")
        )
    name = f"{target}.{file_format}"
    if file_format == "csv":
        # At most 10,000 rows: small enough to answer in one piece.
        body = b"".join(exporting.csv_chunks(export))
        response = HttpResponse(body, content_type="text/csv; charset=utf-8")
    else:
        relative, path = files.new_path("exports", ".xlsx")
        exporting.write_xlsx(export, path)
        response = HttpResponse(path.read_bytes(), content_type=XLSX_TYPE)
        files.remove(relative)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@router.post("/exports", response=r({201: ExportJobOut}), operation_id="export_start")
def export_start(request: HttpRequest, payload: ExportIn) -> Status[Any]:
    job = services.export_start(
        actor=actor(request),
        target=payload.target,
        file_format=payload.file_format,
        filters=payload.filters,
        include_pii=has_scope(request, "pii"),
    )
    return created(job)


@router.get("/exports/{job_id}", response=r({200: ExportJobOut}), operation_id="export_get")
def export_get(request: HttpRequest, job_id: Path[Id]) -> Any:
    return selectors.export_job_get(actor=actor(request), job_id=job_id)


@router.get("/exports/{job_id}/file", operation_id="export_file", response=r({200: None}))
def export_file(request: HttpRequest, job_id: Path[Id]) -> FileResponse:
    job = selectors.export_job_get(actor=actor(request), job_id=job_id)
    expiry.require_file(job)
    if not job.file_path:
        raise ConflictError(_("This export is not ready yet."))
    return FileResponse(
        files.resolve(job.file_path).open("rb"), as_attachment=True, filename=job.file_name
    )


# --- privacy ------------------------------------------------------------------------------------


@router.post(
    "/contacts/{contact_id}/consents",
    response=r({201: dict[str, Any]}),
    operation_id="consent_record",
)
def consent_record(request: HttpRequest, contact_id: Path[Id], payload: ConsentIn) -> Status[Any]:
    member = actor(request)
    contact = contact_get(actor=member, contact_id=contact_id)
    record = services.consent_record(
        actor=member,
        contact=contact,
        channel=payload.channel,
        granted=payload.granted,
        source=payload.source,
        wording=payload.wording,
    )
    return created(
        {"id": record.pk, "channel": record.channel, "granted": record.granted, "at": record.at}
    )


@router.post(
    "/contacts/{contact_id}/privacy-export",
    response=r({201: PrivacyOut}),
    operation_id="privacy_export",
)
def privacy_export(request: HttpRequest, contact_id: Path[Id], payload: PrivacyIn) -> Status[Any]:
    """Everything about one person as JSON + CSV in a zip (admins)."""
    member = actor(request)
    contact = contact_get(actor=member, contact_id=contact_id)
    return created(services.privacy_export(actor=member, contact=contact, note=payload.note))


@router.post(
    "/contacts/{contact_id}/erase", response=r({201: PrivacyOut}), operation_id="privacy_erase"
)
def privacy_erase(request: HttpRequest, contact_id: Path[Id], payload: PrivacyIn) -> Status[Any]:
    """Erase a person's data everywhere; orders and counts are kept, anonymously (admins)."""
    member = actor(request)
    contact = contact_get(actor=member, contact_id=contact_id)
    return created(services.privacy_erase(actor=member, contact=contact, note=payload.note))


@router.get(
    "/privacy-requests/{request_id}/file", operation_id="privacy_file", response=r({200: None})
)
def privacy_file(request: HttpRequest, request_id: Path[Id]) -> FileResponse:
    found = selectors.privacy_request_get(actor=actor(request), request_id=request_id)
    expiry.require_file(found)
    if not found.file_path:
        raise ConflictError(_("This request has no file."))
    return FileResponse(
        files.resolve(found.file_path).open("rb"),
        as_attachment=True,
        filename=f"privacy-{found.pk}.zip",
    )


@router.put("/retention", response=r({200: dict[str, Any]}), operation_id="retention_set")
def retention_set(request: HttpRequest, payload: RetentionIn) -> Any:
    policy = services.retention_set(actor=actor(request), inactive_years=payload.inactive_years)
    return {"inactive_years": policy.inactive_years}


@router.post("/retention/run", response=r({200: dict[str, Any]}), operation_id="retention_run")
def retention_run(request: HttpRequest, payload: RetentionRunIn) -> Any:
    """Dry run first: how many contacts would be anonymised, and a sample of their ids."""
    return services.retention_run(actor=actor(request), dry_run=payload.dry_run)
