"""Assignment reads and settings: a lead's assignment log, the fairness report per team, and the
admin's assignment rules and member schedules. Re-exported by crm.sales.assignment.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db import transaction
from django.db.models import Count
from django.utils.translation import gettext as _

from crm.core.errors import PermissionDeniedError
from crm.core.writes import field_error
from crm.sales.assignment_routing import ASSIGNING_KINDS
from crm.sales.lead_models import (
    OPEN_LEAD_STATUSES,
    AssignmentKind,
    AssignmentRule,
    LeadAssignment,
    MemberSchedule,
)
from crm.sales.models import Lead
from crm.tenancy.models import Membership, Role, Team, Visibility
from crm.tenancy.permissions import require_admin

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
