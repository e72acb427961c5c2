"""Work done in child processes by the cross-process tests; prints one JSON line.

    python -m tests.operations.workload <command> [args]

Run with CRM_DATA_DIR set to a migrated data directory (see datadir.py). The concurrent
commands load Django once, close every database connection, then fork the workers, as
gunicorn forks its web workers: each worker is its own OS process with its own SQLite
connection, and all of them are released at the same instant.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any

import django


def run_in_processes(count: int, work: Callable[[int], dict[str, Any]]) -> list[dict[str, Any]]:
    """Run `work(n)` for n in range(count), each in a forked process, all starting together."""
    from django.db import connections

    connections.close_all()
    gate_read, gate_write = os.pipe()
    children = []
    for n in range(count):
        out_read, out_write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the worker
            os.close(gate_write)
            os.close(out_read)
            status = 0
            try:
                os.read(gate_read, 1)  # returns once the parent closes the gate
                payload = json.dumps(work(n))
            except BaseException:
                payload, status = json.dumps({"crash": traceback.format_exc()}), 1
            with os.fdopen(out_write, "w") as out:
                out.write(payload)
            connections.close_all()
            os._exit(status)
        os.close(out_write)
        children.append((pid, out_read))
    os.close(gate_read)
    os.close(gate_write)  # every worker starts now
    results = []
    for pid, out_read in children:
        with os.fdopen(out_read) as out:
            results.append(json.loads(out.read()))
        os.waitpid(pid, 0)
    return results


# --- concurrent writers -------------------------------------------------------------------------


def setup_tenant(members: int) -> tuple[int, list[int]]:
    from crm.core.context import tenant_context
    from crm.operations.setup import tenant_setup
    from crm.tenancy.models import Role
    from crm.tenancy.services import membership_create, user_create

    tenant = tenant_setup(name="并发 Concurrency", slug="concurrency")
    ids = []
    with tenant_context(tenant.pk):
        for n in range(members):
            user = user_create(username=f"writer{n}", password="pw-Secret-123")
            ids.append(membership_create(actor=None, user=user, role=Role.SALES).pk)
    return tenant.pk, ids


def write(tenant_id: int, member_id: int, worker: int, calls: int) -> dict[str, Any]:
    """`calls` service writes: an opportunity, then contact creates, updates and stage moves."""
    from django.db import OperationalError

    from crm.core.context import tenant_context
    from crm.customers.models import Contact
    from crm.customers.services import contact_create, contact_update
    from crm.sales.models import Opportunity, Stage
    from crm.sales.services import opportunity_create, opportunity_move
    from crm.tenancy.models import Membership

    locked = 0
    other_errors: list[str] = []
    titles: dict[int, str] = {}
    moves = 0
    with tenant_context(tenant_id):
        actor = Membership.objects.select_related("user", "team").get(pk=member_id)
        open_stages = [s.pk for s in Stage.objects.all() if not s.is_closed]
        opportunity: Opportunity | None = None
        contact: Contact | None = None
        for i in range(calls):
            try:
                if i == 0:
                    opportunity = opportunity_create(
                        actor=actor, values={"name": f"Deal {worker}", "amount": "1000.00"}
                    )
                elif i % 3 == 1:
                    contact = contact_create(
                        actor=actor,
                        values={
                            "name": f"并发{worker}-{i}",
                            "email": f"w{worker}.c{i}@example.com",
                            "phone": f"138{worker:02d}{i:06d}",
                        },
                    )
                    titles[contact.pk] = ""
                elif i % 3 == 2:
                    assert contact is not None
                    contact_update(actor=actor, contact=contact, values={"title": f"T{i}"})
                    titles[contact.pk] = f"T{i}"
                else:
                    assert opportunity is not None
                    target = open_stages[(i // 3) % len(open_stages)]
                    if opportunity_move(actor=actor, opportunity=opportunity, stage_id=target):
                        moves += 1
            except OperationalError as exc:
                if "locked" in str(exc):
                    locked += 1
                else:
                    other_errors.append(repr(exc))
            except Exception as exc:
                other_errors.append(repr(exc))
    return {"locked": locked, "errors": other_errors, "titles": titles, "moves": moves}


def tenant_state(tenant_id: int) -> dict[str, Any]:
    from crm.core.context import tenant_context
    from crm.customers.models import Contact
    from crm.events.models import OutboxEvent
    from crm.sales.models import StageChange
    from crm.tenancy.audit import audit_verify_chain
    from crm.tenancy.models import AuditLog

    report = audit_verify_chain(tenant_id)
    with tenant_context(tenant_id):
        return {
            "titles": {str(pk): title for pk, title in Contact.objects.values_list("pk", "title")},
            "stage_changes": StageChange.objects.count(),
            "audit_links": AuditLog.objects.count(),
            "events": OutboxEvent.objects.count(),
            "chain_links": report.links,
            "chain_broken_at": report.first_broken_seq,
        }


def concurrent_writes(writers: str, calls: str) -> dict[str, Any]:
    tenant_id, members = setup_tenant(int(writers))
    before = tenant_state(tenant_id)
    results = run_in_processes(len(members), lambda n: write(tenant_id, members[n], n, int(calls)))
    return {"before": before, "writers": results, "after": tenant_state(tenant_id)}


# --- concurrent mail senders --------------------------------------------------------------------


def deliver_all() -> dict[str, Any]:
    """Deliver in small batches, as one worker among others would, until nothing is left."""
    from crm.events.delivery import deliver_due

    claimed = sent = 0
    while True:
        report = deliver_due(batch_size=2, max_batches=1)
        if not report.claimed:
            return {"claimed": claimed, "sent": sent}
        claimed += report.claimed
        sent += report.sent


def concurrent_delivery(mails: str, senders: str) -> dict[str, Any]:
    from django.core.mail import send_mail

    from crm.events.models import OutboxEmail

    for n in range(int(mails)):
        send_mail(f"Mail {n}", f"Body {n}", "crm@example.com", [f"to{n}@example.com"])
    results = run_in_processes(int(senders), lambda n: deliver_all())
    return {
        "senders": results,
        "rows": list(OutboxEmail.objects.values_list("message_id", "status", "attempts")),
    }


COMMANDS: dict[str, Callable[..., dict[str, Any]]] = {
    "concurrent-writes": concurrent_writes,
    "concurrent-delivery": concurrent_delivery,
}

if __name__ == "__main__":
    django.setup()
    print(json.dumps(COMMANDS[sys.argv[1]](*sys.argv[2:])))
