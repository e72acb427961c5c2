"""The REST API under /api/v1: one NinjaAPI assembling every app's router.

Every operation needs a bearer API token or a signed-in session (see docs/api.md), is rate
limited per token or member, and answers errors in one shape {code, message, fields}.
"""

from __future__ import annotations

from django.http import HttpRequest
from ninja import NinjaAPI

from crm.activities.api import router as activities_router
from crm.core.api import (
    ActorRateThrottle,
    SessionAuth,
    TokenAuth,
    install_error_handlers,
    responses,
)
from crm.customers.api import router as customers_router
from crm.events.api import router as events_router
from crm.forecasts.api import router as forecasts_router
from crm.insights.api import router as insights_router
from crm.integrations.api import router as integrations_router
from crm.reports.api import router as reports_router
from crm.sales.api import router as sales_router
from crm.sales.capture_api import router as lead_flow_router
from crm.tenancy.api import router as tenancy_router
from crm.tenancy.schemas import PingOut
from crm.tenancy.selectors import api_token_authenticate
from crm.tenancy.services import api_token_touch

api = NinjaAPI(
    title="CRM API",
    version="1",
    description="REST API of the CRM. Authenticate with `Authorization: Bearer <token>`.",
    urls_namespace="api",
    docs_url="/docs",
    openapi_url="/openapi.json",
    auth=[TokenAuth(lookup=api_token_authenticate, touch=api_token_touch), SessionAuth()],
    throttle=[ActorRateThrottle()],
)
install_error_handlers(api)


@api.get("/health", auth=None, throttle=[], include_in_schema=False)
def health(request: HttpRequest) -> dict[str, str]:
    return {"status": "ok"}


@api.get("/ping", response=responses({200: PingOut}), operation_id="ping", tags=["meta"])
def ping(request: HttpRequest) -> dict[str, bool]:
    """Authenticated no-op: the framework's ceiling for benchmarks."""
    return {"ok": True}


api.add_router("", tenancy_router)
api.add_router("", customers_router)
api.add_router("", sales_router)
api.add_router("", activities_router)
api.add_router("", events_router)
api.add_router("", insights_router)
api.add_router("", forecasts_router)
api.add_router("", reports_router)
api.add_router("", integrations_router)
api.add_router("/lead-flow", lead_flow_router)
