from __future__ import annotations

import getpass
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from crm.core.context import tenant_context
from crm.core.errors import DomainError
from crm.tenancy.models import Role, Team, Tenant
from crm.tenancy.services import membership_create, user_create


class Command(BaseCommand):
    help = "Create a user and add them to a tenant with a role."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--tenant", required=True, help="tenant slug")
        parser.add_argument("--role", default=Role.ADMIN, choices=Role.values)
        parser.add_argument("--email", default="")
        parser.add_argument("--team", default="", help="team name (created if missing)")
        parser.add_argument("--password", default=None, help="omit to be asked")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = Tenant.objects.filter(slug=options["tenant"]).first()
        if tenant is None:
            raise CommandError(f"no tenant with slug {options['tenant']!r}")
        password = options["password"]
        if password is None:
            password = getpass.getpass("Password: ")
        try:
            with tenant_context(tenant.pk):
                team = None
                if options["team"]:
                    team, _ = Team.objects.get_or_create(name=options["team"])
                user = user_create(
                    username=options["username"], email=options["email"], password=password
                )
                membership = membership_create(
                    actor=None, user=user, role=options["role"], team=team
                )
        except DomainError as exc:
            raise CommandError(f"{exc.message} {exc.fields}") from exc
        self.stdout.write(f"created {membership.role} {user.get_username()} in {tenant.slug}")
