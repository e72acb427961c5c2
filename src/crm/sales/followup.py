"""Follow-up on time: first-response SLAs of leads and due tasks, reminders and escalation.

:func:`followup_run` (the periodic job's body, per tenant) finds

* leads still *new* with no response past their `first_response_due_at` — the owner is
  reminded in the app and by email; after the policy's second window the team managers are
  told; and where the policy says so the lead is then reassigned to another eligible member
  (who gets a fresh due time);
* open tasks past their `due_at` — the assignee is reminded; after the tenant's task
  escalation window the assignee's managers are told.

**Exactly once.** Each reminder has a key naming the item and its due window
(``lead-due:<id>:<due time>``). The in-app Notification is inserted with that key (unique per
recipient) in the same transaction as the OutboxEmail (unique `dedupe_key`): when two workers
run at the same moment, one insert wins and the other finds the row (SQLite serialises the
transactions; PostgreSQL makes the second insert wait for the first to commit, then fail),
so each reminder is stored — and mailed — once. A new due time is a new window.

A lead counts as responded when it is no longer *new*, its intake has `first_response_at`, or a
member logged an activity on it (inquiries attached by capture do not count).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.activities.models import Activity, Task, TaskStatus
from crm.core.context import current_tenant_id
from crm.core.errors import PermissionDeniedError
from crm.core.writes import field_error, snapshot
from crm.events.crud import save_changes
from crm.events.mail import outbox_store
from crm.events.services import notification_create, record_written
from crm.sales.assignment import lead_reassign_on_breach, queue_drain, team_managers
from crm.sales.lead_models import LeadIntake, ResponsePolicy
from crm.sales.lead_scoring import INQUIRY, lead_settings
from crm.sales.models import Lead, LeadStatus
from crm.tenancy.models import Membership
from crm.tenancy.permissions import can_see_owner, require_admin

BATCH = 500


@dataclass
class FollowupReport:
    reminded: int = 0
    escalated: int = 0
    reassigned: int = 0
    tasks_reminded: int = 0
    tasks_escalated: int = 0
    queue_assigned: int = 0


def notify_once(
    *,
    recipient: Membership,
    kind: str,
    key: str,
    subject: str,
    message: str,
    link: str,
) -> bool:
    """In-app notification + email, at most once per (recipient, key). True if sent now."""
    with transaction.atomic():
        notification = notification_create(
            recipient=recipient, kind=kind, message=message, link=link, dedupe_key=key
        )
        if notification is None:
            return False
        address = recipient.user.email
        if address:
            email = EmailMessage(
                subject=subject[:200],
                body=f"{message}\n\n{link}",
                from_email=settings.DEFAULT_FROM_EMAIL,
                to=[address],
            )
            outbox_store(email, dedupe_key=f"t{current_tenant_id()}:m{recipient.pk}:{key}"[:200])
        return True


def policies() -> dict[str, ResponsePolicy]:
    stored = {p.priority: p for p in ResponsePolicy.objects.all()}
    for priority, (first, escalate) in ResponsePolicy.DEFAULTS.items():
        stored.setdefault(
            priority,
            ResponsePolicy(
                priority=priority, first_response_minutes=first, escalate_after_minutes=escalate
            ),
        )
    return stored


def overdue_leads(now: datetime) -> list[Lead]:
    responded = Activity.objects.filter(
        record_type="lead", record_id=OuterRef("pk"), owner__isnull=False, deleted_at__isnull=True
    ).exclude(outcome=INQUIRY)
    answered = LeadIntake.objects.filter(lead_id=OuterRef("pk"), first_response_at__isnull=False)
    return list(
        Lead.objects.filter(
            status=LeadStatus.NEW,
            deleted_at__isnull=True,
            owner__isnull=False,
            first_response_due_at__lt=now,
        )
        .filter(~Exists(responded), ~Exists(answered))
        .select_related("owner__user")
        .order_by("first_response_due_at", "pk")[:BATCH]
    )


def _lead_followup(
    lead: Lead, policy: ResponsePolicy, now: datetime, report: FollowupReport
) -> None:
    assert lead.owner is not None and lead.first_response_due_at is not None
    due = lead.first_response_due_at
    window = due.isoformat()
    link = f"/leads/{lead.pk}/"
    if notify_once(
        recipient=lead.owner,
        kind="lead_overdue",
        key=f"lead-due:{lead.pk}:{window}",
        subject=_("Lead waiting for your first response: %(name)s") % {"name": lead.name},
        message=_("%(name)s (%(priority)s) was due for a first response at %(due)s.")
        % {"name": lead.name, "priority": lead.get_priority_display(), "due": window},
        link=link,
    ):
        report.reminded += 1
    if now < due + timedelta(minutes=policy.escalate_after_minutes):
        return
    for manager in team_managers(lead.team_id):
        if notify_once(
            recipient=manager,
            kind="lead_escalated",
            key=f"lead-escalated:{lead.pk}:{window}",
            subject=_("Lead overdue: %(name)s") % {"name": lead.name},
            message=_("%(owner)s has not answered %(name)s, due at %(due)s.")
            % {"owner": lead.owner, "name": lead.name, "due": window},
            link=link,
        ):
            report.escalated += 1
    if policy.reassign_on_breach and lead_reassign_on_breach(
        lead=lead, expected_owner_id=lead.owner.pk, expected_due=due, now=now
    ):
        report.reassigned += 1


def overdue_tasks(now: datetime) -> list[Task]:
    return list(
        Task.objects.filter(
            status=TaskStatus.OPEN, assignee__isnull=False, due_at__lt=now, deleted_at__isnull=True
        )
        .select_related("assignee__user")
        .order_by("due_at", "pk")[:BATCH]
    )


def _task_followup(
    task: Task, escalate_after: timedelta, now: datetime, report: FollowupReport
) -> None:
    assert task.assignee is not None and task.due_at is not None
    window = task.due_at.isoformat()
    link = f"/tasks/{task.pk}/"
    if notify_once(
        recipient=task.assignee,
        kind="task_overdue",
        key=f"task-due:{task.pk}:{window}",
        subject=_("Task overdue: %(title)s") % {"title": task.title},
        message=_("“%(title)s” was due at %(due)s.") % {"title": task.title, "due": window},
        link=link,
    ):
        Task.objects.filter(pk=task.pk, reminder_sent_at__isnull=True).update(reminder_sent_at=now)
        report.tasks_reminded += 1
    if now < task.due_at + escalate_after:
        return
    for manager in team_managers(task.assignee.team_id):
        if manager.pk == task.assignee.pk:
            continue
        if notify_once(
            recipient=manager,
            kind="task_escalated",
            key=f"task-escalated:{task.pk}:{window}",
            subject=_("Task overdue: %(title)s") % {"title": task.title},
            message=_("%(who)s has not finished “%(title)s”, due at %(due)s.")
            % {"who": task.assignee, "title": task.title, "due": window},
            link=link,
        ):
            report.tasks_escalated += 1


def followup_run(*, now: datetime | None = None) -> FollowupReport:
    """One pass for the tenant in context: leads past their SLA, tasks past due, queues."""
    now = now or timezone.now()
    report = FollowupReport()
    by_priority = policies()
    for lead in overdue_leads(now):
        _lead_followup(lead, by_priority.get(lead.priority, by_priority["medium"]), now, report)
    escalate_after = timedelta(minutes=lead_settings().task_escalate_after_minutes)
    for task in overdue_tasks(now):
        _task_followup(task, escalate_after, now, report)
    report.queue_assigned = queue_drain(now=now)
    return report


@transaction.atomic
def lead_mark_responded(*, actor: Membership, lead: Lead, now: datetime | None = None) -> Lead:
    """The owner answered: the SLA clock stops and the lead is being worked."""
    if not can_see_owner(actor, lead.owner) or not actor.can_write:
        raise PermissionDeniedError(_("You cannot change this record."))
    now = now or timezone.now()
    LeadIntake.objects.update_or_create(lead=lead, defaults={"first_response_at": now})
    if lead.status == LeadStatus.NEW:
        before = snapshot(lead, ["status", "last_interaction_at"])
        lead.status = LeadStatus.WORKING
        lead.last_interaction_at = now
        save_changes(actor, lead, before, action="responded")
    return lead


def policy_set(
    *,
    actor: Membership,
    priority: str,
    first_response_minutes: int,
    escalate_after_minutes: int,
    reassign_on_breach: bool,
) -> ResponsePolicy:
    """Admins set a priority's SLA."""
    require_admin(actor)
    if priority not in ResponsePolicy.DEFAULTS:
        raise field_error("priority", _("Unknown priority."))
    if first_response_minutes < 1:
        raise field_error("first_response_minutes", _("Must be at least one minute."))
    with transaction.atomic():
        policy, _created = ResponsePolicy.objects.update_or_create(
            priority=priority,
            defaults={
                "first_response_minutes": first_response_minutes,
                "escalate_after_minutes": escalate_after_minutes,
                "reassign_on_breach": reassign_on_breach,
            },
        )
        record_written(
            actor=actor,
            instance=policy,
            action="updated",
            changes={
                "first_response_minutes": [None, first_response_minutes],
                "escalate_after_minutes": [None, escalate_after_minutes],
                "reassign_on_breach": [None, reassign_on_breach],
            },
        )
    return policy
