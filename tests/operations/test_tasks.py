"""Jobs carry their tenant; system jobs run without one; the outbox jobs are scheduled and wired."""

from __future__ import annotations

from datetime import datetime

import pytest
from huey.exceptions import TaskException

from crm.core.context import TenantNotSetError, current_tenant_id, tenant_context
from crm.core.tasks import system_periodic_task, tenant_task
from crm.customers.models import Contact
from crm.customers.services import contact_create
from crm.events.models import OutboxEvent
from crm.events.tasks import every_n_minutes, outbox_dispatch_events
from tests.conftest import TenantWorld


@tenant_task()
def contact_names(tenant_id: int) -> dict[str, object]:
    return {
        "tenant": current_tenant_id(),
        "names": list(Contact.objects.values_list("name", flat=True)),
    }


@system_periodic_task(every_n_minutes(59))
def count_contacts_without_tenant() -> int:
    return Contact.objects.count()


def test_a_tenant_task_runs_as_the_tenant_it_was_given(
    world: TenantWorld, other_world: TenantWorld
) -> None:
    contact_create(actor=world.sales, values={"name": "甲方"})
    with tenant_context(other_world.tenant.pk):
        contact_create(actor=other_world.sales, values={"name": "乙方"})

    # Enqueued from tenant A's request, for tenant B: it sees B's rows only.
    result = contact_names(other_world.tenant.pk)()

    assert result == {"tenant": other_world.tenant.pk, "names": ["乙方"]}
    assert current_tenant_id() == world.tenant.pk  # the caller's tenant is untouched


def test_a_system_job_sees_no_tenant_and_fails_closed(world: TenantWorld) -> None:
    # Even when started from code that has a tenant set, the job runs with none.
    with pytest.raises(TenantNotSetError):
        count_contacts_without_tenant.call_local()
    with pytest.raises(TaskException, match="tenant id"):
        contact_names("acme").get()  # type: ignore[arg-type]


def test_the_outbox_jobs_run_every_n_minutes() -> None:
    every_minute, every_five = every_n_minutes(1), every_n_minutes(5)
    assert every_minute(datetime(2026, 1, 1, 10, 7))
    assert every_five(datetime(2026, 1, 1, 10, 5)) and not every_five(datetime(2026, 1, 1, 10, 7))
    with pytest.raises(ValueError):
        every_n_minutes(60)


def test_the_dispatch_job_dispatches_the_outbox(world: TenantWorld) -> None:
    contact_create(actor=world.sales, values={"name": "丙方"})
    assert OutboxEvent.objects.filter(dispatched_at__isnull=True).exists()

    outbox_dispatch_events()  # what the consumer runs every minute

    assert not OutboxEvent.all_tenants.filter(dispatched_at__isnull=True).exists()
