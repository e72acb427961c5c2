"""The lead flow's tables: capture sources, scoring, assignment rules and log, SLAs, conversions.

Imported at the end of ``crm.sales.models`` so Django registers them with the sales app.
"""

from __future__ import annotations

from typing import ClassVar

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from crm.core.fields import EncryptedTextField
from crm.core.models import TenantModel
from crm.customers.models import Account, Contact
from crm.sales.models import Lead, LeadStatus, Opportunity, Priority
from crm.tenancy.models import Membership, Team

PERCENT = [MinValueValidator(0), MaxValueValidator(100)]

# Lead statuses that count as "open" for a member's load.
OPEN_LEAD_STATUSES = (LeadStatus.NEW, LeadStatus.WORKING, LeadStatus.QUALIFIED)


def default_weights() -> dict[str, float]:
    from crm.sales.scoring import DEFAULT_WEIGHTS

    return dict(DEFAULT_WEIGHTS)


def default_source_values() -> dict[str, float]:
    from crm.sales.scoring import DEFAULT_SOURCE_VALUES

    return dict(DEFAULT_SOURCE_VALUES)


def default_work_days() -> list[int]:
    return [0, 1, 2, 3, 4]


class LeadSettings(TenantModel):
    """One row per tenant: scoring weights and bands, the model threshold, task escalation."""

    weights = models.JSONField(default=default_weights)
    source_values = models.JSONField(default=default_source_values, blank=True)
    high_from = models.PositiveSmallIntegerField(default=70, validators=PERCENT)
    medium_from = models.PositiveSmallIntegerField(default=40, validators=PERCENT)
    min_closed_leads = models.PositiveIntegerField(default=200)
    task_escalate_after_minutes = models.PositiveIntegerField(default=24 * 60)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant"], name="leadsettings_one")]


class ScoringModel(TenantModel):
    """A trained lead-scoring model with its holdout metrics beside those of the rules.

    `params` holds the calibrated ensemble as plain numbers (see scoring.ModelParams).
    `is_active` marks the model used for scoring: the newest trained model that beat the
    rules on its holdout; when the newest did not, no model is active and the rules score.
    """

    trained_at = models.DateTimeField()
    n_train = models.PositiveIntegerField()
    n_holdout = models.PositiveIntegerField()
    positives = models.PositiveIntegerField()
    holdout_from = models.DateTimeField()
    params = models.JSONField()
    auc = models.FloatField()
    brier = models.FloatField()
    calibration = models.JSONField(default=list, blank=True)
    calibration_error = models.FloatField(default=0.0)
    rules_auc = models.FloatField()
    rules_brier = models.FloatField()
    is_active = models.BooleanField(default=False)

    class Meta:
        indexes = [models.Index(fields=["tenant", "is_active", "-id"], name="scoringmodel_idx")]


class LeadChannel(models.TextChoices):
    MANUAL = "manual", _("Entered by hand")
    API = "api", _("API")
    WEBHOOK = "webhook", _("Webhook")
    WEBFORM = "webform", _("Web form")


class LeadSource(TenantModel):
    """An inbound webhook sender: its public key (in the URL) and HMAC shared secret."""

    name = models.CharField(max_length=60)
    key = models.SlugField(max_length=40, unique=True)  # global: it names the tenant
    secret = EncryptedTextField()
    product_line = models.CharField(max_length=60, blank=True)
    is_active = models.BooleanField(default=True)

    def __str__(self) -> str:
        return self.name


class WebForm(TenantModel):
    """A public lead form: the fields the admin chose, its consent text and spam limits."""

    name = models.CharField(max_length=100)
    key = models.SlugField(max_length=40, unique=True)  # global: it names the tenant
    source = models.CharField(max_length=60, default="webform")
    fields = models.JSONField(default=list, blank=True)
    required = models.JSONField(default=list, blank=True)
    consent_text = models.CharField(max_length=500, blank=True)
    consent_required = models.BooleanField(default=True)
    success_message = models.CharField(max_length=300, blank=True)
    product_line = models.CharField(max_length=60, blank=True)
    rate_limit_per_hour = models.PositiveIntegerField(default=10)
    is_active = models.BooleanField(default=True)

    def __str__(self) -> str:
        return self.name


class LeadIntake(TenantModel):
    """How a lead came in and where it is in the flow (one row per lead)."""

    lead = models.OneToOneField(
        Lead, on_delete=models.CASCADE, primary_key=True, related_name="intake"
    )
    channel = models.CharField(max_length=10, choices=LeadChannel.choices, default="manual")
    source_ref = models.ForeignKey(
        LeadSource, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    web_form = models.ForeignKey(
        WebForm, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    product_line = models.CharField(max_length=60, blank=True)
    message = models.TextField(blank=True, max_length=5000)
    consent_text = models.CharField(max_length=500, blank=True)
    consent_at = models.DateTimeField(null=True, blank=True)
    consent_ip = models.GenericIPAddressField(null=True, blank=True)
    scored_by = models.CharField(max_length=10, blank=True)  # "rules" or "model"
    scoring_model = models.ForeignKey(
        ScoringModel, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    scored_at = models.DateTimeField(null=True, blank=True)
    queued_at = models.DateTimeField(null=True, blank=True)  # waiting in a team queue
    assigned_at = models.DateTimeField(null=True, blank=True)
    first_response_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["tenant", "queued_at"], name="leadintake_queue_idx")]


class MemberSchedule(TenantModel):
    """When a member takes leads: working days and hours in their time zone, time away."""

    member = models.OneToOneField(
        Membership, on_delete=models.CASCADE, primary_key=True, related_name="lead_schedule"
    )
    accepts_leads = models.BooleanField(default=True)
    time_zone = models.CharField(max_length=64, blank=True)  # blank: the tenant's
    work_days = models.JSONField(default=default_work_days, blank=True)  # 0 = Monday; [] = any
    work_start = models.TimeField(null=True, blank=True)  # both blank: any time of day
    work_end = models.TimeField(null=True, blank=True)
    away_from = models.DateTimeField(null=True, blank=True)
    away_until = models.DateTimeField(null=True, blank=True)


class AssignmentRule(TenantModel):
    """Which team serves leads of a priority / region / source / product line (blank = any).

    Rules are tried in `position` order; the first whose conditions all match picks the team.
    """

    name = models.CharField(max_length=100)
    position = models.PositiveIntegerField(default=0)
    priority = models.CharField(max_length=6, choices=Priority.choices, blank=True)
    region = models.CharField(max_length=100, blank=True)
    source = models.CharField(max_length=60, blank=True)
    product_line = models.CharField(max_length=60, blank=True)
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+")
    required_skills = models.JSONField(default=list, blank=True)
    match_member_region = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["position", "id"]
        indexes = [models.Index(fields=["tenant", "is_active", "position"], name="rule_order_idx")]

    def __str__(self) -> str:
        return self.name


class AssignmentKind(models.TextChoices):
    AUTO = "auto", _("Automatic")
    MANUAL = "manual", _("Manual")
    BREACH = "breach", _("Reassigned after a missed response time")
    QUEUED = "queued", _("Waiting in the team queue")


class LeadAssignment(TenantModel):
    """The log: every assignment (or queueing) of a lead, with its reason."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="assignments")
    member = models.ForeignKey(
        Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    previous_owner = models.ForeignKey(
        Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    rule = models.ForeignKey(
        AssignmentRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    kind = models.CharField(max_length=10, choices=AssignmentKind.choices)
    reason = models.CharField(max_length=300)
    detail = models.JSONField(default=dict, blank=True)
    by = models.ForeignKey(
        Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["tenant", "team", "at"], name="assignment_team_idx"),
            models.Index(fields=["tenant", "member", "id"], name="assignment_member_idx"),
            models.Index(fields=["tenant", "lead", "id"], name="assignment_lead_idx"),
        ]


class ResponsePolicy(TenantModel):
    """First-response SLA of a priority: due after `first_response_minutes`; the manager is
    told after a further `escalate_after_minutes`; then the lead is reassigned if the policy
    says so."""

    priority = models.CharField(max_length=6, choices=Priority.choices)
    first_response_minutes = models.PositiveIntegerField()
    escalate_after_minutes = models.PositiveIntegerField()
    reassign_on_breach = models.BooleanField(default=False)

    DEFAULTS: ClassVar[dict[str, tuple[int, int]]] = {
        Priority.HIGH: (60, 60),
        Priority.MEDIUM: (4 * 60, 4 * 60),
        Priority.LOW: (24 * 60, 24 * 60),
    }

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "priority"], name="responsepolicy_unique")
        ]


class WebhookReceipt(TenantModel):
    """One accepted inbound webhook request per (source, Idempotency-Key) and its answer."""

    source = models.ForeignKey(LeadSource, on_delete=models.CASCADE, related_name="+")
    idempotency_key = models.CharField(max_length=200)
    body_sha256 = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField()
    response = models.JSONField(default=dict, blank=True)
    lead = models.ForeignKey(
        Lead, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "source", "idempotency_key"], name="webhookreceipt_once"
            )
        ]


class LeadConversion(TenantModel):
    """A conversion of a lead, with what it created and moved, so that it can be undone."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="conversions")
    contact = models.ForeignKey(Contact, null=True, on_delete=models.SET_NULL, related_name="+")
    account = models.ForeignKey(
        Account, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    opportunity = models.ForeignKey(
        Opportunity, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_contact = models.BooleanField(default=True)
    created_account = models.BooleanField(default=False)
    previous_status = models.CharField(max_length=12)
    moved_activity_ids = models.JSONField(default=list, blank=True)
    moved_task_ids = models.JSONField(default=list, blank=True)
    by = models.ForeignKey(
        Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField()
    undone_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["tenant", "lead", "-id"], name="conversion_lead_idx")]
