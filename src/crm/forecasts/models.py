"""Models of crm.forecasts: sales quotas per member and period."""

from __future__ import annotations

from decimal import Decimal

from django.core.validators import MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from crm.core.models import TenantModel
from crm.tenancy.models import Membership


class Quota(TenantModel):
    """What a member is expected to win in a period (both dates inclusive).

    One quota per member and period; a member's periods do not overlap (checked by the
    service), so prorating them over any forecast period never counts a day twice.
    """

    member = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="+")
    period_start = models.DateField(verbose_name=_("Period start"))
    period_end = models.DateField(verbose_name=_("Period end"))
    amount = models.DecimalField(
        max_digits=14,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0"))],
        verbose_name=_("Amount"),
    )
    currency = models.CharField(max_length=3, default="CNY")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "member", "period_start", "period_end"],
                name="quota_unique_member_period",
            ),
            models.CheckConstraint(
                condition=models.Q(period_end__gte=models.F("period_start")),
                name="quota_period_ordered",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "period_start", "period_end"], name="quota_period_idx")
        ]

    def __str__(self) -> str:
        return f"{self.member_id} {self.period_start}..{self.period_end}"
