"""What every page view shares: who is acting, role checks, partial-or-full rendering."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, cast

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _

from crm.tenancy.models import Membership
from crm.web.context_processors import UNDO_SESSION_KEY

View = Callable[..., HttpResponse]


def actor_of(request: HttpRequest) -> Membership:
    return cast(Membership, request.membership)  # type: ignore[attr-defined]


def member_required(view: View) -> View:
    """Signed in and a member of an active tenant; otherwise the login page or a 403."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if getattr(request, "membership", None) is None:
            message = _("Your account is not a member of an active company.")
            return render(request, "403.html", {"message": message}, status=403)
        return view(request, *args, **kwargs)

    return wrapped


def admin_required(view: View) -> View:
    @member_required
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not actor_of(request).is_admin:
            return render(
                request, "403.html", {"message": _("Only an admin can do this.")}, status=403
            )
        return view(request, *args, **kwargs)

    return wrapped


def render_page(
    request: HttpRequest,
    template: str,
    context: dict[str, Any],
    *,
    partial: str | None = None,
    status: int = 200,
) -> HttpResponse:
    """The partial template for an HTMX request (when one is given), else the full page."""
    if partial is not None and getattr(request, "htmx", False):
        return render(request, partial, context, status=status)
    return render(request, template, context, status=status)


def offer_undo(request: HttpRequest, *, url: str, message: str) -> None:
    """Show an undo button (a POST to `url`) on the next page."""
    request.session[UNDO_SESSION_KEY] = {"url": url, "message": message}


def posted(request: HttpRequest) -> QueryDict | None:
    """The POST data to bind a form to (even when empty), None for a GET."""
    return request.POST if request.method == "POST" else None


def safe_next(request: HttpRequest, fallback: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback
