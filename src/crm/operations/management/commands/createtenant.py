from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from crm.core.errors import DomainError
from crm.operations.setup import tenant_setup


class Command(BaseCommand):
    help = "Create a tenant (a company) with its default pipeline."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--slug", default="")
        parser.add_argument("--time-zone", default="Asia/Shanghai")
        parser.add_argument("--currency", default="CNY")
        parser.add_argument("--language", default="zh-hans", choices=["zh-hans", "en"])

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            tenant = tenant_setup(
                name=options["name"],
                slug=options["slug"],
                time_zone=options["time_zone"],
                currency=options["currency"],
                language=options["language"],
            )
        except DomainError as exc:
            raise CommandError(f"{exc.message} {exc.fields}") from exc
        self.stdout.write(f"created tenant {tenant.slug} (id {tenant.pk})")
