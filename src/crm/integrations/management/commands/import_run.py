from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from crm.core.context import tenant_context
from crm.integrations import import_workers, importing
from crm.integrations.models import ImportJob


class Command(BaseCommand):
    help = (
        "Run or resume an import in the foreground (--job ID), or every import whose worker "
        "is gone (--stale). A resumed import continues at its recorded position."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--job", type=int)
        parser.add_argument("--stale", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["stale"]:
            jobs = import_workers.runnable_stale_jobs()
        elif options["job"]:
            # operator code: the job's tenant is looked up across tenants
            job = ImportJob.all_tenants.filter(pk=options["job"]).first()
            if job is None:
                raise CommandError("No such import.")
            jobs = [(job.tenant_id, job.pk)]
        else:
            raise CommandError("Give --job ID or --stale.")
        for tenant_id, job_id in jobs:
            with tenant_context(tenant_id):
                done = importing.run(job_id)
            if done is None:
                self.stdout.write(
                    f"import {job_id}: not runnable (finished, or held by a live worker)"
                )
            else:
                self.stdout.write(
                    f"import {job_id}: {done.status} at row {done.position} of {done.total_rows}: "
                    f"{done.created_count} created, {done.updated_count} updated, "
                    f"{done.skipped_count} skipped, {done.failed_count} failed"
                )
