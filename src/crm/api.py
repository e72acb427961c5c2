"""The REST API under /api/v1: one NinjaAPI assembling every app's router."""

from __future__ import annotations

from ninja import NinjaAPI

api = NinjaAPI(
    title="CRM API",
    version="1",
    urls_namespace="api",
    docs_url="/docs",
    openapi_url="/openapi.json",
)


@api.get("/health", auth=None, include_in_schema=False)
def health(request: object) -> dict[str, str]:
    return {"status": "ok"}
