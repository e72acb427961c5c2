"""The periodic job of scheduled reports: every REPORT_SCHEDULE_MINUTES (default 15) it sends
the reports that are due, one tenant task per active tenant. Safe to run in several consumers
at once: each schedule's period is sent once (see crm.reports.services)."""

from __future__ import annotations

from django.conf import settings
from huey import crontab

from crm.core.tasks import system_periodic_task, tenant_task
from crm.reports.services import schedules_send_due
from crm.tenancy.models import Tenant

EVERY_MINUTES = int(getattr(settings, "REPORT_SCHEDULE_MINUTES", 15))
if not 1 <= EVERY_MINUTES <= 59:
    raise ValueError("REPORT_SCHEDULE_MINUTES must be between 1 and 59")


def active_tenant_ids() -> list[int]:
    # Operator code: the tenant list itself is the one cross-tenant read of this job.
    return list(Tenant.objects.filter(is_active=True).order_by("pk").values_list("pk", flat=True))


@tenant_task(retries=2, retry_delay=120)
def report_schedules_send_tenant(tenant_id: int) -> int:
    return schedules_send_due()


@system_periodic_task(
    crontab(minute="*" if EVERY_MINUTES == 1 else f"*/{EVERY_MINUTES}"),
    name="report_schedules_send",
)
def report_schedules_send() -> None:
    for tenant_id in active_tenant_ids():
        report_schedules_send_tenant(tenant_id)
