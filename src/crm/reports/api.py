"""API of crm.reports (mounted under /api/v1 by crm.api)."""

from ninja import Router

router = Router(tags=["reports"])
