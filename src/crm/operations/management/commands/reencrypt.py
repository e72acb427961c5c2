from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from crm.core import crypto
from crm.operations.reencrypt import UNREADABLE, ColumnReport, key_usage, reencrypt


class Command(BaseCommand):
    help = (
        "Seal every encrypted value again under the active field key, so that old keys can be "
        "removed; --check only counts the values under each key. Safe to run while the CRM "
        "serves, and to stop and run again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--check", action="store_true", help="count the values under each key; change nothing"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        keys = crypto.field_keys()
        self.stdout.write(f"active key: {keys.active_key_id}; keys: {', '.join(sorted(keys.keys))}")
        if not options["check"]:
            # a running count on a terminal; one line per column in a log
            progress = self._progress if self.stdout.isatty() else None
            for report in reencrypt(progress=progress):
                line = f"{report.label}: {report.rewritten:,} rewritten"
                if progress is not None:
                    line = "\r" + line + " " * 20
                if report.changed_meanwhile:
                    line += f" ({report.changed_meanwhile:,} changed meanwhile, left as changed)"
                self.stdout.write(line)
        # counted afresh: what is stored now, whatever was written meanwhile
        reports = key_usage()
        for report in reports:
            counts = ", ".join(f"{k} {n:,}" for k, n in sorted(report.by_key.items()))
            self.stdout.write(f"{report.label}: {counts or 'no values'}")
        in_use = {k for report in reports for k, n in report.by_key.items() if n}
        unused = sorted(set(keys.keys) - in_use - {keys.active_key_id})
        if unused:
            self.stdout.write(
                f"No value uses {', '.join(unused)} any more: remove it from the field keys once "
                "every process of the CRM runs with the new active key."
            )
        unreadable = sum(report.by_key[UNREADABLE] for report in reports)
        if unreadable:
            raise CommandError(
                f"{unreadable:,} value(s) name a key that is not configured, and were left as "
                "they are: put that key back into the field keys."
            )

    def _progress(self, report: ColumnReport) -> None:
        seen = sum(report.by_key.values())
        self.stdout.write(
            f"\r{report.label}: {seen:,} values read, {report.rewritten:,} rewritten", ending=""
        )
        self.stdout.flush()
