"""Models of crm.insights: stored customer insights, their runs, and the churn playbook.

`CustomerInsight` holds one row per contact with purchases or activity, written by a recompute
(`InsightRun`); a recompute replaces all rows of its tenant in one transaction, so readers see
either the previous run's results or the new ones, never a mix. The playbook's settings, its
coupons and its log (`PlaybookAction`) live here too.
"""

from __future__ import annotations

from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from crm.core.models import TenantModel
from crm.customers.models import Contact
from crm.tenancy.models import Membership

UNIT = [MinValueValidator(0.0), MaxValueValidator(1.0)]
NON_NEGATIVE = [MinValueValidator(Decimal("0"))]

DEFAULT_SUBJECT = "We miss you, {name}"
DEFAULT_BODY = (
    "Dear {name},\n\n"
    "It has been a while since your last order with {company}. As a thank-you for being our "
    "customer, here is a coupon worth {coupon_value} {currency}: {coupon_code}\n"
    "It can be used once, until {valid_until}.\n\n"
    "Best regards,\n{owner}"
)


class Stage(models.TextChoices):
    PROSPECT = "prospect", _("Prospect")
    NEW = "new", _("New customer")
    ACTIVE = "active", _("Active customer")
    LOYAL = "loyal", _("Loyal")
    AT_RISK = "at_risk", _("At risk")
    LOST = "lost", _("Lost")


class RunStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")


class InsightRun(TenantModel):
    """One recompute of a tenant's insights: when, how it went, what the models measured.

    `metrics` holds the fitted BG/NBD and Gamma-Gamma parameters (used to draw P(alive) curves),
    the supervised churn model's AUC/Brier when one was trained, the segmentation and the
    per-segment summary shown on the segments page.
    """

    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.QUEUED)
    trigger = models.CharField(max_length=20, default="nightly")
    requested_by = models.ForeignKey(
        Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    as_of = models.DateField(null=True, blank=True)
    customers = models.PositiveIntegerField(default=0)
    orders = models.PositiveIntegerField(default=0)
    order_lines = models.PositiveIntegerField(default=0)
    model_version = models.CharField(max_length=40, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        indexes = [models.Index(fields=["tenant", "-id"], name="insightrun_recent_idx")]


class CustomerInsight(TenantModel):
    """The latest computed intelligence about one contact (see docs/analytics.md)."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+")
    run = models.ForeignKey(InsightRun, null=True, on_delete=models.SET_NULL, related_name="+")
    orders = models.PositiveIntegerField(default=0)  # purchase days
    first_purchase_on = models.DateField(null=True, blank=True)
    last_purchase_on = models.DateField(null=True, blank=True)
    recency_days = models.IntegerField(null=True, blank=True)
    monetary = models.DecimalField(max_digits=16, decimal_places=2, default=Decimal("0"))
    r_score = models.PositiveSmallIntegerField(null=True, blank=True)
    f_score = models.PositiveSmallIntegerField(null=True, blank=True)
    m_score = models.PositiveSmallIntegerField(null=True, blank=True)
    rfm_code = models.CharField(max_length=3, blank=True)
    stage = models.CharField(max_length=10, choices=Stage.choices)
    p_alive = models.FloatField(null=True, blank=True, validators=UNIT)
    expected_purchases_12m = models.FloatField(null=True, blank=True)
    clv_12m = models.DecimalField(max_digits=16, decimal_places=2, null=True, blank=True)
    churn_risk = models.FloatField(default=0.0, validators=UNIT)
    churn_reasons = models.JSONField(default=list, blank=True)
    health = models.FloatField(default=0.0)
    engagement = models.PositiveIntegerField(default=0)
    segment = models.SmallIntegerField(default=-1)
    segment_name = models.CharField(max_length=80, blank=True)
    preferences = models.JSONField(default=dict, blank=True)
    actions = models.JSONField(default=list, blank=True)
    computed_at = models.DateTimeField()
    model_version = models.CharField(max_length=40)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "contact"], name="insight_one_per_contact")
        ]
        indexes = [
            models.Index(fields=["tenant", "stage", "-churn_risk"], name="insight_stage_idx"),
            models.Index(fields=["tenant", "-churn_risk"], name="insight_risk_idx"),
            models.Index(fields=["tenant", "segment"], name="insight_segment_idx"),
        ]


class InsightSettings(TenantModel):
    """One row per tenant: churn labels for the supervised model and the churn playbook."""

    churn_label_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(7), MaxValueValidator(730)],
        help_text=_("A customer with no order within this many days counts as churned."),
    )
    playbook_enabled = models.BooleanField(default=False)
    at_risk_threshold = models.FloatField(default=0.6, validators=UNIT)
    cooldown_days = models.PositiveIntegerField(
        default=30, validators=[MinValueValidator(1), MaxValueValidator(365)]
    )
    coupon_value = models.DecimalField(
        max_digits=12, decimal_places=2, default=Decimal("50"), validators=NON_NEGATIVE
    )
    coupon_valid_days = models.PositiveIntegerField(
        default=30, validators=[MinValueValidator(1), MaxValueValidator(365)]
    )
    task_due_days = models.PositiveIntegerField(
        default=2, validators=[MinValueValidator(0), MaxValueValidator(60)]
    )
    max_per_run = models.PositiveIntegerField(
        default=200, validators=[MinValueValidator(1), MaxValueValidator(10000)]
    )
    email_subject = models.CharField(max_length=200, default=DEFAULT_SUBJECT)
    email_body = models.TextField(max_length=5000, default=DEFAULT_BODY)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant"], name="insightsettings_one")]


class Coupon(TenantModel):
    """A single-use retention coupon; `code` is random (80 bits) and unique."""

    code = models.CharField(max_length=24)
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+")
    value = models.DecimalField(max_digits=12, decimal_places=2, validators=NON_NEGATIVE)
    currency = models.CharField(max_length=3)
    valid_until = models.DateTimeField()
    redeemed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["code"], name="coupon_unique_code"),
        ]
        indexes = [models.Index(fields=["tenant", "contact"], name="coupon_contact_idx")]


class ActionKind(models.TextChoices):
    COUPON = "coupon", _("Coupon issued")
    EMAIL = "email", _("Retention email")
    TASK = "task", _("Follow-up task")
    SKIPPED = "skipped", _("Skipped")


class PlaybookAction(TenantModel):
    """One step the playbook took (or skipped) for a contact: the log and the cool-down."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=10, choices=ActionKind.choices)
    at = models.DateTimeField()
    churn_risk = models.FloatField(validators=UNIT)
    reason = models.CharField(max_length=300, blank=True)
    coupon = models.ForeignKey(Coupon, null=True, blank=True, on_delete=models.SET_NULL)
    task_id = models.BigIntegerField(null=True, blank=True)
    message_id = models.CharField(max_length=200, blank=True)

    class Meta:
        indexes = [models.Index(fields=["tenant", "contact", "-at"], name="playbook_contact_idx")]
