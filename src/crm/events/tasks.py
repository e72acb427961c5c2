"""Periodic jobs of the outbox: dispatch domain events, deliver mail.

Both run every OUTBOX_JOB_MINUTES minutes (default 1). Both are safe to run in several consumers
at once (each event/subscriber pair and each mail is handled once), so with many consumers a
duplicate schedule only costs an empty run.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from django.conf import settings
from huey import crontab

from crm.core.tasks import system_periodic_task
from crm.events.delivery import deliver_due
from crm.events.dispatch import dispatch_pending


def every_n_minutes(minutes: int) -> Callable[[datetime], bool]:
    if not 1 <= minutes <= 59:
        raise ValueError("OUTBOX_JOB_MINUTES must be between 1 and 59")
    return crontab(minute="*" if minutes == 1 else f"*/{minutes}")


OUTBOX_SCHEDULE = every_n_minutes(settings.OUTBOX_JOB_MINUTES)


@system_periodic_task(OUTBOX_SCHEDULE, name="outbox_dispatch_events")
def outbox_dispatch_events() -> None:
    dispatch_pending()


@system_periodic_task(OUTBOX_SCHEDULE, name="outbox_deliver_email")
def outbox_deliver_email() -> None:
    deliver_due()
