from __future__ import annotations

from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from crm.tenancy.audit import audit_verify_chain
from crm.tenancy.models import Tenant


class Command(BaseCommand):
    help = "Check configuration (Django system checks) and verify every tenant's audit chain."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", default="", help="only this tenant slug")

    def handle(self, *args: Any, **options: Any) -> None:
        call_command("check", stdout=self.stdout, stderr=self.stderr)
        tenants = Tenant.objects.order_by("id")
        if options["tenant"]:
            tenants = tenants.filter(slug=options["tenant"])
        broken = 0
        for tenant in tenants:
            report = audit_verify_chain(tenant.pk)
            if report.ok:
                self.stdout.write(f"audit chain of {tenant.slug}: {report.links} links, intact")
            else:
                broken += 1
                self.stdout.write(
                    f"audit chain of {tenant.slug}: BROKEN at link {report.first_broken_seq} "
                    f"({report.reason})"
                )
        if broken:
            raise CommandError(f"{broken} audit chain(s) broken")
