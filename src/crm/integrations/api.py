"""API: imports, duplicates and merges, exports, privacy requests.

Mounted by crm.api with `api.add_router("", integrations_router)`. Handlers parse, call one
service or selector, and return; long work runs in jobs whose rows report progress.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from django.http import FileResponse, HttpRequest, StreamingHttpResponse
from django.utils.translation import gettext as _
from ninja import Field, File, Form, Path, Query, Router, Schema, Status
from ninja.files import UploadedFile

from crm.core.api import (
    Id,
    InSchema,
    ListParams,
    LongText,
    Str100,
    Str500,
    actor,
    created,
    has_scope,
    page_of,
    paginated,
)
from crm.core.api import responses as r
from crm.core.errors import ConflictError
from crm.customers.selectors import contact_get
from crm.integrations import export as exporting
from crm.integrations import files, selectors, services

router = Router(tags=["integrations"])

Target = Literal["contact", "account", "lead", "opportunity", "order", "activity"]


# --- schemas ------------------------------------------------------------------------------------


class ImportJobOut(Schema):
    id: int
    target: str
    status: str
    dry_run: bool
    file_name: str
    file_format: str
    encoding: str
    headers: list[str]
    mapping: list[str]
    options: dict[str, Any]
    total_rows: int | None
    position: int
    percent: int
    created_count: int
    updated_count: int
    skipped_count: int
    failed_count: int
    rate: float | None = Field(None, description="Rows per second in the current run.")
    eta_seconds: int | None
    message: str
    created_at: datetime
    finished_at: datetime | None


ImportJobPage = page_of(ImportJobOut)


class ImportConfigureIn(InSchema):
    mapping: list[Str100] | None = None
    duplicate_policy: Literal["skip", "update", "create"] | None = None
    match_on: (
        list[
            Literal[
                "external_id", "email", "phone", "name_company", "name", "number", "same_moment"
            ]
        ]
        | None
    ) = None
    date_order: Literal["", "dmy", "mdy"] | None = None
    create_missing: bool | None = None
    owner_id: Id | None = None
    save_template_as: Str100 = ""


class ImportStartIn(InSchema):
    dry_run: bool = False


class PreviewRowOut(Schema):
    row_number: int
    action: str
    values: dict[str, str]
    errors: dict[str, list[str]]
    reason: str
    match_id: int | None


class RowErrorOut(Schema):
    row_number: int
    outcome: str
    errors: dict[str, list[str]]
    record_id: int | None


RowErrorPage = page_of(RowErrorOut)


class RowErrorFilter(ListParams):
    outcome: Literal["", "failed", "skipped"] = ""


class TemplateOut(Schema):
    id: int
    name: str
    target: str
    mapping: dict[str, str]
    options: dict[str, Any]


class ScanIn(InSchema):
    record_type: Literal["contact", "lead", "account"] = "contact"


class ScanOut(Schema):
    id: int
    record_type: str
    status: str
    scanned: int
    pairs_found: int
    seconds: float | None


class CandidateOut(Schema):
    id: int
    record_type: str
    left_id: int
    right_id: int
    score: int
    reasons: list[str]
    status: str


CandidatePage = page_of(CandidateOut)


class CandidateFilter(ListParams):
    record_type: Literal["contact", "lead", "account"] = "contact"
    status: Literal["", "open", "merged", "dismissed"] = "open"


class MergeIn(InSchema):
    other_id: Id = Field(..., description="The contact merged into this one (it is soft-deleted).")
    fields: dict[str, Literal["survivor", "merged"]] = Field(
        default_factory=dict,
        description="Per field, whose value survives; default: the most recent non-empty value.",
    )


class MergeOut(Schema):
    id: int
    survivor_id: int
    merged_id: int
    choices: dict[str, str]
    relinked: dict[str, list[int]]
    undo_until: datetime
    undone_at: datetime | None


class ExportIn(InSchema):
    target: Target
    file_format: Literal["csv", "xlsx"] = "csv"
    filters: dict[str, str | int | bool] = Field(default_factory=dict)


class ExportJobOut(Schema):
    id: int
    target: str
    file_format: str
    status: str
    rows_done: int
    file_name: str
    message: str


class ConsentIn(InSchema):
    channel: Literal["email", "sms", "phone", "wechat"]
    granted: bool
    source: Str100
    wording: LongText = ""


class PrivacyIn(InSchema):
    note: Str500 = ""


class PrivacyOut(Schema):
    id: int
    kind: str
    status: str
    subject_ref: str
    summary: dict[str, Any]
    completed_at: datetime | None


class RetentionIn(InSchema):
    inactive_years: int | None = Field(None, ge=1, le=100)


class RetentionRunIn(InSchema):
    dry_run: bool = True


# --- imports ------------------------------------------------------------------------------------


@router.post("/imports", response=r({201: ImportJobOut}), operation_id="import_upload")
def import_upload(
    request: HttpRequest,
    file: File[UploadedFile],
    target: Form[Target],
    encoding: Form[str] = "",
    sheet: Form[str] = "",
    template_id: Form[int | None] = None,
) -> Status[Any]:
    """Upload a CSV or XLSX file; the answer suggests a mapping from its header row."""
    job = services.import_upload(
        actor=actor(request),
        upload=file,
        file_name=file.name or "upload",
        target=target,
        encoding=encoding[:30],
        sheet=sheet[:100],
        template_id=template_id,
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
    "/duplicates/{candidate_id}/dismiss",
    response=r({200: CandidateOut}),
    operation_id="duplicate_dismiss",
)
def duplicate_dismiss(request: HttpRequest, candidate_id: Path[Id]) -> Any:
    candidate = selectors.duplicate_get(actor=actor(request), candidate_id=candidate_id)
    return services.duplicate_dismiss(actor=actor(request), candidate=candidate)


@router.post(
    "/contacts/{contact_id}/merge", response=r({201: MergeOut}), operation_id="contact_merge"
)
def contact_merge(request: HttpRequest, contact_id: Path[Id], payload: MergeIn) -> Status[Any]:
    """Merge another contact into this one; every linked record moves here. Undo: 30 days."""
    member = actor(request)
    survivor = contact_get(actor=member, contact_id=contact_id)
    from crm.core.api import body_reference

    with body_reference("other_id"):
        other = contact_get(actor=member, contact_id=payload.other_id)
    record = services.contact_merge(
        actor=member, survivor=survivor, merged=other, choices=payload.fields
    )
    return created(record)


@router.post("/merges/{merge_id}/undo", response=r({200: MergeOut}), operation_id="merge_undo")
def merge_undo(request: HttpRequest, merge_id: Path[Id]) -> Any:
    record = selectors.merge_record_get(actor=actor(request), merge_id=merge_id)
    return services.merge_undo(actor=actor(request), record=record)


# --- exports ------------------------------------------------------------------------------------


@router.get(
    "/exports/{target}.{file_format}", operation_id="export_download", response=r({200: None})
)
def export_download(
    request: HttpRequest, target: Path[Target], file_format: Path[Literal["csv", "xlsx"]]
) -> Any:
    """A list (query parameters are its filters) as CSV or XLSX, up to 10,000 rows.

    Larger lists: POST /exports runs the export as a job and notifies when it is ready.
    """
    filters = dict(request.GET.items())
    export = exporting.Export(
        actor=actor(request), target=target, filters=filters, include_pii=has_scope(request, "pii")
    )
    if export.count_upto(exporting.SYNC_LIMIT) > exporting.SYNC_LIMIT:
        raise ConflictError(
            _("More than 10,000 rows: start an export job instead (POST /exports).")
        )
    name = f"{target}.{file_format}"
    if file_format == "csv":
        response = StreamingHttpResponse(
            exporting.csv_chunks(export), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response
    _relative, path = files.new_path("exports", ".xlsx")
    exporting.write_xlsx(export, path)
    return FileResponse(path.open("rb"), as_attachment=True, filename=name)


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
