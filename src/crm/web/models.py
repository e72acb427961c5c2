"""What the pages remember per member: time zone, chosen list columns and saved list views."""

from __future__ import annotations

from django.db import models

from crm.core.models import TenantModel
from crm.tenancy.models import Membership


class UserPreference(TenantModel):
    """A member's own settings for the pages; the tenant's time zone applies when blank."""

    membership = models.OneToOneField(Membership, on_delete=models.CASCADE, related_name="+")
    time_zone = models.CharField(max_length=64, blank=True)


class ListColumns(TenantModel):
    """The columns a member chose for one list (accounts, leads, ...), in display order."""

    membership = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="+")
    list_name = models.CharField(max_length=30)
    columns = models.JSONField(default=list)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "membership", "list_name"], name="listcolumns_unique"
            ),
        ]


class SavedView(TenantModel):
    """A named search + filters + sort of a list, kept by a member."""

    membership = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="+")
    list_name = models.CharField(max_length=30)
    name = models.CharField(max_length=80)
    query = models.CharField(max_length=1000, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "membership", "list_name", "name"], name="savedview_unique"
            ),
        ]
        indexes = [models.Index(fields=["tenant", "membership", "list_name"])]

    def __str__(self) -> str:
        return self.name
