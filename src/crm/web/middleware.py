"""Page middleware: the Content-Security-Policy header, the member's time zone, and domain
errors turned into the right page (404 for a record that is missing, in another tenant or not
visible; 403 for a refused action)."""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from crm.core.errors import NotFoundError, PermissionDeniedError

# No 'unsafe-inline' and no 'unsafe-eval' anywhere: every script is a static file (Alpine's CSP
# build, HTMX with eval off), and no style attribute or <style> element is used either.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "worker-src 'self'",
        "manifest-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
# The API's interactive docs page loads its own inline scripts; the JSON API needs no policy.
CSP_EXEMPT_PREFIXES = ("/api/",)
SESSION_TZ_KEY = "crm_time_zone"


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not request.path.startswith(CSP_EXEMPT_PREFIXES):
            response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
            response.headers.setdefault("Permissions-Policy", "camera=(), microphone=()")
        return response


class WebRequestMiddleware:
    """Activates the member's time zone (their own, else the tenant's) for the request."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        membership = getattr(request, "membership", None)
        if membership is not None:
            name = request.session.get(SESSION_TZ_KEY)
            if not name:
                from crm.web.selectors import preference_time_zone

                name = preference_time_zone(actor=membership)
                request.session[SESSION_TZ_KEY] = name
            try:
                timezone.activate(zoneinfo.ZoneInfo(name))
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                timezone.deactivate()
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        if isinstance(exc, NotFoundError):
            return render(request, "404.html", status=404)
        if isinstance(exc, PermissionDeniedError):
            return render(request, "403.html", {"message": exc.message}, status=403)
        return None
