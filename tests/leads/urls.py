"""URLs for the lead-flow tests: the project's URLs plus the lead-flow router and public URLs
where the project does not include them yet (crm/api.py, crm/urls.py), so these tests run
before and after the lead mounts them."""

from __future__ import annotations

from typing import Any

from django.urls import URLResolver, include, path
from ninja import NinjaAPI

from crm import urls as project_urls
from crm.api import api as project_api
from crm.core.api import SessionAuth, TokenAuth, install_error_handlers
from crm.sales.capture_api import router
from crm.tenancy.selectors import api_token_authenticate


def _test_api() -> Any:
    api = NinjaAPI(
        urls_namespace="lead-flow-test",
        auth=[TokenAuth(lookup=api_token_authenticate, touch=lambda token: None), SessionAuth()],
    )
    install_error_handlers(api)
    api.add_router("/lead-flow", router)
    return api.urls


def _includes_lead_urls() -> bool:
    return any(
        isinstance(p, URLResolver) and getattr(p, "app_name", None) == "leads"
        for p in project_urls.urlpatterns
    )


urlpatterns: list[Any] = []
if not any(mounted is router for _prefix, mounted in project_api._routers):
    urlpatterns.append(path("api/v1/", _test_api()))
if not _includes_lead_urls():
    urlpatterns.append(path("", include("crm.sales.lead_urls")))
urlpatterns += project_urls.urlpatterns
