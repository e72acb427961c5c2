"""What every page of an app needs from tenancy: a signed-in member of the tenant."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, cast

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.http.response import HttpResponseBase

from crm.tenancy.models import Membership

View = Callable[..., HttpResponseBase]


def page_actor(request: HttpRequest) -> Membership:
    """The member the middleware found for this request (set on every member page)."""
    return cast(Membership, request.membership)  # type: ignore[attr-defined]


def member_page(view: View) -> View:
    """Signed in (else the login page) and a member of an active tenant (else 403)."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if getattr(request, "membership", None) is None:
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapped
