"""The assignment engine: lowest load, round robin on ties, capacity, rules, schedules, queue."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from crm.core.errors import ConflictError, PermissionDeniedError
from crm.events.models import Notification
from crm.sales.assignment import lead_reassign, queue_drain
from crm.sales.assignment_admin import (
    assignment_rule_create,
    fairness_report,
    member_schedule_set,
)
from crm.sales.assignment_routing import assignment_preview, available
from crm.sales.capture import lead_capture
from crm.sales.lead_models import AssignmentRule, LeadAssignment, LeadIntake, MemberSchedule
from crm.sales.models import Lead
from crm.sales.services import lead_create
from tests.api.conftest import Api, make_token
from tests.leads.conftest import add_rep

pytestmark = pytest.mark.urls("tests.leads.urls")


def capture(name: str, **values: str):
    product_line = values.pop("product_line", "")
    return lead_capture(
        actor=None, values={"name": name, **values}, channel="api", product_line=product_line
    )


def give_open_leads(member, n: int) -> None:
    for i in range(n):
        lead_create(actor=member, values={"name": f"existing {member.pk}-{i}"})


def test_lowest_load_wins_measured_against_capacity(flow) -> None:
    sales, wang, li = flow.reps
    wang.capacity = 10
    wang.save()
    give_open_leads(sales, 2)  # 2/50 = 0.04
    give_open_leads(wang, 1)  # 1/10 = 0.10
    give_open_leads(li, 3)  # 3/50 = 0.06
    assert capture("a").lead.owner == sales
    log = LeadAssignment.objects.get(kind="auto")
    assert "2 of 50" in log.reason
    assert {c["member_id"]: c["open_leads"] for c in log.detail["candidates"]} == {
        sales.pk: 2,
        wang.pk: 1,
        li.pk: 3,
    }


def test_ties_go_to_the_least_recently_assigned(flow) -> None:
    owners = [capture(f"lead {i}").lead.owner for i in range(6)]
    assert owners[:3] == flow.reps  # nobody assigned yet: by membership age
    assert owners[3:] == flow.reps  # then round robin
    assert "tie broken" in LeadAssignment.objects.order_by("id").first().reason


def test_full_members_are_skipped_and_no_one_left_means_the_queue(flow) -> None:
    for rep in flow.reps:
        rep.capacity = 1
        rep.save()
    owners = {capture(f"l{i}").lead.owner for i in range(3)}
    assert owners == set(flow.reps)
    waiting = capture("l-waiting")
    lead = waiting.lead
    assert lead.owner is None and lead.team == flow.team and waiting.as_dict()["queued"] is True
    assert LeadIntake.objects.get(lead=lead).queued_at is not None
    notes = Notification.objects.filter(kind="lead_queued")
    assert [n.recipient for n in notes] == [flow.manager]
    assert "l-waiting" in notes[0].message
    # Retrying while still full changes nothing and does not notify again.
    assert queue_drain() == 0
    assert Notification.objects.filter(kind="lead_queued").count() == 1
    # A member frees a slot: the waiting lead gets an owner.
    done = Lead.objects.filter(owner=flow.reps[1]).get()
    done.status = "unqualified"
    done.save()
    assert queue_drain() == 1
    lead.refresh_from_db()
    assert lead.owner == flow.reps[1]
    assert LeadIntake.objects.get(lead=lead).queued_at is None


def test_no_matching_rule_queues_for_the_admins(world) -> None:
    result = capture("nobody's")
    assert result.lead.owner is None and result.lead.team is None
    assert [n.recipient for n in Notification.objects.filter(kind="lead_queued")] == [world.admin]


def test_rules_route_by_product_line_and_skills(flow, empty_team) -> None:
    world = flow.world
    erp_team = empty_team
    plain = add_rep(erp_team, "plain")
    expert = add_rep(erp_team, "expert", skills=("ERP", "zh"))
    assignment_rule_create(
        actor=world.admin,
        team_id=erp_team.pk,
        values={
            "name": "ERP",
            "position": 0,
            "product_line": "erp",
            "required_skills": ["erp"],
        },
    )
    AssignmentRule.objects.filter(name="all").update(position=10)
    lead = capture("ERP 客户", product_line="ERP").lead
    assert lead.owner == expert and lead.team == erp_team
    assert capture("other").lead.team == flow.team
    assert plain not in {lead.owner}


def test_high_priority_from_the_east_goes_to_its_team(flow, empty_team) -> None:
    world = flow.world
    east = add_rep(empty_team, "east", region="华东")
    add_rep(empty_team, "west", region="西南")
    assignment_rule_create(
        actor=world.admin,
        team_id=empty_team.pk,
        values={
            "name": "hot east",
            "position": 0,
            "priority": "high",
            "region": "华东",
            "match_member_region": True,
        },
    )
    AssignmentRule.objects.filter(name="all").update(position=10)
    hot = capture(
        "hot",
        source="referral",
        email="h@x.com",
        phone="13800138000",
        company="c",
        title="t",
        region="华东",
    ).lead
    assert hot.priority == "high" and hot.owner == east
    cold = capture("cold", source="cold", region="华东").lead
    assert cold.priority == "low" and cold.team == flow.team


def test_out_of_office_and_working_hours(flow) -> None:
    sales, wang, li = flow.reps
    now = timezone.now()
    member_schedule_set(
        actor=sales,
        member_id=sales.pk,
        values={"away_from": now - timedelta(hours=1), "away_until": now + timedelta(days=2)},
    )
    utc_now = now.astimezone(UTC)
    member_schedule_set(
        actor=flow.world.admin,
        member_id=wang.pk,
        values={
            "time_zone": "UTC",
            "work_days": [0, 1, 2, 3, 4, 5, 6],
            "work_start": (utc_now + timedelta(hours=2)).time(),
            "work_end": (utc_now + timedelta(hours=3)).time(),
        },
    )
    preview = assignment_preview(actor=flow.manager, priority="medium")
    why = {c.member.pk: c.excluded for c in preview.pool}
    assert why[sales.pk] == "out of office"
    assert why[wang.pk] == "outside working hours"
    assert why[li.pk] == ""
    assert preview.member == li
    with pytest.raises(PermissionDeniedError):
        member_schedule_set(actor=sales, member_id=li.pk, values={"accepts_leads": False})


def test_available_rules_in_local_time() -> None:
    shanghai = ZoneInfo("Asia/Shanghai")
    schedule = MemberSchedule(work_days=[0, 1, 2, 3, 4], work_start=time(9), work_end=time(18))
    monday_10 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
    assert available(schedule, monday_10, shanghai) == ""
    assert available(schedule, monday_10 + timedelta(hours=9), shanghai) == "outside working hours"
    assert available(schedule, monday_10 + timedelta(days=5), shanghai) == "not a working day"
    night = MemberSchedule(work_days=[], work_start=time(22), work_end=time(6))
    assert available(night, datetime(2026, 11, 23, 15, 0, tzinfo=UTC), shanghai) == ""  # 23:00
    assert available(night, monday_10, shanghai) == "outside working hours"
    away = MemberSchedule(away_from=monday_10, away_until=None)
    assert available(away, monday_10, shanghai) == "out of office"
    assert available(MemberSchedule(accepts_leads=False), monday_10, shanghai) == "not taking leads"


def test_manual_reassignment_is_logged_and_checked(flow) -> None:
    sales, wang, li = flow.reps
    lead = capture("x").lead
    assert lead.owner == sales
    entry = lead_reassign(actor=flow.manager, lead=lead, member_id=li.pk, note="speaks 粤语")
    lead.refresh_from_db()
    assert lead.owner == li and entry.kind == "manual" and entry.previous_owner == sales
    assert entry.by == flow.manager and entry.reason.endswith("speaks 粤语")
    assert Notification.objects.filter(recipient=li, kind="lead_assigned").count() == 1
    assert Notification.objects.filter(recipient=sales, kind="lead_reassigned").count() == 1
    with pytest.raises(PermissionDeniedError):
        lead_reassign(actor=li, lead=lead, member_id=sales.pk)
    with pytest.raises(PermissionDeniedError):  # the manager's visibility is their team
        lead_reassign(actor=flow.manager, lead=lead, member_id=flow.world.sales2.pk)
    wang.capacity = 0
    wang.save()
    with pytest.raises(ConflictError):
        lead_reassign(actor=flow.manager, lead=lead, member_id=wang.pk)
    lead_reassign(actor=flow.manager, lead=lead, member_id=wang.pk, allow_over_capacity=True)
    lead.refresh_from_db()
    assert lead.owner == wang
    assert list(LeadAssignment.objects.filter(lead=lead).values_list("kind", flat=True)) == [
        "auto",
        "manual",
        "manual",
    ]


def test_fairness_report(flow) -> None:
    start = timezone.now() - timedelta(minutes=1)
    flow.reps[2].capacity = 100
    flow.reps[2].save()
    for i in range(8):
        capture(f"f{i}")
    report = fairness_report(
        actor=flow.manager,
        team_id=flow.team.pk,
        since=start,
        until=timezone.now() + timedelta(minutes=1),
    )
    by_member = {row.member_id: row for row in report.rows}
    assert report.assigned == 8 and report.queued == 0
    assert [by_member[r.pk].assigned for r in flow.reps] == [2, 2, 4]
    assert report.spread_by_capacity == {50: 0, 100: 0}
    assert by_member[flow.reps[2].pk].expected == 4.0 and by_member[flow.reps[2].pk].ratio == 1.0
    with pytest.raises(PermissionDeniedError):
        fairness_report(actor=flow.reps[0], team_id=flow.team.pk, since=start, until=timezone.now())


def test_assignment_api(flow) -> None:
    manager = Api(make_token(flow.manager))
    preview = manager.get("/lead-flow/preview", priority="high")
    assert preview.status_code == 200 and preview.json()["member_id"] == flow.reps[0].pk
    assert {c["member_id"] for c in preview.json()["candidates"]} == {r.pk for r in flow.reps}
    lead = capture("api").lead
    moved = manager.post(f"/lead-flow/leads/{lead.pk}/reassign", {"member_id": flow.reps[1].pk})
    assert moved.status_code == 200 and moved.json()["kind"] == "manual"
    log = manager.get(f"/lead-flow/leads/{lead.pk}/assignments")
    assert [e["kind"] for e in log.json()] == ["auto", "manual"]
    fair = manager.get(f"/lead-flow/teams/{flow.team.pk}/fairness")
    assert fair.status_code == 200 and fair.json()["assigned"] == 2
    rep = Api(make_token(flow.reps[2]))
    assert (
        rep.post(f"/lead-flow/leads/{lead.pk}/reassign", {"member_id": flow.reps[2].pk}).status_code
        == 404
    )  # not visible to them
    assert rep.get(f"/lead-flow/teams/{flow.team.pk}/fairness").status_code == 403


def test_leads_created_elsewhere_are_scored_and_assigned_by_the_event(flow) -> None:
    from crm.events.dispatch import dispatch_pending

    unowned = lead_create(actor=None, values={"name": "from the API", "source": "referral"})
    own = lead_create(actor=flow.reps[2], values={"name": "mine"})
    captured = capture("captured").lead
    assert unowned.owner is None and unowned.score == 0
    dispatch_pending()
    unowned.refresh_from_db()
    own.refresh_from_db()
    assert unowned.owner in flow.reps and unowned.score > 0 and len(unowned.score_reasons) == 3
    assert own.owner == flow.reps[2] and own.score > 0  # scored, owner kept
    assert LeadAssignment.objects.filter(lead=captured).count() == 1  # not assigned twice
    assert LeadAssignment.objects.filter(lead=own).count() == 0
