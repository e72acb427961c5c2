"""Sets the current tenant for a page request from the signed-in user's active membership."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from crm.core.context import reset_current_tenant, set_current_tenant
from crm.tenancy.selectors import membership_for_session

SESSION_MEMBERSHIP_KEY = "crm_membership_id"


class TenantMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        membership = None
        if request.user.is_authenticated:
            membership = membership_for_session(
                user_id=request.user.pk,
                membership_id=request.session.get(SESSION_MEMBERSHIP_KEY),
            )
        request.membership = membership  # type: ignore[attr-defined]
        token = set_current_tenant(membership.tenant_id if membership else None)
        try:
            return self.get_response(request)
        finally:
            reset_current_tenant(token)
