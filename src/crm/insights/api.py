"""API of crm.insights (mounted under /api/v1 by crm.api)."""

from ninja import Router

router = Router(tags=["insights"])
