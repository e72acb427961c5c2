"""Jobs of crm.insights: the nightly recompute, the on-demand recompute, the daily playbook.

Thin: each system job fans out one tenant task per active tenant; each tenant task calls a
service with the tenant in context.
"""

from __future__ import annotations

from typing import Any

from huey import crontab

from crm.core.tasks import system_periodic_task, tenant_task
from crm.insights import services
from crm.insights.models import InsightRun
from crm.insights.playbook import playbook_run
from crm.tenancy.models import Tenant


def active_tenant_ids() -> list[int]:
    # Operator code: the one place these jobs read across tenants (the tenant list itself).
    return list(Tenant.objects.filter(is_active=True).order_by("pk").values_list("pk", flat=True))


@tenant_task(retries=0)
def insights_recompute_tenant(tenant_id: int, run_id: int | None = None) -> dict[str, Any]:
    run = InsightRun.objects.filter(pk=run_id).first() if run_id is not None else None
    done = services.insights_recompute(run=run)
    return {"run_id": done.pk, "status": done.status}


@tenant_task(retries=1, retry_delay=600)
def playbook_run_tenant(tenant_id: int) -> dict[str, int]:
    report = playbook_run()
    return {"coupons": report.coupons, "emails": report.emails, "tasks": report.tasks}


@system_periodic_task(crontab(hour="1", minute="15"), name="insights_nightly")
def insights_nightly() -> list[int]:
    tenant_ids = active_tenant_ids()
    for tenant_id in tenant_ids:
        insights_recompute_tenant(tenant_id)
    return tenant_ids


@system_periodic_task(crontab(hour="9", minute="0"), name="insights_playbook_daily")
def insights_playbook_daily() -> list[int]:
    tenant_ids = active_tenant_ids()
    for tenant_id in tenant_ids:
        playbook_run_tenant(tenant_id)
    return tenant_ids


def recompute_enqueue(run: InsightRun) -> None:
    """Queue the task for a run recorded by `services.insight_run_request` (after commit)."""
    insights_recompute_tenant(run.tenant_id, run.pk)
