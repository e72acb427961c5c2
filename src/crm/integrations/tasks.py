"""Jobs of the integrations app: thin wrappers that run a service with the tenant set.

A killed worker loses the Huey message of the job it was running, so a periodic job looks
every minute for imports marked running whose worker is gone and queues them again; they
resume at their recorded position.
"""

from __future__ import annotations

from huey import crontab

from crm.core.tasks import system_periodic_task, tenant_task
from crm.integrations import import_workers, importing


@tenant_task()
def import_run_task(tenant_id: int, job_id: int) -> None:
    importing.run(job_id)


@system_periodic_task(crontab(minute="*"), name="imports_resume_stale")
def imports_resume_stale() -> None:
    for tenant_id, job_id in import_workers.runnable_stale_jobs():
        import_run_task(tenant_id, job_id)


@tenant_task()
def duplicate_scan_task(tenant_id: int, scan_id: int) -> None:
    from crm.integrations import dedupe

    dedupe.scan_run(scan_id)


@tenant_task()
def export_run_task(tenant_id: int, job_id: int) -> None:
    from crm.integrations import export

    export.export_job_run(job_id)


@system_periodic_task(crontab(minute="17", hour="3"), name="privacy_retention")
def privacy_retention() -> None:
    from crm.integrations import privacy

    privacy.retention_run_all()


@system_periodic_task(crontab(minute="37", hour="3"), name="files_expire")
def files_expire() -> None:
    from crm.integrations import expiry

    expiry.files_expire_all()
