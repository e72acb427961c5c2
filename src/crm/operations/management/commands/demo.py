from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from crm.core.context import tenant_context
from crm.core.errors import DomainError
from crm.insights.services import insights_recompute
from crm.operations.demo.bulk import Progress
from crm.operations.demo.loader import (
    DEFAULT_CONTACTS,
    DEFAULT_SEED,
    DEMO_PASSWORD,
    DEMO_TENANTS,
    demo_exists,
    load_demo,
)
from crm.sales.stats import refresh_dirty
from crm.tenancy.models import Tenant


class Command(BaseCommand):
    help = (
        "Load the demo companies (tenants 'demo' and 'demo2') with users in every role and "
        "bilingual data; --contacts scales every table in proportion."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--contacts",
            type=int,
            default=DEFAULT_CONTACTS,
            help=f"contacts of the main demo company (default {DEFAULT_CONTACTS:,}); "
            "accounts, leads, opportunities, activities and orders follow in proportion",
        )
        parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed")
        parser.add_argument(
            "--no-insights",
            action="store_true",
            help="skip the first customer-intelligence run (the nightly job does it later)",
        )
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="do nothing when the demo companies exist already",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        contacts = options["contacts"]
        if contacts < 20:
            raise CommandError("--contacts must be at least 20.")
        if demo_exists():
            if options["if_empty"]:
                self.stdout.write("The demo companies exist already; nothing to do.")
                return
            raise CommandError(
                "The demo companies exist already. Use an empty database "
                "(for example another CRM_DATA_DIR) to load them again."
            )
        try:
            reports = load_demo(
                contacts=contacts, seed=options["seed"], progress=Progress(self.stderr)
            )
        except DomainError as exc:
            raise CommandError(f"{exc.message} {exc.fields}") from exc
        total = sum(r.total for r in reports)
        seconds = sum(r.seconds for r in reports)
        self.stdout.write(f"Loaded {total:,} rows in {seconds:.1f} s.")
        for report in reports:
            self.stdout.write(f"\n{report.name} (tenant '{report.slug}'):")
            for username, role, name in report.logins:
                self.stdout.write(f"  {username:<14} {role:<10} {name}")
        self.stdout.write(f"\nEvery demo user's password is {DEMO_PASSWORD!r}.")
        for tenant in Tenant.objects.filter(slug__in=[t.slug for t in DEMO_TENANTS]):
            # the loader writes deals in bulk: fold them into the dashboard's stored figures
            with tenant_context(tenant.pk):
                refresh_dirty()
        if not options["no_insights"]:
            self._first_insights_run()

    def _first_insights_run(self) -> None:
        """Customer 360, at-risk and segments pages have something to show from the start."""
        for tenant in Tenant.objects.filter(slug__in=[t.slug for t in DEMO_TENANTS]).order_by("pk"):
            with tenant_context(tenant.pk):
                run = insights_recompute()
            self.stdout.write(
                f"Customer insights for {tenant.slug}: {run.status}, {run.customers:,} customers."
            )
