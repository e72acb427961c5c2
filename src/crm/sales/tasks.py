"""Periodic jobs of the lead flow: follow-up every LEAD_FOLLOWUP_EVERY_MINUTES, nightly training.

Thin: each system job fans out one tenant task per active tenant, and each tenant task calls a
service with the tenant in context. All of them are safe to run in several consumers at once
(reminders are deduplicated per due window; assignment locks the team).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from huey import crontab

from crm.core.tasks import system_periodic_task, tenant_task
from crm.sales.followup import followup_run
from crm.sales.lead_scoring import leads_rescore, scoring_model_train
from crm.sales.stats import refresh_dirty
from crm.tenancy.models import Tenant

FOLLOWUP_EVERY_MINUTES = int(getattr(settings, "LEAD_FOLLOWUP_EVERY_MINUTES", 15))
if not 1 <= FOLLOWUP_EVERY_MINUTES <= 59:
    raise ValueError("LEAD_FOLLOWUP_EVERY_MINUTES must be between 1 and 59")


def active_tenant_ids() -> list[int]:
    # Operator code: the one place these jobs read across tenants (the tenant list itself).
    return list(Tenant.objects.filter(is_active=True).order_by("pk").values_list("pk", flat=True))


@tenant_task(retries=2, retry_delay=60)
def lead_followup_tenant(tenant_id: int) -> dict[str, Any]:
    return vars(followup_run())


@tenant_task(retries=1, retry_delay=300)
def lead_scoring_train_tenant(tenant_id: int) -> int | None:
    model = scoring_model_train()
    leads_rescore()
    return model.pk if model else None


@system_periodic_task(
    crontab(minute="*" if FOLLOWUP_EVERY_MINUTES == 1 else f"*/{FOLLOWUP_EVERY_MINUTES}"),
    name="lead_followup",
)
def lead_followup() -> None:
    for tenant_id in active_tenant_ids():
        lead_followup_tenant(tenant_id)


@system_periodic_task(crontab(hour="2", minute="30"), name="lead_scoring_train")
def lead_scoring_train() -> None:
    for tenant_id in active_tenant_ids():
        lead_scoring_train_tenant(tenant_id)


@tenant_task(retries=1, retry_delay=120)
def sales_stats_refresh_tenant(tenant_id: int) -> int:
    return refresh_dirty()


@system_periodic_task(crontab(minute="*/10"), name="sales_stats_refresh")
def sales_stats_refresh() -> None:
    """Fold deals written outside the sales services (imports, undo) into the dashboard's
    stored funnel figures; readers correct for them meanwhile, this keeps that cheap."""
    for tenant_id in active_tenant_ids():
        sales_stats_refresh_tenant(tenant_id)
