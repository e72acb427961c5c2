"""The `crm` command: Django's management commands under short operator names."""

from __future__ import annotations

import os
import sys

ALIASES = {
    "worker": "run_huey",
    "check": "verify",
}

USAGE = """usage: crm <command> [options]

  serve          production web server (gunicorn) plus the job consumer
  worker         job consumer only
  migrate        create or upgrade the database
  createtenant   add a company
  createuser     add a user to a company
  demo           load the demo companies (--contacts N to scale)
  check          verify configuration and the audit chains

Any other Django management command works too (crm help lists them).
"""


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv if argv is None else argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")
    if len(args) < 2 or args[1] in {"-h", "--help"}:
        print(USAGE)
        return
    args[1] = ALIASES.get(args[1], args[1])
    from django.core.management import execute_from_command_line

    execute_from_command_line(["crm", *args[1:]])


if __name__ == "__main__":
    main()
