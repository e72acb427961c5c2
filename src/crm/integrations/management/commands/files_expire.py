from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from crm.core.context import tenant_context
from crm.integrations import expiry


class Command(BaseCommand):
    help = (
        "Delete import files, failed rows' cells, export files and privacy zips kept longer "
        "than CRM_FILE_RETENTION_DAYS after their job ended (what the nightly files_expire "
        "job does), and say how many of each."
    )
    requires_system_checks: list[str] = []

    def handle(self, *args: Any, **options: Any) -> None:
        with tenant_context(None):
            removed = expiry.files_expire_all()
        days = expiry.retention_days()
        if not removed:
            self.stdout.write(f"Nothing kept longer than {days} day{'' if days == 1 else 's'}.")
            return
        for kind, count in sorted(removed.items()):
            self.stdout.write(f"{kind}: {count}")
