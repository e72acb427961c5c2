"""First-response SLAs, overdue tasks, escalation, reassignment on breach; conversion + undo."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from crm.activities.models import Activity, Task
from crm.activities.services import activity_log, task_create
from crm.core.errors import ConflictError, PermissionDeniedError
from crm.customers.models import Account, Contact
from crm.events.models import Notification, OutboxEmail
from crm.sales.capture import lead_capture
from crm.sales.conversion import lead_conversion_undo, lead_convert
from crm.sales.followup import followup_run, lead_mark_responded, policy_set
from crm.sales.lead_models import LeadAssignment, LeadConversion
from crm.sales.models import Lead, Opportunity, StageChange
from tests.api.conftest import Api, make_token

pytestmark = pytest.mark.urls("tests.leads.urls")


def capture(name: str, **values: str) -> Lead:
    result = lead_capture(actor=None, values={"name": name, **values}, channel="api")
    assert result.lead is not None
    return result.lead


def test_overdue_lead_reminds_the_owner_once_per_due_window(flow) -> None:
    lead = capture("慢客户", source="cold")  # low priority: due in 24 h
    assert lead.priority == "low"
    due = lead.first_response_due_at
    assert due is not None and timedelta(hours=23) < due - timezone.now() <= timedelta(hours=24)
    assert followup_run(now=due - timedelta(minutes=1)).reminded == 0
    first = followup_run(now=due + timedelta(minutes=1))
    again = followup_run(now=due + timedelta(minutes=16))
    assert (first.reminded, again.reminded) == (1, 0)
    note = Notification.objects.get(kind="lead_overdue")
    assert note.recipient == lead.owner and "慢客户" in note.message
    mail = OutboxEmail.objects.get()
    assert mail.to == [lead.owner.user.email] and "慢客户" in mail.subject
    # A new due window (e.g. after a reassignment) is a new reminder.
    Lead.objects.filter(pk=lead.pk).update(first_response_due_at=due + timedelta(hours=1))
    assert followup_run(now=due + timedelta(hours=2)).reminded == 1
    assert OutboxEmail.objects.count() == 2


def test_a_response_stops_the_clock(flow) -> None:
    answered = capture("answered", source="cold")
    logged = capture("logged", source="cold")
    inquiry_only = capture("inquiry", source="cold", email="i@example.com")
    lead_capture(actor=None, values={"name": "inquiry", "email": "i@example.com"}, channel="api")
    lead_mark_responded(actor=answered.owner, lead=answered)
    activity_log(
        actor=logged.owner,
        record_type="lead",
        record_id=logged.pk,
        values={"kind": "call", "subject": "回电"},
    )
    later = timezone.now() + timedelta(days=2)
    followup_run(now=later)
    reminded = set(Notification.objects.filter(kind="lead_overdue").values_list("link", flat=True))
    assert reminded == {f"/leads/{inquiry_only.pk}/"}
    answered.refresh_from_db()
    assert answered.status == "working"


def test_escalation_then_reassignment_on_breach(flow) -> None:
    policy_set(
        actor=flow.world.admin,
        priority="low",
        first_response_minutes=30,
        escalate_after_minutes=60,
        reassign_on_breach=True,
    )
    lead = capture("breach", source="cold")
    first_owner = lead.owner
    due = lead.first_response_due_at
    assert due is not None and due - timezone.now() <= timedelta(minutes=30)
    report = followup_run(now=due + timedelta(minutes=10))
    assert (report.reminded, report.escalated, report.reassigned) == (1, 0, 0)
    report = followup_run(now=due + timedelta(minutes=61))
    assert (report.reminded, report.escalated, report.reassigned) == (0, 1, 1)
    escalation = Notification.objects.get(kind="lead_escalated")
    assert escalation.recipient == flow.manager
    lead.refresh_from_db()
    assert lead.owner != first_owner and lead.owner in flow.reps
    assert lead.first_response_due_at > due
    breach = LeadAssignment.objects.get(lead=lead, kind="breach")
    assert breach.previous_owner == first_owner and "overdue" in breach.reason
    # Once more at the same moment: nothing new.
    report = followup_run(now=due + timedelta(minutes=61))
    assert (report.reminded, report.escalated, report.reassigned) == (0, 0, 0)


def test_overdue_tasks_remind_and_escalate(flow) -> None:
    rep = flow.reps[0]
    due = timezone.now() - timedelta(minutes=5)
    task = task_create(actor=rep, values={"title": "回访客户", "due_at": due})
    task_create(actor=rep, values={"title": "done", "due_at": due})
    Task.objects.filter(title="done").update(status="done")
    report = followup_run()
    assert (report.tasks_reminded, report.tasks_escalated) == (1, 0)
    task.refresh_from_db()
    assert task.reminder_sent_at is not None
    report = followup_run(now=due + timedelta(days=1, minutes=1))
    assert (report.tasks_reminded, report.tasks_escalated) == (0, 1)
    assert Notification.objects.get(kind="task_escalated").recipient == flow.manager
    assert OutboxEmail.objects.count() == 2


# --- conversion ---------------------------------------------------------------------------------


def test_conversion_creates_contact_account_and_opportunity_and_keeps_history(flow) -> None:
    lead = capture("陈经理", company="星辰科技", email="chen@xc.com", phone="13700137000")
    owner = lead.owner
    lead_capture(actor=None, values={"name": "陈经理", "email": "chen@xc.com"}, channel="api")
    call = activity_log(
        actor=owner,
        record_type="lead",
        record_id=lead.pk,
        values={"kind": "call", "subject": "first call"},
    )
    task = task_create(
        actor=owner, values={"title": "send quote"}, record_type="lead", record_id=lead.pk
    )
    conversion = lead_convert(actor=owner, lead=lead, opportunity={"name": "ERP", "amount": "9000"})
    lead.refresh_from_db()
    contact, account, deal = conversion.contact, conversion.account, conversion.opportunity
    assert lead.status == "converted" and lead.converted_contact == contact
    assert lead.converted_account == account and account.name == "星辰科技"
    assert contact.email == "chen@xc.com" and contact.phone == "+8613700137000"
    assert contact.account == account and contact.owner == owner
    assert deal.lead == lead and deal.contact == contact and deal.amount == Decimal("9000")
    assert set(
        Activity.objects.filter(record_type="contact", record_id=contact.pk).values_list(
            "pk", flat=True
        )
    ) == set(conversion.moved_activity_ids)
    assert call.pk in conversion.moved_activity_ids and len(conversion.moved_activity_ids) == 2
    task.refresh_from_db()
    assert (task.record_type, task.record_id) == ("contact", contact.pk)
    assert Activity.objects.filter(record_type="lead", record_id=lead.pk).count() == 0
    with pytest.raises(ConflictError):
        lead_convert(actor=owner, lead=lead)
    # A later inquiry by the same email lands on the contact, not on a new lead.
    again = lead_capture(actor=None, values={"name": "Chen", "email": "chen@xc.com"}, channel="api")
    assert again.duplicate.record == contact


def test_conversion_reuses_an_account_of_the_same_name(flow) -> None:
    from crm.customers.services import account_create

    existing = account_create(actor=flow.reps[0], values={"name": "Acme Ltd"})
    lead = capture("Bob", company="acme ltd")
    conversion = lead_convert(actor=lead.owner, lead=lead, create_opportunity=False)
    assert conversion.account == existing and conversion.created_account is False
    assert conversion.opportunity is None


def test_undo_within_the_day_puts_everything_back(flow) -> None:
    lead = capture("周总", company="新公司")
    owner = lead.owner
    call = activity_log(
        actor=owner,
        record_type="lead",
        record_id=lead.pk,
        values={"kind": "call", "subject": "call"},
    )
    conversion = lead_convert(actor=owner, lead=lead)
    contact_id, account_id = conversion.contact_id, conversion.account_id
    later_note = activity_log(
        actor=owner,
        record_type="contact",
        record_id=contact_id,
        values={"kind": "note", "subject": "after conversion"},
    )
    lead_conversion_undo(actor=owner, conversion=conversion)
    lead.refresh_from_db()
    assert lead.status == "new" and lead.converted_contact is None and lead.converted_at is None
    assert set(
        Activity.objects.filter(record_type="lead", record_id=lead.pk).values_list("pk", flat=True)
    ) == {call.pk, later_note.pk}
    assert Contact.objects.get(pk=contact_id).deleted_at is not None
    assert Account.objects.get(pk=account_id).deleted_at is not None
    assert Opportunity.objects.get(pk=conversion.opportunity_id).deleted_at is not None
    with pytest.raises(ConflictError):
        lead_conversion_undo(actor=owner, conversion=conversion)
    # It can be converted again.
    assert lead_convert(actor=owner, lead=lead).contact_id != contact_id


def test_undo_is_refused_after_a_day_and_for_others(flow) -> None:
    lead = capture("late")
    conversion = lead_convert(actor=lead.owner, lead=lead)
    other = next(r for r in flow.reps if r != lead.owner)
    with pytest.raises(PermissionDeniedError):
        lead_conversion_undo(actor=other, conversion=conversion)
    with pytest.raises(ConflictError):
        lead_conversion_undo(
            actor=lead.owner,
            conversion=conversion,
            now=conversion.at + timedelta(hours=24, minutes=1),
        )
    assert LeadConversion.objects.get().undone_at is None


def test_conversion_is_one_transaction(flow) -> None:
    lead = capture("atomic", company="Atom Co")
    with pytest.raises(Exception):
        lead_convert(actor=lead.owner, lead=lead, opportunity={"amount": "-5"})
    lead.refresh_from_db()
    assert lead.status == "new"
    assert Contact.objects.count() == 0 and Account.objects.count() == 0
    assert Opportunity.objects.count() == 0 and StageChange.objects.count() == 0


def test_conversion_api(flow) -> None:
    lead = capture("api convert", company="API Co")
    api = Api(make_token(lead.owner))
    done = api.post(
        f"/lead-flow/leads/{lead.pk}/convert", {"opportunity": {"name": "deal", "amount": 1200.5}}
    )
    assert done.status_code == 201, done.content
    body = done.json()
    assert body["created_contact"] and body["created_account"] and body["opportunity_id"]
    assert Opportunity.objects.get(pk=body["opportunity_id"]).amount == 1200.5
    undo = api.post(f"/lead-flow/conversions/{body['id']}/undo")
    assert undo.status_code == 200 and undo.json()["undone_at"]
    stranger = Api(make_token(next(r for r in flow.reps if r != lead.owner)))
    assert stranger.post(f"/lead-flow/conversions/{body['id']}/undo").status_code == 404
    assert stranger.post(f"/lead-flow/leads/{lead.pk}/convert", {}).status_code == 404
