"""Delivery of the mail outbox over SMTP, with retries, safe with many workers at once.

`send_mail()` and friends only store an OutboxEmail (see `crm.events.mail`); `deliver_due()`,
called by a periodic job, sends what is due. Each row is claimed with a conditional UPDATE that
pushes its `next_attempt_at` forward by a lease: of two workers reading the same due row, only
the one whose UPDATE matched sends it (this works the same on SQLite and PostgreSQL, no row
locks needed). A worker that dies after its claim leaves the row to be retried once the lease
ends. A crash between the SMTP server's acceptance and the "sent" mark sends the mail again with
the same Message-ID, so receivers can drop the duplicate.
"""

from __future__ import annotations

import logging
import smtplib
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import get_connection
from django.db.models import F
from django.utils import timezone

from crm.events.mail import as_message, retry_delay
from crm.events.models import EmailStatus, OutboxEmail

logger = logging.getLogger(__name__)

CLAIM_LEASE = timedelta(minutes=5)


@dataclass
class DeliveryReport:
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0


def deliver_due(
    *,
    batch_size: int = 50,
    max_batches: int = 20,
    now: datetime | None = None,
    lease: timedelta = CLAIM_LEASE,
) -> DeliveryReport:
    """Send the mail that is due, batch by batch, until none is left (or `max_batches`)."""
    now = now or timezone.now()
    report = DeliveryReport()
    for _ in range(max_batches):
        rows = outbox_email_claim(limit=batch_size, now=now, lease=lease)
        if not rows:
            break
        report.claimed += len(rows)
        _send_batch(rows, now, report)
    return report


def outbox_email_claim(*, limit: int, now: datetime, lease: timedelta) -> list[OutboxEmail]:
    """Claim up to `limit` due mails for this worker; rows another worker claimed are skipped."""
    due = OutboxEmail.objects.filter(status=EmailStatus.PENDING, next_attempt_at__lte=now)
    while True:
        candidates = list(
            due.order_by("next_attempt_at", "id").values_list("pk", flat=True)[:limit]
        )
        if not candidates:
            return []
        claimed = [pk for pk in candidates if due.filter(pk=pk).update(next_attempt_at=now + lease)]
        if claimed:
            return list(OutboxEmail.objects.filter(pk__in=claimed).order_by("id"))
        # Another worker won every one of these; they are no longer due, so look again.


def _send_batch(rows: list[OutboxEmail], now: datetime, report: DeliveryReport) -> None:
    connection = get_connection(settings.CRM_SMTP_BACKEND, fail_silently=False)
    try:
        connection.open()
    except Exception as exc:
        # The server is unreachable: no point trying each mail; all of them wait for a retry.
        logger.warning("outbox: cannot reach the mail server: %s", exc)
        for row in rows:
            _mark_failed(row, exc, now, report)
        return
    try:
        for row in rows:
            try:
                accepted = as_message(row, connection).send()
            except Exception as exc:
                logger.warning("outbox: mail %s not sent: %s", row.message_id, exc)
                _mark_failed(row, exc, now, report)
                # The session may be broken; the next mail opens a fresh one.
                connection.close()
                continue
            if accepted:
                _mark_sent(row, report)
            else:
                _mark_failed(row, ValueError("the mail has no recipients"), now, report)
    finally:
        connection.close()


def _mark_sent(row: OutboxEmail, report: DeliveryReport) -> None:
    OutboxEmail.objects.filter(pk=row.pk, status=EmailStatus.PENDING).update(
        status=EmailStatus.SENT,
        sent_at=timezone.now(),
        attempts=F("attempts") + 1,
        last_error="",
    )
    report.sent += 1


def _is_permanent(exc: Exception) -> bool:
    """A 5xx answer (bad address, refused content) will not improve with retries."""
    if isinstance(exc, ValueError):
        return True
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPResponseException):
        return exc.smtp_code >= 500
    return False


def _mark_failed(row: OutboxEmail, exc: Exception, now: datetime, report: DeliveryReport) -> None:
    attempts = row.attempts + 1
    error = f"{type(exc).__name__}: {exc}"[:2000]
    if attempts >= settings.OUTBOX_MAX_ATTEMPTS or _is_permanent(exc):
        OutboxEmail.objects.filter(pk=row.pk, status=EmailStatus.PENDING).update(
            status=EmailStatus.FAILED, attempts=attempts, last_error=error
        )
        report.failed += 1
        return
    OutboxEmail.objects.filter(pk=row.pk, status=EmailStatus.PENDING).update(
        attempts=attempts, last_error=error, next_attempt_at=now + retry_delay(attempts)
    )
    report.retried += 1
