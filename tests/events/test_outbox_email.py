"""Mail goes through the outbox: a dead SMTP server loses nothing, and nothing is sent twice."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.forms import PasswordResetForm
from django.core.mail import send_mail
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from pytest_django.fixtures import Settings as SettingsWrapper

from crm.core.context import current_tenant_id_or_none
from crm.events.delivery import deliver_due
from crm.events.models import EmailStatus, OutboxEmail
from crm.tenancy.services import user_create
from tests.events.smtp import SmtpServer
from tests.operations.datadir import free_port, migrated_data_dir, run_workload


@pytest.fixture
def smtp(settings: SettingsWrapper) -> Iterator[SmtpServer]:
    """A real SMTP server on a free port, not started yet; the mail settings point at it."""
    server = SmtpServer(free_port())
    # pytest-django swaps in Django's test mailbox; put the product's outbox back.
    settings.EMAIL_BACKEND = "crm.events.mail.OutboxEmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = server.port
    yield server
    server.stop()


def test_mail_sent_while_the_server_is_down_arrives_once_when_it_is_back(
    db: None, smtp: SmtpServer
) -> None:
    for n in range(5):
        send_mail(f"Quote {n}", f"Your quote {n}", "sales@example.com", [f"buyer{n}@example.com"])
    stored = dict(OutboxEmail.objects.values_list("message_id", "to"))
    assert len(stored) == 5

    # The server is down: every mail fails, is kept and rescheduled.
    report = deliver_due()
    assert (report.sent, report.retried, report.failed) == (0, 5, 0)
    rows = list(OutboxEmail.objects.all())
    assert {r.status for r in rows} == {EmailStatus.PENDING}
    assert {r.attempts for r in rows} == {1}
    assert all(r.next_attempt_at > timezone.now() for r in rows)
    assert all("Connection refused" in r.last_error for r in rows)

    smtp.start()
    assert deliver_due().claimed == 0  # not due yet: the back-off is respected
    OutboxEmail.objects.update(next_attempt_at=timezone.now())  # the delay has passed

    report = deliver_due()

    assert (report.sent, report.retried, report.failed) == (5, 0, 0)
    assert smtp.inbox.message_id_counts() == Counter(dict.fromkeys(stored, 1))
    received = {str(m["Message-ID"]): [str(m["To"])] for m in smtp.inbox.messages}
    assert received == stored
    assert set(OutboxEmail.objects.values_list("status", "attempts")) == {(EmailStatus.SENT, 2)}
    assert OutboxEmail.objects.filter(sent_at__isnull=True).count() == 0

    # Running the job again sends nothing more.
    assert deliver_due(now=timezone.now() + timedelta(hours=1)).claimed == 0
    assert len(smtp.inbox.messages) == 5


def test_mail_is_given_up_after_the_last_attempt(
    db: None, smtp: SmtpServer, settings: SettingsWrapper
) -> None:
    settings.OUTBOX_MAX_ATTEMPTS = 3
    send_mail("Hello", "Body", "crm@example.com", ["someone@example.com"])
    clock = timezone.now()
    for _ in range(3):
        deliver_due(now=clock)
        clock += timedelta(hours=2)
    row = OutboxEmail.objects.get()
    assert (row.status, row.attempts) == (EmailStatus.FAILED, 3)

    smtp.start()
    assert deliver_due(now=clock + timedelta(days=1)).claimed == 0
    assert smtp.inbox.messages == []


def test_password_reset_mail_goes_through_the_outbox(db: None, smtp: SmtpServer) -> None:
    assert current_tenant_id_or_none() is None  # a reset is asked for before any sign-in
    user = user_create(username="wang.fang", email="wang.fang@example.com", password="pw-Old-1")
    smtp.start()

    form = PasswordResetForm(data={"email": "wang.fang@example.com"})
    assert form.is_valid()
    form.save(
        domain_override="crm.example.com",
        use_https=True,
        email_template_name="registration/password_reset_email.txt",
    )

    row = OutboxEmail.objects.get()
    assert (row.tenant_id, row.to, row.status) == (None, ["wang.fang@example.com"], "pending")
    assert smtp.inbox.messages == []  # stored, not sent, until the job runs
    assert deliver_due().sent == 1
    [message] = smtp.inbox.messages
    assert str(message["Message-ID"]) == row.message_id
    assert str(message["To"]) == "wang.fang@example.com"
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    text = body.get_content()
    assert "https://crm.example.com/" in text
    assert urlsafe_base64_encode(force_bytes(user.pk)) in text
    assert "wang.fang" in text


MAILS = 60


@pytest.mark.slow
def test_two_senders_at_once_send_each_mail_exactly_once(tmp_path: Path) -> None:
    """Two OS processes deliver the same outbox (a SQLite file) at the same instant."""
    smtp = SmtpServer(free_port())
    smtp.start()
    try:
        data_dir = migrated_data_dir(tmp_path / "data")
        run = run_workload(
            data_dir,
            "concurrent-delivery",
            str(MAILS),
            "2",
            CRM_SMTP_HOST="127.0.0.1",
            CRM_SMTP_PORT=str(smtp.port),
        )
    finally:
        smtp.stop()

    senders = run["senders"]
    assert [s.get("crash") for s in senders] == [None, None]
    message_ids = [m for m, _, _ in run["rows"]]
    assert len(message_ids) == MAILS
    assert smtp.inbox.message_id_counts() == Counter(dict.fromkeys(message_ids, 1))
    assert {(status, attempts) for _, status, attempts in run["rows"]} == {("sent", 1)}
    # Both senders took part, and none claimed a mail the other one had.
    assert all(s["claimed"] > 0 for s in senders)
    assert sum(s["claimed"] for s in senders) == MAILS
    assert sum(s["sent"] for s in senders) == MAILS
