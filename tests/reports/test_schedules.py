"""Scheduled reports: validation, and a due report arrives once by email (a real SMTP server)
with its table and a link to its file; the link opens for recipients only."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, time, timedelta
from typing import Any

import pytest
from django.utils import timezone
from pytest_django.fixtures import Settings as SettingsWrapper

from crm.activities.models import Activity
from crm.core.context import tenant_context
from crm.core.errors import PermissionDeniedError, ValidationFailedError
from crm.events.delivery import deliver_due
from crm.events.models import OutboxEmail
from crm.reports import tasks
from crm.reports.models import ReportDelivery, ReportSchedule
from crm.reports.periods import tenant_zone
from crm.reports.services import (
    next_run_after,
    period_before,
    schedule_create,
    schedule_send_due,
    schedule_update,
)
from tests.events.smtp import SmtpServer
from tests.operations.datadir import free_port
from tests.web.conftest import client_for


@pytest.fixture
def smtp(settings: SettingsWrapper) -> Iterator[SmtpServer]:
    server = SmtpServer(free_port())
    settings.EMAIL_BACKEND = "crm.events.mail.OutboxEmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = server.port
    server.start()
    yield server
    server.stop()


def _emails(world: Any) -> None:
    for member in (world.manager, world.sales, world.sales2):
        member.user.email = f"{member.display_name}@example.com"
        member.user.save(update_fields=["email"])


def test_next_run_and_periods_follow_the_tenant_calendar(world) -> None:
    zone = tenant_zone()
    wednesday = datetime(2026, 11, 18, 15, 0, tzinfo=zone)
    assert next_run_after("weekly", wednesday) == datetime(2026, 11, 23, 7, 0, tzinfo=zone)
    assert next_run_after("monthly", wednesday) == datetime(2026, 12, 1, 7, 0, tzinfo=zone)
    december = datetime(2026, 12, 20, tzinfo=zone)
    assert next_run_after("monthly", december) == datetime(2027, 1, 1, 7, 0, tzinfo=zone)
    monday = datetime(2026, 11, 23, 7, 0, tzinfo=zone)
    assert period_before("weekly", monday) == (
        datetime(2026, 11, 16).date(),
        datetime(2026, 11, 22).date(),
    )
    assert period_before("monthly", datetime(2026, 12, 1, 7, tzinfo=zone)) == (
        datetime(2026, 11, 1).date(),
        datetime(2026, 11, 30).date(),
    )


def test_bad_schedules_are_refused_naming_the_field(world, other_world) -> None:
    base = {"name": "x", "report_kind": "product_sales", "frequency": "weekly"}
    cases = [
        ({"report_kind": "secrets"}, "report_kind"),
        ({"frequency": "hourly"}, "frequency"),
        ({"file_format": "pdf"}, "file_format"),
        ({"recipient_ids": [other_world.admin.pk]}, "recipient_ids"),
        ({"filters": {"owner_id": other_world.admin.pk}}, "filters.owner_id"),
        ({"filters": {"colour": "red"}}, "filters.colour"),
    ]
    for change, field in cases:
        with pytest.raises(ValidationFailedError) as refused:
            schedule_create(actor=world.sales, values={**base, **change})
        assert field in refused.value.fields, change
    assert ReportSchedule.objects.count() == 0
    with pytest.raises(PermissionDeniedError):
        schedule_create(actor=world.viewer, values=base)  # a viewer only reads


def test_a_due_report_arrives_once_with_its_table_and_file(
    world, other_world, history, smtp
) -> None:
    _emails(world)
    schedule = schedule_create(
        actor=world.manager,
        values={
            "name": "Team activities",
            "report_kind": "activity_counts",
            "frequency": "weekly",
            "file_format": "csv",
            "recipient_ids": [world.manager.pk, world.sales.pk],
        },
    )
    run_at = schedule.next_run_at
    assert run_at > timezone.now()
    start, end = period_before("weekly", run_at + timedelta(minutes=1))
    # The activities happened during the week the report covers.
    Activity.objects.update(at=datetime.combine(start + timedelta(days=2), time(10), tenant_zone()))

    assert schedule_send_due(schedule_id=schedule.pk, now=run_at - timedelta(minutes=1)) is None
    delivery = schedule_send_due(schedule_id=schedule.pk, now=run_at + timedelta(minutes=1))
    assert delivery is not None
    assert (delivery.period_start, delivery.period_end) == (start, end)
    schedule.refresh_from_db()
    assert schedule.next_run_at == run_at + timedelta(days=7)
    assert schedule.last_sent_at is not None
    # The same period is never sent twice, even if the schedule is made due again.
    ReportSchedule.objects.filter(pk=schedule.pk).update(next_run_at=run_at)
    assert schedule_send_due(schedule_id=schedule.pk, now=run_at + timedelta(minutes=5)) is None
    assert ReportDelivery.objects.count() == 1 and OutboxEmail.objects.count() == 1

    assert deliver_due().sent == 1
    assert deliver_due(now=timezone.now() + timedelta(hours=2)).claimed == 0
    [message] = smtp.inbox.messages
    assert sorted(str(message["To"]).split(", ")) == ["manager@example.com", "sales@example.com"]
    assert "Team activities" in str(message["Subject"])
    text = message.get_body(preferencelist=("plain",)).get_content()
    # The manager's view: the team's rep (sales: 2 calls, 1 visit), not sales2 of the other team.
    assert "sales" in text and "sales2" not in text
    rows = [line.split(" · ") for line in text.splitlines() if " · " in line]
    assert any(r[0].endswith(": sales") and r[-1].endswith(": 3") for r in rows), text
    link = re.search(r"https?://\S+/reports/sent/(\S+)/", text)
    assert link is not None
    path = link.group(0)[link.group(0).index("/reports/") :]

    download = client_for(world.sales).get(path)
    assert download.status_code == 200
    content = b"".join(download.streaming_content)
    assert content.startswith(b"\xef\xbb\xbf")
    lines = content.decode("utf-8-sig").splitlines()
    assert lines[1].startswith("sales,2,0,0,1,0,3")
    assert client_for(world.sales2).get(path).status_code == 404  # not a recipient
    assert client_for(other_world.admin).get(path).status_code == 404
    assert client_for(world.sales).get(path[:-3] + "xx/").status_code == 404  # tampered


def test_the_periodic_job_sends_due_reports_of_every_tenant_once(world, other_world, smtp) -> None:
    _emails(world)
    schedule = schedule_create(
        actor=world.sales,
        values={"name": "Mine", "report_kind": "sales_performance", "frequency": "monthly"},
    )
    with tenant_context(other_world.tenant.pk):
        paused = schedule_create(
            actor=other_world.admin,
            values={"name": "B", "report_kind": "lead_sources", "frequency": "weekly"},
        )
        schedule_update(actor=other_world.admin, schedule=paused, values={"active": False})
    past = timezone.now() - timedelta(minutes=1)
    ReportSchedule.all_tenants.update(next_run_at=past)
    with tenant_context(None):
        tasks.report_schedules_send.call_local()
        tasks.report_schedules_send.call_local()
    assert ReportDelivery.all_tenants.count() == 1
    assert deliver_due().sent == 1
    [message] = smtp.inbox.messages
    assert str(message["To"]) == "sales@example.com"
    schedule.refresh_from_db()
    assert schedule.next_run_at > timezone.now()
