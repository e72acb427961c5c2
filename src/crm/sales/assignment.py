"""Fair lead assignment: team by rule, member by lowest load, atomic under concurrency.

* **Team.** The first active AssignmentRule (by position) whose priority / region / source /
  product line all match (blank matches anything) names the team, the skills a member needs
  and whether the member's region must match the lead's.
* **Member.** Eligible: active sales members of the team who accept leads, are inside their
  working hours and not away, have the skills (and region), and are below capacity. The lowest
  load (open leads ÷ capacity) wins; ties go to the least recently assigned, then the oldest
  membership. No eligible member: the lead waits in the team queue and the managers are told.
* **Atomic.** The team's membership rows are locked (SELECT … FOR NO KEY UPDATE, PostgreSQL) before
  loads are counted, and the lead's owner is set with a conditional UPDATE (… WHERE owner IS
  NULL), so two assigners never both hand out the last free slot or both own a lead. On SQLite
  the IMMEDIATE transaction holds the database write lock from BEGIN, which serialises the
  same steps. Callers that also write other rows take the team lock (`lock_team`) before the
  audit chain's, so locks are always taken in one order — capture identity, team, lead, audit
  chain — and assigners cannot deadlock.
* **Log.** Every assignment, queueing and reassignment writes a LeadAssignment row with its
  reason and the numbers behind it, plus the usual audit row and event.

This module does the writes (assign, queue, reassign, retry the queues). The choice of team and
member is made in :mod:`crm.sales.assignment_routing`; the assignment log, the fairness report
and the admin's rules and schedules are in :mod:`crm.sales.assignment_admin`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.core.errors import ConflictError, PermissionDeniedError
from crm.core.writes import field_error
from crm.events.services import notification_create, record_written
from crm.sales.assignment_routing import (
    ASSIGNING_KINDS,
    Candidate,
    Decision,
    decide,
    rule_for,
)
from crm.sales.lead_models import (
    OPEN_LEAD_STATUSES,
    AssignmentKind,
    AssignmentRule,
    LeadAssignment,
    LeadIntake,
    ResponsePolicy,
)
from crm.sales.models import Lead
from crm.tenancy.models import Membership, Role, Team, Visibility
from crm.tenancy.permissions import can_see_owner, require_write

# --- writes -------------------------------------------------------------------------------------


def lock_team(team_id: int | None) -> None:
    """Lock the team's membership rows until the transaction ends (PostgreSQL; SQLite holds
    the whole database write lock already). Call before writing the audit chain (AuditHead)."""
    if team_id is None or not connection.features.has_select_for_update:
        return
    # NO KEY UPDATE: serialises assigners without blocking other writers' foreign keys to
    # these members (a task or activity assigned to one of them takes a KEY SHARE lock).
    list(
        Membership.objects.select_for_update(no_key=True)
        .filter(team_id=team_id)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def response_due(priority: str, start: datetime) -> datetime:
    policy = ResponsePolicy.objects.filter(priority=priority).first()
    minutes = (
        policy.first_response_minutes
        if policy
        else ResponsePolicy.DEFAULTS.get(priority, ResponsePolicy.DEFAULTS["medium"])[0]
    )
    return start + timedelta(minutes=minutes)


def team_managers(team_id: int | None) -> list[Membership]:
    """Who hears about a team's queue and escalations: its managers, else the tenant admins."""
    managers: list[Membership] = []
    if team_id is not None:
        managers = list(
            Membership.objects.filter(team_id=team_id, role=Role.MANAGER, is_active=True)
        )
    if not managers:
        managers = list(Membership.objects.filter(role=Role.ADMIN, is_active=True))
    return managers


def _intake(lead: Lead) -> LeadIntake:
    intake, _created = LeadIntake.objects.get_or_create(lead=lead)
    return intake


def _give(
    *,
    lead: Lead,
    decision: Decision,
    kind: str,
    now: datetime,
    actor: Membership | None,
    reason: str,
    expect_owner_id: int | None,
    audit: bool = True,
) -> LeadAssignment | None:
    """Set the owner if it is still `expect_owner_id` (conditional UPDATE); log and notify."""
    member = decision.member
    assert member is not None
    due = response_due(lead.priority, now)
    updated = Lead.objects.filter(pk=lead.pk, owner_id=expect_owner_id).update(
        owner=member, team=decision.team, first_response_due_at=due, updated_at=now
    )
    if updated != 1:
        return None
    previous = lead.owner_id
    lead.owner, lead.team, lead.first_response_due_at = member, decision.team, due
    if not LeadIntake.objects.filter(lead=lead).update(
        assigned_at=now, queued_at=None, first_response_at=None, updated_at=now
    ):
        LeadIntake.objects.create(lead=lead, assigned_at=now)
    entry = LeadAssignment.objects.create(
        lead=lead,
        member=member,
        previous_owner_id=previous,
        team=decision.team,
        rule=decision.rule,
        kind=kind,
        reason=reason[:300],
        detail=decision.detail(),
        by=actor,
        at=now,
    )
    if audit:
        record_written(
            actor=actor,
            instance=lead,
            action="assigned",
            changes={
                "owner": [previous, member.pk],
                "first_response_due_at": [None, due.isoformat()],
            },
            payload={"kind": kind, "assignment_id": entry.pk},
        )
    notification_create(
        recipient=member,
        kind="lead_assigned",
        message=_("New lead for you: %(name)s — %(reason)s")
        % {"name": lead.name, "reason": reason},
        link=f"/leads/{lead.pk}/",
    )
    return entry


def _queue(
    *,
    lead: Lead,
    decision: Decision,
    now: datetime,
    actor: Membership | None,
    audit: bool = True,
) -> LeadAssignment:
    """Leave the lead unowned in its team's queue; the managers hear of it once."""
    team_id = decision.team.pk if decision.team else None
    intake = _intake(lead)
    if intake.queued_at is not None and lead.team_id == team_id:
        latest = (
            LeadAssignment.objects.filter(lead=lead, kind=AssignmentKind.QUEUED)
            .order_by("-id")
            .first()
        )
        if latest is not None:
            return latest  # still waiting: no new log row or notification per retry
    Lead.objects.filter(pk=lead.pk).update(team_id=team_id, updated_at=now)
    lead.team = decision.team
    intake.queued_at = now
    intake.save(update_fields=["queued_at", "updated_at"])
    entry = LeadAssignment.objects.create(
        lead=lead,
        member=None,
        previous_owner_id=lead.owner_id,
        team=decision.team,
        rule=decision.rule,
        kind=AssignmentKind.QUEUED,
        reason=decision.reason[:300],
        detail=decision.detail(),
        by=actor,
        at=now,
    )
    if audit:
        record_written(
            actor=actor, instance=lead, action="queued", changes={"team": [None, team_id]}
        )
    for manager in team_managers(team_id):
        notification_create(
            recipient=manager,
            kind="lead_queued",
            message=_("Lead %(name)s is waiting in the queue: %(reason)s")
            % {"name": lead.name, "reason": decision.reason},
            link=f"/leads/{lead.pk}/",
            dedupe_key=f"lead-queued:{lead.pk}:{entry.pk}",
        )
    return entry


def _lock_lead(lead: Lead) -> Lead:
    return Lead.objects.select_for_update().get(pk=lead.pk)


@transaction.atomic
def lead_assign(
    *,
    lead: Lead,
    actor: Membership | None = None,
    product_line: str | None = None,
    now: datetime | None = None,
) -> LeadAssignment:
    """Assign an unowned lead by the rules (or queue it). Idempotent: an owned lead is left as
    it is and its latest assignment returned."""
    now = now or timezone.now()
    if product_line is None:
        product_line = (
            LeadIntake.objects.filter(lead=lead).values_list("product_line", flat=True).first()
            or ""
        )
    rule = rule_for(
        priority=lead.priority, region=lead.region, source=lead.source, product_line=product_line
    )
    lock_team(rule.team_id if rule else None)
    current = _lock_lead(lead)
    if current.owner_id is not None:
        latest = (
            LeadAssignment.objects.filter(lead=current, kind__in=ASSIGNING_KINDS)
            .order_by("-id")
            .first()
        )
        return latest or _record_existing(current, now)
    entry = assign_locked(lead=current, rule=rule, actor=actor, now=now)
    lead.owner, lead.team, lead.first_response_due_at = (
        current.owner,
        current.team,
        current.first_response_due_at,
    )
    return entry


def assign_locked(
    *,
    lead: Lead,
    rule: AssignmentRule | None,
    actor: Membership | None,
    now: datetime,
    audit: bool = True,
) -> LeadAssignment:
    """Assign or queue an unowned lead. Precondition: inside a transaction that holds the lock
    of the rule's team (`lock_team`) and of the lead (or created it). `audit=False` when the
    caller audits the outcome itself (capture writes one "created" entry with the owner)."""
    decision = decide(rule=rule, region=lead.region, now=now)
    if decision.member is None:
        return _queue(lead=lead, decision=decision, now=now, actor=actor, audit=audit)
    entry = _give(
        lead=lead,
        decision=decision,
        kind=AssignmentKind.AUTO,
        now=now,
        actor=actor,
        reason=decision.reason,
        expect_owner_id=None,
        audit=audit,
    )
    assert entry is not None  # the lead row is locked and was unowned
    return entry


def _record_existing(lead: Lead, now: datetime) -> LeadAssignment:
    """A lead owned without a logged assignment (given an owner by hand on creation)."""
    return LeadAssignment.objects.create(
        lead=lead,
        member_id=lead.owner_id,
        team_id=lead.team_id,
        kind=AssignmentKind.MANUAL,
        reason=_("Owner set when the lead was created"),
        detail={},
        at=now,
    )


@transaction.atomic
def lead_reassign(
    *,
    actor: Membership,
    lead: Lead,
    member_id: int,
    note: str = "",
    allow_over_capacity: bool = False,
    now: datetime | None = None,
) -> LeadAssignment:
    """A manager (or admin) gives the lead to a member by hand; logged with the note."""
    now = now or timezone.now()
    require_write(actor)
    if actor.visibility == Visibility.OWN or not can_see_owner(actor, lead.owner):
        raise PermissionDeniedError(_("You cannot reassign this lead."))
    member = Membership.objects.filter(pk=member_id).first()
    if member is None or not member.is_active:
        raise field_error("member_id", _("No such active member."))
    if actor.visibility == Visibility.TEAM and member.team_id != actor.team_id:
        raise PermissionDeniedError(_("You can only assign leads within your team."))
    lock_team(member.team_id)
    current = _lock_lead(lead)
    if current.owner_id == member.pk:
        raise ConflictError(_("The lead already belongs to this member."))
    open_leads = Lead.objects.filter(
        owner=member, status__in=OPEN_LEAD_STATUSES, deleted_at__isnull=True
    ).count()
    if open_leads >= member.capacity and not allow_over_capacity:
        raise ConflictError(
            _("%(member)s is at capacity (%(open)d of %(capacity)d open leads).")
            % {"member": member, "open": open_leads, "capacity": member.capacity}
        )
    reason = _("Reassigned by %(actor)s") % {"actor": actor}
    if note:
        reason += f": {note}"
    decision = Decision(
        member.team,
        None,
        member,
        reason,
        [Candidate(member, open_leads, 0)],
    )
    previous_owner = current.owner
    entry = _give(
        lead=current,
        decision=decision,
        kind=AssignmentKind.MANUAL,
        now=now,
        actor=actor,
        reason=reason,
        expect_owner_id=current.owner_id,
    )
    assert entry is not None
    if previous_owner is not None and previous_owner.pk != actor.pk:
        notification_create(
            recipient=previous_owner,
            kind="lead_reassigned",
            message=_("Lead %(name)s was given to %(member)s.")
            % {"name": lead.name, "member": member},
            link=f"/leads/{lead.pk}/",
            dedupe_key=f"lead-reassigned:{lead.pk}:{entry.pk}",
        )
    lead.owner, lead.team, lead.first_response_due_at = (
        current.owner,
        current.team,
        current.first_response_due_at,
    )
    return entry


@transaction.atomic
def lead_reassign_on_breach(
    *, lead: Lead, expected_owner_id: int, expected_due: datetime, now: datetime | None = None
) -> LeadAssignment | None:
    """Give a lead whose first response is overdue to another eligible member of its team.

    Does nothing (returns None) when the lead changed meanwhile (another worker got there
    first), or when nobody else can take it — the current owner keeps it then.
    """
    now = now or timezone.now()
    lock_team(lead.team_id)
    current = _lock_lead(lead)
    if current.owner_id != expected_owner_id or current.first_response_due_at != expected_due:
        return None
    if current.team_id is None:
        return None
    product_line = (
        LeadIntake.objects.filter(lead=current).values_list("product_line", flat=True).first() or ""
    )
    rule = rule_for(
        priority=current.priority,
        region=current.region,
        source=current.source,
        product_line=product_line,
    )
    team = Team.objects.get(pk=current.team_id)
    decision = decide(
        rule=rule if rule is not None and rule.team_id == team.pk else None,
        team=team,
        region=current.region,
        now=now,
        exclude_ids=[expected_owner_id],
    )
    if decision.member is None:
        return None
    reason = (
        _("First response overdue since %(due)s; ")
        % {"due": expected_due.isoformat(timespec="minutes")}
        + decision.reason
    )
    return _give(
        lead=current,
        decision=decision,
        kind=AssignmentKind.BREACH,
        now=now,
        actor=None,
        reason=reason,
        expect_owner_id=expected_owner_id,
    )


def queue_drain(*, now: datetime | None = None, limit: int = 500) -> int:
    """Try again to assign the leads waiting in team queues (oldest first); returns how many
    found an owner. Each lead is its own transaction."""
    now = now or timezone.now()
    assigned = 0
    waiting = list(
        LeadIntake.objects.filter(
            queued_at__isnull=False,
            lead__owner__isnull=True,
            lead__deleted_at__isnull=True,
            lead__status__in=OPEN_LEAD_STATUSES,
        )
        .order_by("queued_at", "lead_id")
        .values_list("lead_id", flat=True)[:limit]
    )
    for lead_id in waiting:
        lead = Lead.objects.filter(pk=lead_id).first()
        if lead is None:
            continue
        entry = lead_assign(lead=lead, now=now)
        if entry.kind != AssignmentKind.QUEUED:
            assigned += 1
    return assigned
