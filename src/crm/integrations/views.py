"""Pages of getting data in and out: the import wizard (upload, mapping, preview, options, a
live progress bar, the report) and the import history, and the duplicate review queue with its
merge screen. Privacy requests are in privacy_views.py. Thin: parse, call a service or a
selector, render; every failure a user can act on is shown as a message, never a 500."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, cast

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from crm.activities.records import record_find
from crm.core.errors import DomainError, NotFoundError
from crm.core.writes import field_error
from crm.integrations import expiry, selectors, services
from crm.integrations.merge import KINDS, default_choices
from crm.integrations.models import (
    CandidateStatus,
    DuplicatePolicy,
    ImportJob,
    ImportTarget,
    JobStatus,
    MergeRecord,
)
from crm.integrations.targets import target_for
from crm.tenancy.models import Membership, Role

View = Callable[..., HttpResponseBase]
DATA_ROLES = frozenset({Role.ADMIN, Role.MANAGER})
RUNNING = (JobStatus.QUEUED, JobStatus.RUNNING)
MATCH_LABELS = {
    "external_id": gettext_lazy("external id"),
    "email": gettext_lazy("email"),
    "phone": gettext_lazy("phone"),
    "name_company": gettext_lazy("name + company"),
    "name": gettext_lazy("name"),
    "number": gettext_lazy("number"),
    "same_moment": gettext_lazy("same record and time"),
}


def _actor(request: HttpRequest) -> Membership:
    return cast(Membership, request.membership)  # type: ignore[attr-defined]


def data_page(view: View) -> View:
    """Signed-in admins and managers (the roles the Data menu shows to); NotFoundError → 404."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        member = getattr(request, "membership", None)
        if member is None or member.role not in DATA_ROLES:
            raise PermissionDenied
        try:
            return view(request, *args, **kwargs)
        except NotFoundError as exc:
            raise Http404(exc.message) from exc

    return wrapped


def _error_text(exc: DomainError) -> str:
    details = [f"{m}" for messages in exc.fields.values() for m in messages]
    return " ".join(details) or exc.message


# --- imports ------------------------------------------------------------------------------------


@data_page
def import_list(request: HttpRequest) -> HttpResponse:
    """The import history, and the first step of the wizard: choose what and upload a file."""
    actor = _actor(request)
    error = ""
    if request.method == "POST":
        upload = request.FILES.get("file")
        target = request.POST.get("target", "contact")
        try:
            if upload is None or not upload.name:
                raise field_error("file", _("Choose a CSV or XLSX file to upload."))
            job = services.import_upload(
                actor=actor,
                upload=upload,
                file_name=upload.name,
                target=target if target in ImportTarget.values else "contact",
                encoding=request.POST.get("encoding", "")[:30],
                template_id=_int(request.POST.get("template_id")),
            )
        except DomainError as exc:
            error = _error_text(exc)
        else:
            return redirect("integrations:import_job", job_id=job.pk)
    jobs = list(selectors.import_job_list(actor=actor).select_related("created_by__user")[:100])
    return render(
        request,
        "integrations/imports.html",
        {
            "jobs": jobs,
            "targets": ImportTarget.choices,
            "templates": list(selectors.template_list()),
            "error": error,
            "chosen_target": request.POST.get("target", "contact"),
        },
        status=422 if error else 200,
    )


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


def _mapping_rows(job: ImportJob) -> list[dict[str, Any]]:
    return [
        {"index": i, "header": header, "chosen": job.mapping[i] if i < len(job.mapping) else ""}
        for i, header in enumerate(job.headers)
    ]


@data_page
def import_job(request: HttpRequest, job_id: int) -> HttpResponse:
    """One import: mapping, preview and options while it waits; progress, then the report."""
    actor = _actor(request)
    job = selectors.import_job_get(actor=actor, job_id=job_id)
    error = request.session.pop("integrations_error", "")
    preview: list[Any] | None = None
    if request.method == "POST":
        if job.status != JobStatus.UPLOADED:
            return redirect("integrations:import_job", job_id=job.pk)
        try:
            job = _configure(request, actor, job)
            if request.POST.get("action") == "start":
                services.import_start(
                    actor=actor, job=job, dry_run=request.POST.get("dry_run") == "on"
                )
                return redirect("integrations:import_job", job_id=job.pk)
            preview = selectors.import_preview(actor=actor, job=job)
        except DomainError as exc:
            error = _error_text(exc)
    elif request.GET.get("preview") and job.status == JobStatus.UPLOADED:
        try:
            preview = selectors.import_preview(actor=actor, job=job)
        except DomainError as exc:
            error = _error_text(exc)
    spec = target_for(job.target)
    fields = [(f.key, f"{f.label} · {f.label_zh}", f.required) for f in spec.fields]
    labels = {key: label for key, label, _required in fields}
    return render(
        request,
        "integrations/import_job.html",
        {
            "job": job,
            "rows": _mapping_rows(job),
            "fields": fields,
            "labels": labels,
            "preview": _preview_rows(preview, job, labels),
            "policies": DuplicatePolicy.choices,
            "match_options": [(m, MATCH_LABELS.get(m, m)) for m in spec.match_options],
            "error": error,
            **_progress_context(job),
        },
        status=422 if error else 200,
    )


def _configure(request: HttpRequest, actor: Membership, job: ImportJob) -> ImportJob:
    mapping = [request.POST.get(f"column_{i}", "") for i in range(len(job.headers))]
    options: dict[str, Any] = {
        "duplicate_policy": request.POST.get("duplicate_policy", DuplicatePolicy.SKIP),
        "match_on": request.POST.getlist("match_on") or None,
        "date_order": request.POST.get("date_order", ""),
    }
    return services.import_configure(
        actor=actor,
        job=job,
        mapping=mapping,
        options=options,
        save_template_as=request.POST.get("template_name", "").strip()[:100],
    )


def _preview_rows(
    preview: list[Any] | None, job: ImportJob, labels: dict[str, str]
) -> list[dict[str, Any]] | None:
    if preview is None:
        return None
    keys = [key for key in job.mapping if key]
    rows = []
    for row in preview:
        errors = {k: "; ".join(v) for k, v in row.errors.items()}
        cells = [{"value": row.values.get(key, ""), "error": errors.get(key, "")} for key in keys]
        other = "; ".join(v for k, v in errors.items() if k not in keys)
        rows.append({"row": row, "cells": cells, "other": other})
    return [{"header": [labels.get(k, k) for k in keys], "rows": rows}]


def _progress_context(job: ImportJob) -> dict[str, Any]:
    percent = job.percent
    return {
        "percent": percent,
        "retention_days": expiry.retention_days(),
        "finished": job.status not in RUNNING,
        "eta": _duration(job.eta_seconds),
        "rate": round(job.rate) if job.rate else None,
    }


def _duration(seconds: int | None) -> str:
    if seconds is None:
        return ""
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"


@data_page
@require_GET
def import_progress(request: HttpRequest, job_id: int) -> HttpResponse:
    """The progress bar alone, polled every second while the job runs; the report once done."""
    job = selectors.import_job_get(actor=_actor(request), job_id=job_id)
    return render(
        request, "integrations/partials/progress.html", {"job": job, **_progress_context(job)}
    )


@data_page
@require_POST
def import_control(request: HttpRequest, job_id: int, action: str) -> HttpResponse:
    """Cancel, resume, or run a finished dry run for real."""
    actor = _actor(request)
    job = selectors.import_job_get(actor=actor, job_id=job_id)
    calls = {
        "cancel": services.import_cancel,
        "resume": services.import_resume,
        "rerun": services.import_rerun,
    }
    if action not in calls:
        raise Http404
    try:
        job = calls[action](actor=actor, job=job)
    except DomainError as exc:
        request.session["integrations_error"] = exc.message
    return redirect("integrations:import_job", job_id=job.pk)


@data_page
@require_GET
def import_failed_rows(request: HttpRequest, job_id: int) -> HttpResponseBase:
    """The failed rows in their own columns plus a reason: fix them and import the file again."""
    job = selectors.import_job_get(actor=_actor(request), job_id=job_id)
    try:
        expiry.require_file(job)
    except DomainError as exc:
        request.session["integrations_error"] = exc.message
        return redirect("integrations:import_job", job_id=job.pk)
    response = StreamingHttpResponse(
        selectors.failed_rows_csv(job=job, include_skipped=request.GET.get("skipped") == "1"),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="import-{job.pk}-failed-rows.csv"'
    return response


# --- duplicates and merges ----------------------------------------------------------------------


RECORD_TYPES = {
    "contact": gettext_lazy("Contacts"),
    "lead": gettext_lazy("Leads"),
    "account": gettext_lazy("Accounts"),
}


# what a merge moved, as the merge page names it
MOVED_LABELS = {
    "activity": gettext_lazy("Activities"),
    "task": gettext_lazy("Tasks"),
    "opportunity": gettext_lazy("Opportunities"),
    "order": gettext_lazy("Orders"),
    "lead": gettext_lazy("Leads"),
    "contact": gettext_lazy("Contacts"),
    "consent": gettext_lazy("Consent"),
}


def _names(record_type: str, ids: set[int]) -> dict[int, str]:
    model = KINDS[record_type].model  # the record types of the queue are those merges know
    return dict(model.objects.filter(pk__in=ids).values_list("pk", "name"))


@data_page
def duplicate_queue(request: HttpRequest) -> HttpResponse:
    """Pairs found by the scan, best first, with the reasons; start a new scan from here."""
    actor = _actor(request)
    record_type = request.GET.get("type", "contact")
    if record_type not in RECORD_TYPES:
        record_type = "contact"
    if request.method == "POST":
        record_type = request.POST.get("record_type", record_type)
        try:
            services.duplicate_scan_start(actor=actor, record_type=record_type)
        except DomainError as exc:
            request.session["integrations_error"] = _error_text(exc)
        return redirect(reverse("integrations:duplicates") + f"?type={record_type}")
    candidates = list(selectors.duplicate_queue(actor=actor, record_type=record_type)[:100])
    names = _names(record_type, {c.left_id for c in candidates} | {c.right_id for c in candidates})
    merges = list(
        MergeRecord.objects.filter(undone_at__isnull=True, undo_until__gt=timezone.now())
        .select_related("merged_by__user")
        .order_by("-id")[:20]
    )
    if not actor.is_admin:
        merges = [m for m in merges if m.merged_by_id == actor.pk]
    survivors = {
        (kind, pk): name
        for kind in KINDS
        for pk, name in _names(
            kind, {m.survivor_id for m in merges if m.record_type == kind}
        ).items()
    }
    return render(
        request,
        "integrations/duplicates.html",
        {
            "record_type": record_type,
            "record_types": RECORD_TYPES,
            "rows": [
                {"c": c, "left": names.get(c.left_id, "—"), "right": names.get(c.right_id, "—")}
                for c in candidates
            ],
            "merges": [
                {"m": m, "survivor": survivors.get((m.record_type, m.survivor_id), "—")}
                for m in merges
            ],
            "error": request.session.pop("integrations_error", ""),
            "last_scan": selectors.last_scan(record_type=record_type),
        },
    )


def _shown(record: Any, name: str) -> str:
    value = getattr(record, name, None) if name not in ("account", "owner") else None
    if name in ("account", "owner"):
        related = getattr(record, name)
        return str(related) if related is not None else ""
    return "" if value is None else str(value)


@data_page
def duplicate_review(request: HttpRequest, candidate_id: int) -> HttpResponse:
    """Both records side by side: choose the surviving value per field and merge."""
    actor = _actor(request)
    candidate = selectors.duplicate_get(actor=actor, candidate_id=candidate_id)
    error = ""
    if request.method == "POST":
        try:
            if request.POST.get("action") == "dismiss":
                services.duplicate_dismiss(actor=actor, candidate=candidate)
                return redirect(
                    reverse("integrations:duplicates") + f"?type={candidate.record_type}"
                )
            kind = KINDS.get(candidate.record_type)
            if kind is None or candidate.status != CandidateStatus.OPEN:
                raise DomainError(_("Only an open pair can be merged."))
            survivor, merged = _pair(actor, candidate)
            choices = {
                name: request.POST[f"keep_{name}"]
                for name in kind.fields
                if request.POST.get(f"keep_{name}") in ("survivor", "merged")
            }
            record = services.record_merge(
                actor=actor,
                record_type=kind.record_type,
                survivor=survivor,
                merged=merged,
                choices=choices,
            )
            return redirect("integrations:merge_done", merge_id=record.pk)
        except DomainError as exc:
            error = _error_text(exc)
    fields: list[dict[str, Any]] = []
    left: Any = None
    right: Any = None
    names = _names(candidate.record_type, {candidate.left_id, candidate.right_id})
    kind = KINDS.get(candidate.record_type)
    if kind is not None and candidate.status == CandidateStatus.OPEN:
        try:
            left, right = _pair(actor, candidate)
        except NotFoundError:
            left = right = None
            error = error or _("One of these records no longer exists.")
    if kind is not None and left is not None and right is not None:
        chosen = default_choices(left, right, kind)
        for name in kind.fields:
            a, b = _shown(left, name), _shown(right, name)
            if a or b:
                fields.append(
                    {"name": name, "left": a, "right": b, "chosen": chosen[name], "same": a == b}
                )
    return render(
        request,
        "integrations/duplicate_review.html",
        {
            "c": candidate,
            "left_name": names.get(candidate.left_id, "—"),
            "right_name": names.get(candidate.right_id, "—"),
            "fields": fields,
            "error": error,
        },
        status=422 if error else 200,
    )


def _pair(actor: Membership, candidate: Any) -> tuple[Any, Any]:
    return (
        record_find(actor, candidate.record_type, candidate.left_id),
        record_find(actor, candidate.record_type, candidate.right_id),
    )


@data_page
def merge_done(request: HttpRequest, merge_id: int) -> HttpResponse:
    """What a merge did (records moved), with its undo button for 30 days."""
    actor = _actor(request)
    record = selectors.merge_record_get(actor=actor, merge_id=merge_id)
    error = ""
    if request.method == "POST":
        try:
            record = services.merge_undo(actor=actor, record=record)
        except DomainError as exc:
            error = exc.message
    names = _names(record.record_type, {record.survivor_id, record.merged_id})
    return render(
        request,
        "integrations/merge_done.html",
        {
            "record": record,
            "survivor": names.get(record.survivor_id, "—"),
            "merged": names.get(record.merged_id, "—"),
            "moved": {
                MOVED_LABELS.get(kind, kind): len(ids) for kind, ids in record.relinked.items()
            },
            "can_undo": record.undone_at is None and record.undo_until > timezone.now(),
            "error": error,
        },
        status=409 if error else 200,
    )
