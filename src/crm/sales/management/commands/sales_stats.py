"""``crm sales_stats``: fold what the funnel's readers correct for, rebuild or check the stored
aggregates of the stage history (crm.sales.stats)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from crm.core.context import tenant_context
from crm.sales.stats import differences, rebuild, refresh_dirty
from crm.tenancy.models import Tenant


class Command(BaseCommand):
    help = (
        "Fold the opportunities changed behind the sales services' back into the funnel's "
        "aggregates; --rebuild recomputes them from the stage history, --check compares them "
        "with it (non-zero exit on a difference)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", default="", help="only this tenant slug")
        parser.add_argument("--rebuild", action="store_true", help="recompute from the history")
        parser.add_argument("--check", action="store_true", help="compare with the history")

    def handle(self, *args: Any, **options: Any) -> None:
        tenants = Tenant.objects.order_by("id")
        if options["tenant"]:
            tenants = tenants.filter(slug=options["tenant"])
        wrong = 0
        for tenant in tenants:
            with tenant_context(tenant.pk):
                if options["rebuild"]:
                    rebuild(tenant.pk)
                    self.stdout.write(f"{tenant.slug}: rebuilt from the stage history")
                    continue
                folded = refresh_dirty()
                self.stdout.write(f"{tenant.slug}: {folded} opportunities folded")
                if options["check"]:
                    found = differences(tenant.pk)
                    wrong += bool(found)
                    for line in found[:20]:
                        self.stdout.write(f"  {line}")
                    self.stdout.write(
                        f"{tenant.slug}: {len(found)} differences from the stage history"
                    )
        if wrong:
            raise CommandError(f"{wrong} tenant(s) whose aggregates differ from the history")
