"""The current tenant, carried in a ContextVar set by middleware, API auth and the job wrapper."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_current_tenant_id: ContextVar[int | None] = ContextVar("crm_current_tenant_id", default=None)


class TenantNotSetError(RuntimeError):
    """Raised when tenant-owned data is touched with no tenant in context (fail closed)."""


def current_tenant_id() -> int:
    tenant_id = _current_tenant_id.get()
    if tenant_id is None:
        raise TenantNotSetError("No tenant is set for this request, job or command.")
    return tenant_id


def current_tenant_id_or_none() -> int | None:
    return _current_tenant_id.get()


@contextmanager
def tenant_context(tenant_id: int | None) -> Iterator[None]:
    """Run a block with `tenant_id` as the current tenant; the previous one is restored after."""
    token = _current_tenant_id.set(tenant_id)
    try:
        yield
    finally:
        _current_tenant_id.reset(token)


def set_current_tenant(tenant_id: int | None) -> object:
    """Set the tenant for the rest of this context; returns a token for `reset_current_tenant`."""
    return _current_tenant_id.set(tenant_id)


def reset_current_tenant(token: object) -> None:
    _current_tenant_id.reset(token)  # type: ignore[arg-type]
