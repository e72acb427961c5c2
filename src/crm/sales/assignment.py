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
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db import connection, transaction
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.core.context import current_tenant_id
from crm.core.errors import ConflictError, PermissionDeniedError
from crm.core.writes import field_error
from crm.events.services import notification_create, record_written
from crm.sales.lead_models import (
    OPEN_LEAD_STATUSES,
    AssignmentKind,
    AssignmentRule,
    LeadAssignment,
    LeadIntake,
    MemberSchedule,
    ResponsePolicy,
)
from crm.sales.models import Lead
from crm.tenancy.models import Membership, Role, Team, Tenant, Visibility
from crm.tenancy.permissions import can_see_owner, require_admin, require_write

ASSIGNING_KINDS = (AssignmentKind.AUTO, AssignmentKind.MANUAL, AssignmentKind.BREACH)


# --- rules and eligibility ----------------------------------------------------------------------


def _same(a: str, b: str) -> bool:
    return a.strip().casefold() == b.strip().casefold()


def rule_matches(
    rule: AssignmentRule, *, priority: str, region: str, source: str, product_line: str
) -> bool:
    checks = (
        (rule.priority, priority),
        (rule.region, region),
        (rule.source, source),
        (rule.product_line, product_line),
    )
    return all(not wanted or _same(wanted, given) for wanted, given in checks)


def rule_for(
    *, priority: str, region: str, source: str, product_line: str
) -> AssignmentRule | None:
    for rule in (
        AssignmentRule.objects.filter(is_active=True)
        .select_related("team")
        .order_by("position", "id")
    ):
        if rule_matches(
            rule, priority=priority, region=region, source=source, product_line=product_line
        ):
            return rule
    return None


def _tenant_zone() -> ZoneInfo:
    tenant = Tenant.objects.filter(pk=current_tenant_id()).only("time_zone").first()
    return _zone(tenant.time_zone if tenant else "UTC")


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def available(schedule: MemberSchedule | None, now: datetime, tenant_zone: ZoneInfo) -> str:
    """ "" when the member can take a lead now, else why not."""
    if schedule is None:
        return ""
    if not schedule.accepts_leads:
        return "not taking leads"
    if (
        schedule.away_until is not None
        and now < schedule.away_until
        and (schedule.away_from is None or schedule.away_from <= now)
    ):
        return "out of office"
    if schedule.away_from is not None and schedule.away_until is None and schedule.away_from <= now:
        return "out of office"
    local = now.astimezone(_zone(schedule.time_zone) if schedule.time_zone else tenant_zone)
    if schedule.work_days and local.weekday() not in schedule.work_days:
        return "not a working day"
    start, end = schedule.work_start, schedule.work_end
    if start is not None and end is not None:
        t = local.time()
        inside = start <= t < end if start <= end else (t >= start or t < end)
        if not inside:
            return "outside working hours"
    return ""


@dataclass
class Candidate:
    member: Membership
    open_leads: int
    last_assignment_id: int  # 0 = never assigned
    excluded: str = ""  # why not eligible; "" = eligible

    @property
    def load(self) -> Fraction:
        return Fraction(self.open_leads, max(self.member.capacity, 1))

    def as_dict(self) -> dict[str, Any]:
        return {
            "member_id": self.member.pk,
            "open_leads": self.open_leads,
            "capacity": self.member.capacity,
            "load": round(float(self.load), 4),
            "excluded": self.excluded,
        }


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


def _schedule_of(member: Membership) -> MemberSchedule | None:
    try:
        return member.lead_schedule
    except MemberSchedule.DoesNotExist:
        return None


def candidates(
    *,
    team: Team,
    rule: AssignmentRule | None,
    region: str,
    now: datetime,
    exclude_ids: Iterable[int] = (),
) -> list[Candidate]:
    """Every sales member of the team with their load and, if not eligible, why."""
    open_leads = (
        Lead.objects.filter(
            owner=OuterRef("pk"), status__in=OPEN_LEAD_STATUSES, deleted_at__isnull=True
        )
        .order_by()
        .values("owner")
        .annotate(n=Count("pk"))
        .values("n")
    )
    last_assignment = (
        LeadAssignment.objects.filter(member=OuterRef("pk"), kind__in=ASSIGNING_KINDS)
        .order_by("-id")
        .values("id")[:1]
    )
    # One query: members with their open leads, last assignment and schedule.
    members = list(
        Membership.objects.filter(team=team, is_active=True, role=Role.SALES)
        .select_related("lead_schedule")
        .annotate(
            open_n=Coalesce(Subquery(open_leads), 0),
            last_id=Coalesce(Subquery(last_assignment), 0),
        )
        .order_by("pk")
    )
    schedules = {m.pk: _schedule_of(m) for m in members}
    zone = _tenant_zone() if any(schedules.values()) else ZoneInfo("UTC")
    skills = {s.strip().casefold() for s in (rule.required_skills if rule else []) if s.strip()}
    excluded_ids = set(exclude_ids)
    result = []
    for member in members:
        candidate = Candidate(member, member.open_n, member.last_id)
        member_skills = {str(s).strip().casefold() for s in member.skills or []}
        if member.pk in excluded_ids:
            candidate.excluded = "excluded"
        elif member.capacity <= 0 or candidate.open_leads >= member.capacity:
            candidate.excluded = "at capacity"
        elif not skills <= member_skills:
            candidate.excluded = "missing skills"
        elif (
            rule is not None
            and rule.match_member_region
            and member.region
            and region
            and (not _same(member.region, region))
        ):
            candidate.excluded = "other region"
        else:
            candidate.excluded = available(schedules.get(member.pk), now, zone)
        result.append(candidate)
    return result


def choose(pool: Sequence[Candidate]) -> Candidate | None:
    """Lowest load; ties by least recently assigned (never assigned first), then member id."""
    eligible = [c for c in pool if not c.excluded]
    if not eligible:
        return None
    return min(eligible, key=lambda c: (c.load, c.last_assignment_id, c.member.pk))


# --- decisions ----------------------------------------------------------------------------------


@dataclass
class Decision:
    """Who would get a lead, and why (also the "who would get this lead?" preview)."""

    team: Team | None
    rule: AssignmentRule | None
    member: Membership | None
    reason: str
    pool: list[Candidate] = field(default_factory=list)

    def detail(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule.pk if self.rule else None,
            "candidates": [c.as_dict() for c in self.pool],
        }


def decide(
    *,
    rule: AssignmentRule | None,
    region: str,
    now: datetime,
    team: Team | None = None,
    exclude_ids: Iterable[int] = (),
) -> Decision:
    """The member of the rule's team (or `team`) who should get a lead now, or why nobody."""
    if team is None:
        if rule is None:
            return Decision(None, None, None, _("No assignment rule matches this lead."))
        team = rule.team
    pool = candidates(team=team, rule=rule, region=region, now=now, exclude_ids=exclude_ids)
    chosen = choose(pool)
    if chosen is None:
        return Decision(
            team,
            rule,
            None,
            _("No member of %(team)s can take it now.") % {"team": team.name},
            pool,
        )
    ties = [
        c
        for c in pool
        if not c.excluded and c.load == chosen.load and c.member.pk != chosen.member.pk
    ]
    reason = _("Lowest load in %(team)s: %(open)d of %(capacity)d open leads") % {
        "team": team.name,
        "open": chosen.open_leads,
        "capacity": chosen.member.capacity,
    }
    if ties:
        reason += _(", tie broken by least recently assigned")
    if rule is not None:
        reason += _(" (rule: %(rule)s)") % {"rule": rule.name}
    return Decision(team, rule, chosen.member, reason, pool)


def assignment_preview(
    *,
    actor: Membership,
    priority: str,
    region: str = "",
    source: str = "",
    product_line: str = "",
    now: datetime | None = None,
) -> Decision:
    """Who would get a lead like this now — nothing is locked or written."""
    require_write(actor)
    rule = rule_for(priority=priority, region=region, source=source, product_line=product_line)
    return decide(rule=rule, region=region, now=now or timezone.now())


# --- writes -------------------------------------------------------------------------------------


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


# --- reads --------------------------------------------------------------------------------------


def assignment_log(*, lead: Lead) -> list[LeadAssignment]:
    return list(
        LeadAssignment.objects.filter(lead=lead)
        .select_related("member", "team", "by")
        .order_by("id")
    )


@dataclass(frozen=True)
class FairnessRow:
    member_id: int
    member: str
    capacity: int
    assigned: int
    open_leads: int
    expected: float  # assignments this member would get in proportion to capacity
    ratio: float  # assigned ÷ expected (1.0 = exactly fair)


@dataclass(frozen=True)
class FairnessReport:
    team_id: int
    since: datetime
    until: datetime
    assigned: int
    queued: int
    rows: list[FairnessRow]
    spread_by_capacity: dict[int, int]  # capacity -> max - min assigned among those members


def fairness_report(
    *, actor: Membership, team_id: int, since: datetime, until: datetime
) -> FairnessReport:
    """Leads assigned per member of a team in [since, until) against capacity."""
    if actor.visibility == Visibility.OWN or (
        actor.visibility == Visibility.TEAM and actor.team_id != team_id
    ):
        raise PermissionDeniedError(_("You cannot see this team's report."))
    team = Team.objects.filter(pk=team_id).first()
    if team is None:
        raise field_error("team_id", _("No such team."))
    members = list(Membership.objects.filter(team=team, role=Role.SALES).order_by("pk"))
    in_period = LeadAssignment.objects.filter(team=team, at__gte=since, at__lt=until)
    counts = dict(
        in_period.filter(kind__in=ASSIGNING_KINDS)
        .values("member_id")
        .annotate(n=Count("id"))
        .values_list("member_id", "n")
    )
    queued = in_period.filter(kind=AssignmentKind.QUEUED).values("lead_id").distinct().count()
    ids = [m.pk for m in members]
    open_now = dict(
        Lead.objects.filter(
            owner_id__in=ids, status__in=OPEN_LEAD_STATUSES, deleted_at__isnull=True
        )
        .values("owner_id")
        .annotate(n=Count("id"))
        .values_list("owner_id", "n")
    )
    total = sum(counts.get(m.pk, 0) for m in members)
    capacity = sum(max(m.capacity, 0) for m in members) or 1
    rows = []
    for m in members:
        expected = total * max(m.capacity, 0) / capacity
        assigned = counts.get(m.pk, 0)
        rows.append(
            FairnessRow(
                member_id=m.pk,
                member=str(m),
                capacity=m.capacity,
                assigned=assigned,
                open_leads=open_now.get(m.pk, 0),
                expected=round(expected, 2),
                ratio=round(assigned / expected, 3) if expected else 0.0,
            )
        )
    spread: dict[int, int] = {}
    for cap in {r.capacity for r in rows}:
        group = [r.assigned for r in rows if r.capacity == cap]
        spread[cap] = max(group) - min(group)
    return FairnessReport(team.pk, since, until, total, queued, rows, spread)


# --- admin: rules and schedules -----------------------------------------------------------------

RULE_FIELDS = (
    "name",
    "position",
    "priority",
    "region",
    "source",
    "product_line",
    "required_skills",
    "match_member_region",
    "is_active",
)
SCHEDULE_FIELDS = (
    "accepts_leads",
    "time_zone",
    "work_days",
    "work_start",
    "work_end",
    "away_from",
    "away_until",
)


@transaction.atomic
def assignment_rule_create(
    *, actor: Membership, team_id: int, values: dict[str, Any]
) -> AssignmentRule:
    from crm.events.crud import assign, resolve, save_new

    require_admin(actor)
    team = resolve(Team, team_id, "team_id")
    rule = AssignmentRule(team=team)
    assign(rule, values, RULE_FIELDS)
    if not isinstance(rule.required_skills, list):
        raise field_error("required_skills", _("Give a list of skills."))
    return save_new(actor, rule)


@transaction.atomic
def member_schedule_set(
    *, actor: Membership, member_id: int, values: dict[str, Any]
) -> MemberSchedule:
    """A member's working hours and time away; the member or an admin may set them."""
    from crm.core.writes import snapshot
    from crm.events.crud import assign, resolve, save_changes, save_new

    member = resolve(Membership, member_id, "member_id")
    assert member is not None
    if member.pk != actor.pk:
        require_admin(actor)
    if values.get("time_zone"):
        try:
            ZoneInfo(str(values["time_zone"]))
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise field_error("time_zone", _("Unknown time zone.")) from exc
    schedule = MemberSchedule.objects.filter(member=member).first()
    if schedule is None:
        schedule = MemberSchedule(member=member)
        assign(schedule, values, SCHEDULE_FIELDS)
        return save_new(actor, schedule)
    before = snapshot(schedule, SCHEDULE_FIELDS)
    assign(schedule, values, SCHEDULE_FIELDS)
    save_changes(actor, schedule, before)
    return schedule
