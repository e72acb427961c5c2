"""Leads, pipelines and stages, opportunities with their stage history, products and orders."""

from __future__ import annotations

from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from crm.core.fields import EncryptedTextField
from crm.core.models import TenantModel
from crm.customers.models import Account, Contact, NameKeys, Tag
from crm.tenancy.models import Membership, Team

PERCENT = [MinValueValidator(0), MaxValueValidator(100)]
NON_NEGATIVE = [MinValueValidator(Decimal("0"))]


class LeadStatus(models.TextChoices):
    NEW = "new", _("New")
    WORKING = "working", _("Working")
    QUALIFIED = "qualified", _("Qualified")
    UNQUALIFIED = "unqualified", _("Unqualified")
    CONVERTED = "converted", _("Converted")


class Priority(models.TextChoices):
    HIGH = "high", _("High")
    MEDIUM = "medium", _("Medium")
    LOW = "low", _("Low")


class Lead(TenantModel, NameKeys):
    name = models.CharField(max_length=200)
    company = models.CharField(max_length=200, blank=True)
    title = models.CharField(max_length=100, blank=True)
    email = EncryptedTextField(blank=True)
    email_index = models.CharField(max_length=32, blank=True, editable=False)
    # as Contact.email_alias_index: the mailbox of an alias (a+tag@x.com), NULL for the rest
    email_alias_index = models.CharField(  # noqa: DJ001
        max_length=32, null=True, blank=True, editable=False
    )
    phone = EncryptedTextField(blank=True)
    phone_index = models.CharField(max_length=32, blank=True, editable=False)
    source = models.CharField(max_length=60, blank=True)
    region = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=12, choices=LeadStatus.choices, default=LeadStatus.NEW)
    score = models.PositiveSmallIntegerField(default=0, validators=PERCENT)
    score_reasons = models.JSONField(default=list, blank=True)
    priority = models.CharField(max_length=6, choices=Priority.choices, default=Priority.MEDIUM)
    owner = models.ForeignKey(
        Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    first_response_due_at = models.DateTimeField(null=True, blank=True)
    last_interaction_at = models.DateTimeField(null=True, blank=True)
    contact_count = models.PositiveIntegerField(default=0)
    consent = models.BooleanField(default=False)
    notes = models.TextField(blank=True, max_length=20000)
    converted_contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    converted_account = models.ForeignKey(
        Account, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    converted_at = models.DateTimeField(null=True, blank=True)
    tags = models.ManyToManyField(Tag, blank=True, related_name="+")
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["tenant", "deleted_at", "id"], name="lead_list_idx"),
            # A rep's open leads by SLA (the dashboard) read from the index alone.
            models.Index(
                fields=["tenant", "owner", "status", "deleted_at", "first_response_due_at"],
                name="lead_owner_idx",
            ),
            models.Index(fields=["tenant", "status", "first_response_due_at"], name="lead_sla_idx"),
            models.Index(fields=["tenant", "name_key"], name="lead_name_idx"),
            models.Index(fields=["tenant", "pinyin_key"], name="lead_pinyin_idx"),
            models.Index(fields=["tenant", "initials_key"], name="lead_initials_idx"),
            models.Index(fields=["tenant", "email_index"], name="lead_email_idx"),
            models.Index(
                fields=["tenant", "email_alias_index"],
                name="lead_email_alias_idx",
                condition=Q(email_alias_index__isnull=False),
            ),
            models.Index(fields=["tenant", "phone_index"], name="lead_phone_idx"),
        ]

    def __str__(self) -> str:
        return self.name


class Pipeline(TenantModel):
    name = models.CharField(max_length=100)
    is_default = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="pipeline_unique_name"),
        ]

    def __str__(self) -> str:
        return self.name


class Stage(TenantModel):
    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="stages")
    name = models.CharField(max_length=100)
    order = models.PositiveIntegerField(default=0)
    probability = models.PositiveSmallIntegerField(default=0, validators=PERCENT)
    is_won = models.BooleanField(default=False)
    is_lost = models.BooleanField(default=False)

    class Meta:
        ordering = ["pipeline_id", "order", "id"]
        indexes = [models.Index(fields=["tenant", "pipeline", "order"], name="stage_order_idx")]

    def __str__(self) -> str:
        return self.name

    @property
    def is_closed(self) -> bool:
        return self.is_won or self.is_lost


# An opportunity whose fold (crm.sales.stats) is not what it is now: live but not folded, or
# folded but since deleted, moved to another pipeline or owner behind the services' back. The
# partial index `opp_stats_dirty_idx` holds exactly these rows; a query must use this very
# condition to be answered from it (it has no constants: SQLite matches a partial index only
# on literal terms, and Django sends constants as parameters).
_OTHER_OWNER = (
    Q(stats_owner__isnull=True, owner__isnull=False)
    | Q(stats_owner__isnull=False, owner__isnull=True)
    | Q(stats_owner__lt=F("owner_id"))
    | Q(stats_owner__gt=F("owner_id"))
)
STATS_DIRTY = Q(stats_folded=False, deleted_at__isnull=True) | (
    Q(stats_folded=True)
    & (
        Q(deleted_at__isnull=False)
        | Q(stats_pipeline__lt=F("pipeline_id"))
        | Q(stats_pipeline__gt=F("pipeline_id"))
        | _OTHER_OWNER
    )
)


class Opportunity(TenantModel):
    name = models.CharField(max_length=200)
    account = models.ForeignKey(
        Account, null=True, blank=True, on_delete=models.SET_NULL, related_name="opportunities"
    )
    contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.SET_NULL, related_name="opportunities"
    )
    lead = models.ForeignKey(
        Lead, null=True, blank=True, on_delete=models.SET_NULL, related_name="opportunities"
    )
    pipeline = models.ForeignKey(Pipeline, on_delete=models.PROTECT, related_name="+")
    stage = models.ForeignKey(Stage, on_delete=models.PROTECT, related_name="opportunities")
    amount = models.DecimalField(
        max_digits=14, decimal_places=2, default=Decimal("0"), validators=NON_NEGATIVE
    )
    currency = models.CharField(max_length=3, default="CNY")
    probability = models.PositiveSmallIntegerField(default=0, validators=PERCENT)
    expected_close_date = models.DateField(null=True, blank=True)
    owner = models.ForeignKey(
        Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    stage_entered_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    tags = models.ManyToManyField(Tag, blank=True, related_name="+")
    deleted_at = models.DateTimeField(null=True, blank=True)
    # Whether and where the stage history is folded into the funnel's aggregates
    # (crm.sales.stats): the owner, pipeline and furthest stage order it was folded under.
    stats_folded = models.BooleanField(default=False, editable=False)
    stats_owner = models.IntegerField(null=True, blank=True, editable=False)
    stats_pipeline = models.IntegerField(null=True, blank=True, editable=False)
    stats_furthest = models.IntegerField(default=-1, editable=False)

    class Meta:
        verbose_name_plural = "opportunities"
        indexes = [
            models.Index(fields=["tenant", "deleted_at", "id"], name="opp_list_idx"),
            models.Index(fields=["tenant", "pipeline", "stage"], name="opp_stage_idx"),
            models.Index(fields=["tenant", "owner", "stage"], name="opp_owner_idx"),
            # A rep's open pipeline per stage (the dashboard) read from the index alone.
            models.Index(
                fields=["tenant", "owner", "closed_at", "deleted_at", "stage", "amount"],
                name="opp_owner_open_idx",
            ),
            models.Index(fields=["tenant", "account"], name="opp_account_idx"),
            # The manager's funnel: opportunities now in each stage, value read from the index.
            models.Index(
                fields=["tenant", "pipeline", "stage", "owner", "deleted_at", "amount"],
                name="opp_funnel_idx",
            ),
            # Won per month: per won stage, a range of closing dates read from the index.
            models.Index(
                fields=["tenant", "stage", "closed_at", "owner", "deleted_at", "amount"],
                name="opp_closed_idx",
            ),
            models.Index(fields=["tenant"], condition=STATS_DIRTY, name="opp_stats_dirty_idx"),
        ]

    def __str__(self) -> str:
        return self.name


class StageChange(TenantModel):
    """One move of an opportunity between stages: feeds conversion rates and cycle times."""

    opportunity = models.ForeignKey(
        Opportunity, on_delete=models.CASCADE, related_name="stage_changes"
    )
    from_stage = models.ForeignKey(
        Stage, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    to_stage = models.ForeignKey(Stage, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField()
    by = models.ForeignKey(
        Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    amount = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))
    # Accounted for in the funnel's aggregates (crm.sales.stats): folded into them, or its
    # opportunity is deleted; with the time the opportunity had entered `from_stage` (null:
    # unknown, or not folded).
    folded = models.BooleanField(default=False, editable=False)
    entered_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        indexes = [
            models.Index(fields=["tenant", "opportunity", "at"], name="stagechange_opp_idx"),
            models.Index(fields=["tenant", "at"], name="stagechange_at_idx"),
            models.Index(
                fields=["tenant"], condition=Q(folded=False), name="stagechange_unfolded_idx"
            ),
        ]


class FunnelReach(TenantModel):
    """Opportunities of a pipeline and owner per the furthest non-lost stage order they entered
    (a stored aggregate of the stage history, kept by crm.sales.stats)."""

    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="+")
    owner_key = models.IntegerField()  # the owner's membership id, 0 for unowned
    furthest = models.IntegerField()
    n = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "pipeline", "owner_key", "furthest"], name="funnelreach_unique"
            ),
        ]


class StageDwell(TenantModel):
    """Moves out of a stage per UTC day, pipeline and owner, with the total time spent in the
    stage before them (a stored aggregate of the stage history, kept by crm.sales.stats)."""

    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="+")
    owner_key = models.IntegerField()
    stage = models.ForeignKey(Stage, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    n = models.IntegerField(default=0)
    micros = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "pipeline", "owner_key", "stage", "day"],
                name="stagedwell_unique",
            ),
        ]
        indexes = [
            models.Index(
                fields=["tenant", "pipeline", "owner_key", "day", "stage", "n", "micros"],
                name="stagedwell_read_idx",
            ),
        ]


class Product(TenantModel):
    name = models.CharField(max_length=200)
    sku = models.CharField(max_length=60, blank=True)
    category = models.CharField(max_length=100, blank=True)
    price = models.DecimalField(
        max_digits=14, decimal_places=2, default=Decimal("0"), validators=NON_NEGATIVE
    )
    currency = models.CharField(max_length=3, default="CNY")
    is_active = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "sku"], condition=~models.Q(sku=""), name="product_unique_sku"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class OrderStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    PAID = "paid", _("Paid")
    SHIPPED = "shipped", _("Shipped")
    CANCELLED = "cancelled", _("Cancelled")
    REFUNDED = "refunded", _("Refunded")


class Order(TenantModel):
    number = models.CharField(max_length=40)
    contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.SET_NULL, related_name="orders"
    )
    account = models.ForeignKey(
        Account, null=True, blank=True, on_delete=models.SET_NULL, related_name="orders"
    )
    opportunity = models.ForeignKey(
        Opportunity, null=True, blank=True, on_delete=models.SET_NULL, related_name="orders"
    )
    ordered_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=OrderStatus.choices, default="paid")
    total = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))
    currency = models.CharField(max_length=3, default="CNY")
    owner = models.ForeignKey(
        Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    deleted_at = models.DateTimeField(null=True, blank=True)  # soft delete: undo restores it

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "number"], name="order_unique_number"),
        ]
        indexes = [
            models.Index(fields=["tenant", "ordered_at"], name="order_date_idx"),
            models.Index(fields=["tenant", "contact", "ordered_at"], name="order_contact_idx"),
        ]


class OrderLine(TenantModel):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(
        Product, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    description = models.CharField(max_length=200, blank=True)
    category = models.CharField(max_length=100, blank=True)
    quantity = models.DecimalField(
        max_digits=12, decimal_places=2, default=Decimal("1"), validators=NON_NEGATIVE
    )
    unit_price = models.DecimalField(
        max_digits=14, decimal_places=2, default=Decimal("0"), validators=NON_NEGATIVE
    )
    amount = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))


from crm.sales import lead_models  # noqa: E402, F401  (the lead flow tables; registers them)
