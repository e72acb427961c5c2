"""Scheduled delivery of a report by email, and the record of each period sent."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from crm.core.models import TenantModel
from crm.tenancy.models import Membership


class Frequency(models.TextChoices):
    WEEKLY = "weekly", _("Weekly")
    MONTHLY = "monthly", _("Monthly")


class FileFormat(models.TextChoices):
    CSV = "csv", "CSV"
    XLSX = "xlsx", "XLSX"


class ReportKindChoice(models.TextChoices):
    SALES_PERFORMANCE = "sales_performance", _("Sales performance by rep")
    PRODUCT_SALES = "product_sales", _("Product sales")
    ACTIVITY_COUNTS = "activity_counts", _("Activity counts")
    LEAD_SOURCES = "lead_sources", _("Lead-source ROI")


class ReportSchedule(TenantModel):
    """A report mailed every week (Monday, for the week before) or month (on the 1st, for the
    month before) to members of the tenant. The figures are those the owner may see."""

    owner = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=200)
    report_kind = models.CharField(max_length=30, choices=ReportKindChoice.choices)
    filters = models.JSONField(default=dict, blank=True)
    frequency = models.CharField(max_length=10, choices=Frequency.choices)
    file_format = models.CharField(max_length=5, choices=FileFormat.choices, default="xlsx")
    recipient_ids = models.JSONField(default=list, blank=True)
    next_run_at = models.DateTimeField()
    last_sent_at = models.DateTimeField(null=True, blank=True)
    active = models.BooleanField(default=True)

    class Meta:
        indexes = [
            models.Index(fields=["tenant", "active", "next_run_at"], name="report_sched_due_idx"),
            models.Index(fields=["tenant", "owner"], name="report_sched_owner_idx"),
        ]

    def __str__(self) -> str:
        return self.name


class ReportDelivery(TenantModel):
    """One period of a schedule, sent once: the unique (schedule, period_start) is the guard
    against sending the same period twice, even with two workers at the same moment."""

    schedule = models.ForeignKey(ReportSchedule, on_delete=models.CASCADE, related_name="+")
    period_start = models.DateField()
    period_end = models.DateField()
    file_path = models.CharField(max_length=300)
    file_name = models.CharField(max_length=200)
    file_format = models.CharField(max_length=5, choices=FileFormat.choices)
    recipient_ids = models.JSONField(default=list)
    rows = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "schedule", "period_start"], name="report_delivery_once"
            ),
        ]
