"""Email through an outbox: Django's send_mail() stores the message; a job delivers it.

Each message gets a stable Message-ID when it is stored, so a retry after a crash between the
SMTP server's acceptance and our "sent" mark can be recognised as the same message.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from django.core.mail import EmailMessage, EmailMultiAlternatives
from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.message import make_msgid
from django.utils import timezone

from crm.core.context import current_tenant_id_or_none
from crm.events.models import OutboxEmail


def outbox_store(message: EmailMessage, *, dedupe_key: str | None = None) -> OutboxEmail:
    html_body = ""
    if isinstance(message, EmailMultiAlternatives):
        for content, mimetype in message.alternatives:
            if mimetype == "text/html":
                html_body = str(content)
    headers = dict(message.extra_headers)
    message_id = headers.pop("Message-ID", None) or make_msgid(domain="crm.local")
    return OutboxEmail.objects.create(
        tenant_id=current_tenant_id_or_none(),
        message_id=message_id,
        from_email=message.from_email,
        to=list(message.to),
        cc=list(message.cc),
        bcc=list(message.bcc),
        subject=str(message.subject)[:500],
        body=str(message.body),
        html_body=html_body,
        headers=headers,
        next_attempt_at=timezone.now(),
        dedupe_key=dedupe_key,
    )


class OutboxEmailBackend(BaseEmailBackend):
    """The project's EMAIL_BACKEND: stores instead of sending."""

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        for message in email_messages:
            outbox_store(message)
        return len(email_messages)


def retry_delay(attempts: int) -> timedelta:
    """Exponential backoff: 30 s, 1 min, 2 min … capped at one hour."""
    return timedelta(seconds=min(3600, 30 * 2 ** max(0, attempts - 1)))


def as_message(row: OutboxEmail, connection: Any) -> EmailMultiAlternatives:
    message = EmailMultiAlternatives(
        subject=row.subject,
        body=row.body,
        from_email=row.from_email,
        to=row.to,
        cc=row.cc,
        bcc=row.bcc,
        headers={**row.headers, "Message-ID": row.message_id},
        connection=connection,
    )
    if row.html_body:
        message.attach_alternative(row.html_body, "text/html")
    return message
