"""The public lead form of a tenant: GET shows it, POST captures a lead (no sign-in).

Meant to be embedded in the tenant's own site with an iframe (the embed snippet is on the form
builder page), so these views allow framing from any site and skip CSRF — there is no session
to protect; spam is held off by a honeypot field and a rate limit per address instead
(see :func:`crm.sales.capture_channels.webform_submit`).
"""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from crm.sales.capture_channels import (
    HONEYPOT_FIELD,
    webform_fields,
    webform_get,
    webform_submit,
)

# The page's own policy (the site-wide one forbids framing); CSP middleware keeps it.
EMBED_POLICY = (
    "default-src 'self'; style-src 'self'; script-src 'self'; img-src 'self' data:; "
    "form-action 'self'; base-uri 'none'; object-src 'none'; frame-ancestors *"
)

LABELS = {
    "name": _("Name"),
    "company": _("Company"),
    "title": _("Job title"),
    "email": _("Email"),
    "phone": _("Phone"),
    "region": _("Region"),
    "message": _("Message"),
}
INPUT_TYPES = {"email": "email", "phone": "tel"}


def client_address(request: HttpRequest) -> str | None:
    """REMOTE_ADDR: behind a proxy, the proxy must set it from X-Forwarded-For itself."""
    return request.META.get("REMOTE_ADDR") or None


@csrf_exempt
@xframe_options_exempt
@require_http_methods(["GET", "POST"])
def lead_form(request: HttpRequest, key: str) -> HttpResponse:
    form = webform_get(key=key)
    if form is None:
        raise Http404("No such form.")
    values: dict[str, str] = {}
    errors: dict[str, list[str]] = {}
    status = 200
    submitted = False
    if request.method == "POST":
        values = {k: v for k, v in request.POST.items() if isinstance(v, str)}
        outcome = webform_submit(form=form, data=values, address=client_address(request))
        if outcome.ok:
            submitted = True
        else:
            errors = outcome.errors
            status = 429 if outcome.rate_limited else 422
    fields = [
        {
            "name": name,
            "label": LABELS[name],
            "type": INPUT_TYPES.get(name, "text"),
            "required": name == "name" or name in form.required,
            "value": values.get(name, ""),
            "errors": errors.get(name, []),
        }
        for name in webform_fields(form)
    ]
    response = render(
        request,
        "sales/webform.html",
        {
            "form": form,
            "fields": fields,
            "errors": errors.get("__all__", []),
            "consent_errors": errors.get("consent", []),
            "consent_checked": bool(values.get("consent")),
            "submitted": submitted,
            "honeypot": HONEYPOT_FIELD,
        },
        status=status,
    )
    response["Content-Security-Policy"] = EMBED_POLICY
    return response
