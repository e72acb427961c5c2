"""Who should get a lead: the assignment rule, each member's eligibility and load, the decision.

Reads only — nothing here locks or writes; crm.sales.assignment acts on the decision (see its
module doc for the rules of the choice). Re-exported by crm.sales.assignment.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.core.context import current_tenant_id
from crm.sales.lead_models import (
    OPEN_LEAD_STATUSES,
    AssignmentKind,
    AssignmentRule,
    LeadAssignment,
    MemberSchedule,
)
from crm.sales.models import Lead
from crm.tenancy.models import Membership, Role, Team, Tenant
from crm.tenancy.permissions import require_write

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
