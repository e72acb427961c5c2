"""Huey task decorators that carry the tenant.

A tenant task takes the tenant id as its first argument and runs with that tenant in context,
so the tenant-scoped managers work inside it exactly as in a request. A system job (a periodic
job that spans tenants, such as the outbox) runs with no tenant set, so a query that forgot to
name its tenant fails instead of reading everyone's rows.

Arguments are ids, never model instances; bodies are thin and call services.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from huey.contrib.djhuey import db_periodic_task, db_task

from crm.core.context import tenant_context


def tenant_task(*task_args: Any, **task_kwargs: Any) -> Callable[[Callable[..., Any]], Any]:
    """Like huey's `db_task`; the task's first argument is the tenant id it runs for.

    Usage::

        @tenant_task(retries=3, retry_delay=60)
        def lead_score(tenant_id: int, lead_id: int) -> None:
            services.lead_score(lead_id=lead_id)

        lead_score(tenant.pk, lead.pk)   # enqueued; runs with tenant.pk in context
    """

    def decorator(fn: Callable[..., Any]) -> Any:
        @functools.wraps(fn)
        def run_for_tenant(tenant_id: int, *args: Any, **kwargs: Any) -> Any:
            if not isinstance(tenant_id, int) or isinstance(tenant_id, bool):
                raise TypeError(f"{fn.__qualname__}: the first argument must be a tenant id")
            with tenant_context(tenant_id):
                return fn(tenant_id, *args, **kwargs)

        return db_task(*task_args, **task_kwargs)(run_for_tenant)

    return decorator


def system_periodic_task(
    validate_datetime: Callable[..., bool], *task_args: Any, **task_kwargs: Any
) -> Callable[[Callable[..., Any]], Any]:
    """Like huey's `db_periodic_task`, run with no tenant in context (fails closed).

    `validate_datetime` is usually a `huey.crontab(...)`. The body must pick its tenants
    itself (operator code) and set each one with `tenant_context` before touching its rows.
    """

    def decorator(fn: Callable[..., Any]) -> Any:
        @functools.wraps(fn)
        def run_without_tenant(*args: Any, **kwargs: Any) -> Any:
            with tenant_context(None):
                return fn(*args, **kwargs)

        return db_periodic_task(validate_datetime, *task_args, **task_kwargs)(run_without_tenant)

    return decorator
