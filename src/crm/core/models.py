"""The base class of every tenant-owned table.

Its default manager filters on the current tenant and raises when none is set, so a query that
forgot its tenant fails instead of leaking another company's rows. Crossing tenants takes the
loudly named `all_tenants` manager, used only in operator code (commands, migrations, checks).
"""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

from django.db import models

from crm.core.context import current_tenant_id

M = TypeVar("M", bound=models.Model)


class TenantQuerySet(models.QuerySet[M]):
    pass


class TenantManager(models.Manager[M]):
    """Filters every query on the tenant in context; raises TenantNotSetError without one."""

    def get_queryset(self) -> models.QuerySet[M]:
        return super().get_queryset().filter(tenant_id=current_tenant_id())


class TenantModel(models.Model):
    tenant = models.ForeignKey(
        "tenancy.Tenant", on_delete=models.CASCADE, related_name="+", editable=False
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects: ClassVar[TenantManager[Any]] = TenantManager()
    all_tenants: ClassVar[models.Manager[Any]] = models.Manager()

    class Meta:
        abstract = True
        base_manager_name = "all_tenants"
        default_manager_name = "objects"

    def save(self, *args: Any, **kwargs: Any) -> None:
        # A row always belongs to the tenant in context; writing into another tenant is refused.
        tenant_id = current_tenant_id()
        if self.tenant_id is None:
            self.tenant_id = tenant_id
        elif self.tenant_id != tenant_id:
            raise PermissionError("Refusing to write a row of another tenant.")
        super().save(*args, **kwargs)


class GlobalModel(models.Model):
    """Marker for tables that are not tenant-owned; each subclass says why in `global_reason`."""

    global_reason: ClassVar[str] = ""

    class Meta:
        abstract = True
