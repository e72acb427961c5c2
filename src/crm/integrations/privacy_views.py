"""The privacy request screen for admins: find a person, export everything about them as a zip,
erase them (typing the confirmation), record consent per channel, and the retention setting with
its dry run. Thin: parse, call a service or a selector, render."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from crm.core.errors import DomainError
from crm.customers.models import Channel
from crm.customers.selectors import contact_get, contact_list
from crm.integrations import files, selectors, services
from crm.integrations.models import ConsentRecord, RetentionPolicy
from crm.integrations.views import _actor, _error_text, data_page
from crm.tenancy.models import Membership


def _admin(request: HttpRequest) -> Membership:
    actor = _actor(request)
    if not actor.is_admin:
        raise PermissionDenied
    return actor


@data_page
def privacy_home(request: HttpRequest) -> HttpResponse:
    """Search a person; the retention setting and its dry run; the latest requests."""
    actor = _admin(request)
    query = request.GET.get("q", "").strip()[:200]
    found = list(contact_list(actor=actor, search=query)[:20]) if query else []
    message, error = "", ""
    if request.method == "POST":
        try:
            years = request.POST.get("inactive_years", "").strip()
            services.retention_set(actor=actor, inactive_years=int(years) if years else None)
            if request.POST.get("action") == "dry_run":
                result = services.retention_run(actor=actor, dry_run=True)
                message = _("Dry run: %(n)d contacts would be anonymised.") % {
                    "n": result["would_anonymise"]
                }
            elif request.POST.get("action") == "run" and request.POST.get("confirm") == "on":
                result = services.retention_run(actor=actor, dry_run=False)
                message = _("%(n)d contacts were anonymised.") % {"n": result["anonymised"]}
            else:
                message = _("The retention setting was saved.")
        except ValueError:
            error = _("Enter a whole number of years, or leave it empty for never.")
        except DomainError as exc:
            error = _error_text(exc)
    policy = RetentionPolicy.objects.first()
    return render(
        request,
        "integrations/privacy.html",
        {
            "query": query,
            "found": found,
            "policy": policy,
            "requests": list(selectors.privacy_request_list(actor=actor)[:20]),
            "message": message,
            "error": error,
        },
        status=422 if error else 200,
    )


@data_page
def privacy_person(request: HttpRequest, contact_id: int) -> HttpResponse:
    """One person: export, erase, consent per channel, and their privacy requests."""
    actor = _admin(request)
    contact = contact_get(actor=actor, contact_id=contact_id)
    message, error = "", ""
    if request.method == "POST":
        action = request.POST.get("action", "")
        note = request.POST.get("note", "")[:500]
        try:
            if action == "export":
                done = services.privacy_export(actor=actor, contact=contact, note=note)
                return redirect("integrations:privacy_file", request_id=done.pk)
            if action == "erase":
                if request.POST.get("confirm", "").strip() != str(contact.pk):
                    raise DomainError(_("Type the contact number to confirm the erasure."))
                services.privacy_erase(actor=actor, contact=contact, note=note)
                message = _("The person was erased; orders and counts are kept anonymously.")
                contact.refresh_from_db()
            if action == "consent":
                services.consent_record(
                    actor=actor,
                    contact=contact,
                    channel=request.POST.get("channel", ""),
                    granted=request.POST.get("granted") == "yes",
                    source=request.POST.get("source", ""),
                    wording=request.POST.get("wording", ""),
                )
                message = _("The consent was recorded.")
                contact.refresh_from_db()
        except DomainError as exc:
            error = _error_text(exc)
    return render(
        request,
        "integrations/privacy_person.html",
        {
            "contact": contact,
            "channels": [
                (value, label, getattr(contact, f"consent_{value}", False))
                for value, label in Channel.choices
            ],
            "consents": list(
                ConsentRecord.objects.filter(contact=contact)
                .select_related("recorded_by__user")
                .order_by("-id")[:50]
            ),
            "requests": list(
                selectors.privacy_request_list(actor=actor).filter(contact=contact)[:20]
            ),
            "message": message,
            "error": error,
        },
        status=422 if error else 200,
    )


@data_page
def privacy_file(request: HttpRequest, request_id: int) -> Any:
    """The zip of a privacy export (JSON + CSV)."""
    found = selectors.privacy_request_get(actor=_admin(request), request_id=request_id)
    if not found.file_path or found.file_deleted_at:
        return redirect("integrations:privacy")
    return FileResponse(
        files.resolve(found.file_path).open("rb"),
        as_attachment=True,
        filename=f"privacy-{found.pk}.zip",
    )
