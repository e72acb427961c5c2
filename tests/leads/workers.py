"""Code run in separate OS processes ("spawn") against a real database file or server.

Every function takes `env` (CRM_DATA_DIR and maybe CRM_DATABASE_URL) and sets Django up in the
child itself: nothing of the parent's test database or settings is shared. Used by the
concurrency tests and by benchmarks/bench_leads.py.
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta
from typing import Any

ASSIGN_TEAMS = {
    # team name -> capacities of its sales members
    "wide": [270] * 6 + [135] * 2,
    "narrow": [30] * 4,
}
NARROW_SOURCE = "burst"


def configure(env: dict[str, str]) -> None:
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "crm.settings"
    import django

    django.setup()


def setup_assignment(
    env: dict[str, str], teams: dict[str, list[int]] | None = None
) -> dict[str, Any]:
    """A tenant whose leads from NARROW_SOURCE go to team "narrow", all others to "wide"."""
    configure(env)
    from crm.core.context import tenant_context
    from crm.operations.setup import tenant_setup
    from crm.sales.assignment_admin import assignment_rule_create
    from crm.tenancy.models import Role
    from crm.tenancy.services import membership_create, team_create, user_create

    tenant = tenant_setup(name="Concurrency 并发", slug=f"conc-{os.getpid()}")
    with tenant_context(tenant.pk):
        admin = membership_create(
            actor=None, user=user_create(username=f"admin-{tenant.pk}"), role=Role.ADMIN
        )
        members: dict[str, list[int]] = {}
        for position, (name, capacities) in enumerate((teams or ASSIGN_TEAMS).items()):
            team = team_create(actor=None, name=name)
            members[name] = [
                membership_create(
                    actor=None,
                    user=user_create(username=f"{name}-{i}-{tenant.pk}", email=f"{name}{i}@x.test"),
                    role=Role.SALES,
                    team=team,
                    capacity=capacity,
                    display_name=f"{name}-{i}",
                ).pk
                for i, capacity in enumerate(capacities)
            ]
            membership_create(
                actor=None,
                user=user_create(username=f"mgr-{name}-{tenant.pk}", email=f"mgr-{name}@x.test"),
                role=Role.MANAGER,
                team=team,
            )
            values: dict[str, Any] = {"name": name, "position": 10 - position}
            if name == "narrow":
                values["source"] = NARROW_SOURCE
            assignment_rule_create(actor=admin, team_id=team.pk, values=values)
    return {"tenant_id": tenant.pk, "members": members}


def capture_worker(
    env: dict[str, str],
    tenant_id: int,
    worker: int,
    count: int,
    narrow_every: int,
    barrier: Any,
    results: Any,
) -> None:
    """Capture `count` distinct leads (every `narrow_every`-th for the narrow team); report
    (lead id, owner id, seconds from capture call to assigned) per lead."""
    configure(env)
    from django.db import OperationalError

    from crm.core.context import tenant_context
    from crm.sales.capture import lead_capture

    out: list[tuple[int, int | None, float]] = []
    errors: list[str] = []
    barrier.wait()
    first = time.perf_counter()
    with tenant_context(tenant_id):
        for i in range(count):
            source = NARROW_SOURCE if narrow_every and i % narrow_every == 0 else "web"
            values = {
                "name": f"lead {worker}-{i}",
                "email": f"w{worker}.{i}@leads.test",
                "source": source,
            }
            started = time.perf_counter()
            for attempt in range(5):
                try:
                    result = lead_capture(actor=None, values=values, channel="api")
                    break
                except OperationalError as exc:  # pragma: no cover - reported, not hidden
                    errors.append(f"{type(exc).__name__}: {exc}")
                    time.sleep(0.05 * (attempt + 1))
            else:  # pragma: no cover
                continue
            elapsed = time.perf_counter() - started
            assert result.lead is not None
            out.append((result.lead.pk, result.lead.owner_id, elapsed))
    results.put(
        {
            "worker": worker,
            "leads": out,
            "errors": errors,
            "started": first,
            "ended": time.perf_counter(),
        }
    )


def verify_assignment(env: dict[str, str], tenant_id: int) -> dict[str, Any]:
    configure(env)
    from django.db.models import Count

    from crm.core.context import tenant_context
    from crm.sales.lead_models import LeadAssignment
    from crm.sales.models import Lead
    from crm.tenancy.audit import audit_verify_chain
    from crm.tenancy.models import Membership

    with tenant_context(tenant_id):
        members = {
            m.pk: {"capacity": m.capacity, "team": m.team.name if m.team else "", "open": 0}
            for m in Membership.objects.filter(role="sales").select_related("team")
        }
        for owner_id, n in (
            Lead.objects.filter(owner__isnull=False)
            .values("owner_id")
            .annotate(n=Count("id"))
            .values_list("owner_id", "n")
        ):
            members[owner_id]["open"] = n
        auto = list(LeadAssignment.objects.filter(kind="auto").values_list("lead_id", "member_id"))
        per_lead: dict[int, int] = {}
        for lead_id, _member in auto:
            per_lead[lead_id] = per_lead.get(lead_id, 0) + 1
        owners = dict(Lead.objects.values_list("pk", "owner_id"))
        mismatched = sum(1 for lead_id, member in auto if owners.get(lead_id) != member)
        queued = dict(
            Lead.objects.filter(owner__isnull=True)
            .values("team__name")
            .annotate(n=Count("id"))
            .values_list("team__name", "n")
        )
        chain = audit_verify_chain(tenant_id)
        return {
            "leads": len(owners),
            "owned": sum(1 for o in owners.values() if o is not None),
            "members": members,
            "leads_with_several_assignments": sum(1 for n in per_lead.values() if n > 1),
            "assignments_not_matching_owner": mismatched,
            "queued": queued,
            "audit_chain_ok": chain.ok,
            "audit_links": chain.links,
        }


# --- reminders ----------------------------------------------------------------------------------


def setup_reminders(env: dict[str, str], leads: int, tasks: int) -> dict[str, Any]:
    """A team of three reps with `leads` captured leads and `tasks` open tasks."""
    setup = setup_assignment(env, {"sales": [1000, 1000, 1000]})
    from crm.activities.services import task_create
    from crm.core.context import tenant_context
    from crm.sales.capture import lead_capture
    from crm.tenancy.models import Membership

    with tenant_context(setup["tenant_id"]):
        for i in range(leads):
            lead_capture(actor=None, values={"name": f"r{i}", "source": "web"}, channel="api")
        reps = list(Membership.objects.filter(role="sales").order_by("pk"))
        for i in range(tasks):
            task_create(
                actor=reps[i % len(reps)],
                values={"title": f"task {i}", "due_at": datetime.now().astimezone()},
            )
    return setup


def followup_worker(
    env: dict[str, str], tenant_id: int, at_iso: str, barrier: Any, results: Any
) -> None:
    configure(env)
    from crm.core.context import tenant_context
    from crm.sales.followup import followup_run

    at = datetime.fromisoformat(at_iso)
    barrier.wait()
    with tenant_context(tenant_id):
        report = followup_run(now=at)
    results.put(vars(report))


def deliver_outbox(env: dict[str, str]) -> dict[str, int]:
    configure(env)
    from crm.events.delivery import deliver_due

    report = deliver_due(now=datetime.now().astimezone() + timedelta(minutes=1))
    return vars(report)


def outbox_count(env: dict[str, str]) -> int:
    configure(env)
    from crm.events.models import OutboxEmail

    return OutboxEmail.objects.count()


# --- benchmarks ---------------------------------------------------------------------------------


def create_unassigned(env: dict[str, str], tenant_id: int, count: int) -> list[int]:
    """`count` unowned leads for the wide team, inserted in bulk (no assignment yet)."""
    configure(env)
    from crm.core.context import tenant_context
    from crm.sales.lead_models import LeadIntake
    from crm.sales.models import Lead

    with tenant_context(tenant_id):
        leads = Lead.objects.bulk_create(
            Lead(tenant_id=tenant_id, name=f"bulk {i}", source="web", priority="medium")
            for i in range(count)
        )
        LeadIntake.objects.bulk_create(LeadIntake(tenant_id=tenant_id, lead=x) for x in leads)
        return [x.pk for x in leads]


def assign_worker(
    env: dict[str, str], tenant_id: int, lead_ids: list[int], barrier: Any, results: Any
) -> None:
    """Assign existing leads one by one (lead_assign: rule, lock, load, conditional update)."""
    configure(env)
    from crm.core.context import tenant_context
    from crm.sales.assignment import lead_assign
    from crm.sales.models import Lead

    latencies: list[float] = []
    with tenant_context(tenant_id):
        leads = list(Lead.objects.filter(pk__in=lead_ids).order_by("pk"))
        barrier.wait()
        started = time.perf_counter()
        for lead in leads:
            t = time.perf_counter()
            lead_assign(lead=lead, product_line="")
            latencies.append(time.perf_counter() - t)
        ended = time.perf_counter()
    results.put({"started": started, "ended": ended, "latencies": latencies})
