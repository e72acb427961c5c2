"""Every write to leads, pipelines, stages, opportunities, products and orders."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import F, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.core.errors import ConflictError
from crm.core.writes import editable_field_names, field_error, snapshot
from crm.customers.models import Account, Contact
from crm.customers.services import (
    NAME_KEY_FIELDS,
    apply_name_keys,
    normalise_personal_values,
    personal_data_indexes,
    tags_set,
)
from crm.events.crud import (
    assign,
    hard_delete,
    resolve,
    resolve_owner,
    restore,
    save_changes,
    save_new,
    soft_delete,
)
from crm.sales.models import (
    Lead,
    Opportunity,
    Order,
    OrderLine,
    Pipeline,
    Product,
    Stage,
    StageChange,
)
from crm.sales.stats import rebuild, refold
from crm.tenancy.models import Membership, Team
from crm.tenancy.permissions import (
    require_admin,
    require_editable,
    require_restorable,
    require_write,
)

LEAD_FIELDS = (
    "name",
    "company",
    "title",
    "email",
    "phone",
    "source",
    "region",
    "status",
    "priority",
    "consent",
    "notes",
)
OPPORTUNITY_FIELDS = ("name", "amount", "currency", "expected_close_date")
PRODUCT_FIELDS = ("name", "sku", "category", "price", "currency", "is_active")
ORDER_FIELDS = ("number", "ordered_at", "status", "currency")

# The default pipeline of DESIGN.md §5: (name, probability, is_won, is_lost).
DEFAULT_STAGES: Sequence[tuple[str, int, bool, bool]] = (
    ("潜在客户", 10, False, False),
    ("合格线索", 25, False, False),
    ("方案", 50, False, False),
    ("谈判", 75, False, False),
    ("成交", 100, True, False),
    ("失败", 0, False, True),
)


# --- leads --------------------------------------------------------------------------------------


@transaction.atomic
def lead_create(
    *,
    actor: Membership | None,
    values: Mapping[str, Any],
    owner_id: int | None = None,
    team_id: int | None = None,
    tag_ids: Iterable[int] | None = None,
) -> Lead:
    """Create a lead. With no actor (web form, webhook) it is created unowned."""
    if actor is not None:
        require_write(actor)
    values = normalise_personal_values(values)
    lead = Lead(
        owner=resolve_owner(actor, owner_id) if actor is not None else None,
        team=resolve(Team, team_id, "team_id"),
    )
    assign(lead, values, LEAD_FIELDS)
    for field, index in personal_data_indexes(values).items():
        setattr(lead, field, index)
    apply_name_keys(lead, lead.name)
    save_new(actor, lead)
    tags_set(lead, tag_ids)
    return lead


@transaction.atomic
def lead_update(
    *,
    actor: Membership,
    lead: Lead,
    values: Mapping[str, Any],
    owner_id: int | None = None,
    team_id: int | None = None,
    tag_ids: Iterable[int] | None = None,
) -> Lead:
    require_editable(actor, lead.owner)
    before = snapshot(lead, editable_field_names(Lead))
    values = normalise_personal_values(values)
    assign(lead, values, LEAD_FIELDS)
    for field, index in personal_data_indexes(values).items():
        setattr(lead, field, index)
    if owner_id is not None:
        lead.owner = resolve_owner(actor, owner_id)
    if team_id is not None:
        lead.team = resolve(Team, team_id, "team_id")
    apply_name_keys(lead, lead.name)
    save_changes(
        actor,
        lead,
        before,
        derived=(*NAME_KEY_FIELDS, "email_index", "email_alias_index", "phone_index"),
    )
    tags_set(lead, tag_ids)
    return lead


@transaction.atomic
def lead_delete(*, actor: Membership, lead: Lead) -> None:
    require_editable(actor, lead.owner)
    soft_delete(actor, lead)


@transaction.atomic
def lead_restore(*, actor: Membership, lead: Lead) -> Lead:
    """Undo `lead_delete` (the lead comes from a selector of deleted records)."""
    require_restorable(actor, lead.owner)
    restore(actor, lead)
    return lead


# --- pipelines and stages -----------------------------------------------------------------------


@transaction.atomic
def pipeline_create_default(*, actor: Membership | None, name: str = "销售管道") -> Pipeline:
    """The tenant's default pipeline with the stages of DESIGN.md."""
    pipeline = save_new(actor, Pipeline(name=name, is_default=True))
    for order, (stage_name, probability, is_won, is_lost) in enumerate(DEFAULT_STAGES):
        save_new(
            actor,
            Stage(
                pipeline=pipeline,
                name=stage_name,
                order=order,
                probability=probability,
                is_won=is_won,
                is_lost=is_lost,
            ),
        )
    return pipeline


@transaction.atomic
def pipeline_create(*, actor: Membership, name: str, is_default: bool = False) -> Pipeline:
    require_admin(actor)
    if Pipeline.objects.filter(name=name).exists():
        raise field_error("name", _("A pipeline with this name exists."))
    if is_default:
        Pipeline.objects.filter(is_default=True).update(is_default=False)
    return save_new(actor, Pipeline(name=name, is_default=is_default))


@transaction.atomic
def pipeline_update(
    *, actor: Membership, pipeline: Pipeline, values: Mapping[str, Any]
) -> Pipeline:
    require_admin(actor)
    before = snapshot(pipeline, ["name", "is_default"])
    assign(pipeline, values, ("name", "is_default"))
    if Pipeline.objects.filter(name=pipeline.name).exclude(pk=pipeline.pk).exists():
        raise field_error("name", _("A pipeline with this name exists."))
    if pipeline.is_default:
        Pipeline.objects.exclude(pk=pipeline.pk).filter(is_default=True).update(is_default=False)
    save_changes(actor, pipeline, before)
    return pipeline


@transaction.atomic
def pipeline_delete(*, actor: Membership, pipeline: Pipeline) -> None:
    require_admin(actor)
    if Opportunity.objects.filter(pipeline=pipeline).exists():
        raise ConflictError(_("This pipeline still has opportunities."))
    for stage in Stage.objects.filter(pipeline=pipeline):
        hard_delete(actor, stage)
    hard_delete(actor, pipeline)


STAGE_FIELDS = ("name", "order", "probability", "is_won", "is_lost")


def _check_stage_flags(stage: Stage) -> None:
    if stage.is_won and stage.is_lost:
        raise field_error("is_lost", _("A stage cannot be both won and lost."))


@transaction.atomic
def stage_create(*, actor: Membership, pipeline_id: int, values: Mapping[str, Any]) -> Stage:
    require_admin(actor)
    stage = Stage(pipeline=resolve(Pipeline, pipeline_id, "pipeline_id"))
    assign(stage, values, STAGE_FIELDS)
    _check_stage_flags(stage)
    return save_new(actor, stage)


@transaction.atomic
def stage_update(*, actor: Membership, stage: Stage, values: Mapping[str, Any]) -> Stage:
    require_admin(actor)
    before = snapshot(stage, STAGE_FIELDS)
    assign(stage, values, STAGE_FIELDS)
    _check_stage_flags(stage)
    changes = save_changes(actor, stage, before)
    if "order" in changes or "is_lost" in changes:
        # The funnel's furthest-stage counts are per stage order: fold the history again.
        rebuild(stage.tenant_id)
    return stage


@transaction.atomic
def stage_delete(*, actor: Membership, stage: Stage) -> None:
    require_admin(actor)
    if (
        Opportunity.all_tenants.filter(stage=stage).exists()
        or StageChange.objects.filter(to_stage=stage).exists()
    ):
        raise ConflictError(_("This stage is in use by opportunities or their history."))
    hard_delete(actor, stage)


# --- opportunities ------------------------------------------------------------------------------


def _stage_in(pipeline: Pipeline, stage_id: int | None) -> Stage:
    if stage_id is None:
        stage = Stage.objects.filter(pipeline=pipeline).order_by("order", "id").first()
        if stage is None:
            raise field_error("stage_id", _("This pipeline has no stages."))
        return stage
    stage = Stage.objects.filter(pk=stage_id, pipeline=pipeline).first()
    if stage is None:
        raise field_error("stage_id", _("No such stage in this pipeline."))
    return stage


def _default_pipeline() -> Pipeline:
    pipeline = Pipeline.objects.order_by("-is_default", "id").first()
    if pipeline is None:
        raise field_error("pipeline_id", _("Create a pipeline first."))
    return pipeline


@transaction.atomic
def opportunity_create(
    *,
    actor: Membership,
    values: Mapping[str, Any],
    pipeline_id: int | None = None,
    stage_id: int | None = None,
    account_id: int | None = None,
    contact_id: int | None = None,
    lead_id: int | None = None,
    owner_id: int | None = None,
    probability: int | None = None,
    tag_ids: Iterable[int] | None = None,
) -> Opportunity:
    require_write(actor)
    pipeline = resolve(Pipeline, pipeline_id, "pipeline_id") or _default_pipeline()
    stage = _stage_in(pipeline, stage_id)
    now = timezone.now()
    opportunity = Opportunity(
        pipeline=pipeline,
        stage=stage,
        probability=stage.probability if probability is None else probability,
        account=resolve(Account, account_id, "account_id"),
        contact=resolve(Contact, contact_id, "contact_id"),
        lead=resolve(Lead, lead_id, "lead_id"),
        owner=resolve_owner(actor, owner_id),
        stage_entered_at=now,
        closed_at=now if stage.is_closed else None,
    )
    assign(opportunity, values, OPPORTUNITY_FIELDS)
    save_new(actor, opportunity)
    StageChange.objects.create(
        opportunity=opportunity,
        from_stage=None,
        to_stage=stage,
        at=now,
        by=actor,
        amount=opportunity.amount,
    )
    refold([opportunity.pk])
    tags_set(opportunity, tag_ids)
    return opportunity


@transaction.atomic
def opportunity_update(
    *,
    actor: Membership,
    opportunity: Opportunity,
    values: Mapping[str, Any],
    account_id: int | None = None,
    contact_id: int | None = None,
    owner_id: int | None = None,
    probability: int | None = None,
    tag_ids: Iterable[int] | None = None,
) -> Opportunity:
    require_editable(actor, opportunity.owner)
    before = snapshot(opportunity, editable_field_names(Opportunity))
    assign(opportunity, values, OPPORTUNITY_FIELDS)
    if account_id is not None:
        opportunity.account = resolve(Account, account_id, "account_id")
    if contact_id is not None:
        opportunity.contact = resolve(Contact, contact_id, "contact_id")
    if owner_id is not None:
        opportunity.owner = resolve_owner(actor, owner_id)
    if probability is not None:
        opportunity.probability = probability
    changes = save_changes(actor, opportunity, before)
    if "owner_id" in changes:
        refold([opportunity.pk])  # the funnel's aggregates are kept per owner
    tags_set(opportunity, tag_ids)
    return opportunity


@transaction.atomic
def opportunity_move(
    *, actor: Membership, opportunity: Opportunity, stage_id: int, at: Any = None
) -> StageChange | None:
    """Move to another stage of the same pipeline, recording a StageChange.

    The row is locked and re-read so two moves at once both land in the history in order.
    """
    require_editable(actor, opportunity.owner)
    locked = Opportunity.objects.select_for_update().get(pk=opportunity.pk)
    target = _stage_in(locked.pipeline, stage_id)
    if target.pk == locked.stage_id:
        return None
    before = snapshot(locked, ["stage", "probability", "closed_at", "stage_entered_at"])
    previous_stage_id = locked.stage_id
    when = at or timezone.now()
    locked.stage = target
    locked.probability = target.probability
    locked.stage_entered_at = when
    locked.closed_at = when if target.is_closed else None
    save_changes(actor, locked, before, action="stage_changed")
    change = StageChange.objects.create(
        opportunity=locked,
        from_stage_id=previous_stage_id,
        to_stage=target,
        at=when,
        by=actor,
        amount=locked.amount,
    )
    refold([locked.pk])
    opportunity.refresh_from_db()
    return change


@transaction.atomic
def opportunity_delete(*, actor: Membership, opportunity: Opportunity) -> None:
    require_editable(actor, opportunity.owner)
    soft_delete(actor, opportunity)
    refold([opportunity.pk])


@transaction.atomic
def opportunity_restore(*, actor: Membership, opportunity: Opportunity) -> Opportunity:
    """Undo `opportunity_delete`; the deal counts in the stored funnel figures again."""
    require_restorable(actor, opportunity.owner)
    restore(actor, opportunity)
    refold([opportunity.pk])
    return opportunity


# --- products -----------------------------------------------------------------------------------


def _check_sku_free(product: Product) -> None:
    # full_clean() skips the (tenant, sku) constraint because `tenant` is excluded from it.
    if product.sku and Product.objects.filter(sku=product.sku).exclude(pk=product.pk).exists():
        raise field_error("sku", _("A product with this SKU exists."))


@transaction.atomic
def product_create(*, actor: Membership, values: Mapping[str, Any]) -> Product:
    require_write(actor)
    product = Product()
    assign(product, values, PRODUCT_FIELDS)
    _check_sku_free(product)
    return save_new(actor, product)


@transaction.atomic
def product_update(*, actor: Membership, product: Product, values: Mapping[str, Any]) -> Product:
    require_write(actor)
    before = snapshot(product, PRODUCT_FIELDS)
    assign(product, values, PRODUCT_FIELDS)
    _check_sku_free(product)
    save_changes(actor, product, before)
    return product


@transaction.atomic
def product_delete(*, actor: Membership, product: Product) -> None:
    """Products are retired (is_active false), not removed: order lines keep pointing at them."""
    require_write(actor)
    before = snapshot(product, ["is_active"])
    product.is_active = False
    save_changes(actor, product, before, action="deleted")


# --- orders -------------------------------------------------------------------------------------


def _line_values(line: Mapping[str, Any], index: int | None) -> OrderLine:
    """An unsaved line; `index` is its place in an order's `lines` (None for a lone line)."""
    field = "product_id" if index is None else f"lines.{index}.product_id"
    product = resolve(Product, line.get("product_id"), field)
    quantity = Decimal(str(line.get("quantity", 1)))
    unit_price = Decimal(str(line.get("unit_price", product.price if product else 0)))
    return OrderLine(
        product=product,
        description=str(line.get("description") or (product.name if product else ""))[:200],
        category=str(line.get("category") or (product.category if product else ""))[:100],
        quantity=quantity,
        unit_price=unit_price,
        amount=(quantity * unit_price).quantize(Decimal("0.01")),
    )


@transaction.atomic
def order_create(
    *,
    actor: Membership,
    values: Mapping[str, Any],
    lines: Sequence[Mapping[str, Any]] = (),
    contact_id: int | None = None,
    account_id: int | None = None,
    opportunity_id: int | None = None,
    owner_id: int | None = None,
) -> Order:
    require_write(actor)
    order = Order(
        contact=resolve(Contact, contact_id, "contact_id"),
        account=resolve(Account, account_id, "account_id"),
        opportunity=resolve(Opportunity, opportunity_id, "opportunity_id"),
        owner=resolve_owner(actor, owner_id),
    )
    assign(order, values, ORDER_FIELDS)
    if Order.objects.filter(number=order.number).exists():
        raise field_error("number", _("An order with this number exists."))
    built = [_line_values(line, i) for i, line in enumerate(lines)]
    order.total = sum((line.amount for line in built), Decimal("0"))
    save_new(actor, order)
    for line in built:
        line.order = order
        save_new(actor, line)
    return order


@transaction.atomic
def order_update(
    *, actor: Membership, order: Order, values: Mapping[str, Any], owner_id: int | None = None
) -> Order:
    require_editable(actor, order.owner)
    before = snapshot(order, editable_field_names(Order))
    assign(order, values, ORDER_FIELDS)
    if Order.objects.filter(number=order.number).exclude(pk=order.pk).exists():
        raise field_error("number", _("An order with this number exists."))
    if owner_id is not None:
        order.owner = resolve_owner(actor, owner_id)
    save_changes(actor, order, before)
    return order


@transaction.atomic
def order_delete(*, actor: Membership, order: Order) -> None:
    """Soft delete: the order and its lines leave lists; `order_restore` undoes it. Its number
    stays taken."""
    require_editable(actor, order.owner)
    soft_delete(actor, order)


@transaction.atomic
def order_restore(*, actor: Membership, order: Order) -> Order:
    """Undo `order_delete` (the order comes from `selectors.order_get_deleted`)."""
    require_editable(actor, order.owner)
    restore(actor, order)
    return order


@transaction.atomic
def order_line_add(*, actor: Membership, order: Order, line: Mapping[str, Any]) -> OrderLine:
    require_editable(actor, order.owner)
    built = _line_values(line, None)
    built.order = order
    save_new(actor, built)
    _recompute_total(actor, order)
    return built


ORDER_LINE_FIELDS = ("description", "category", "quantity", "unit_price")


@transaction.atomic
def order_line_update(
    *, actor: Membership, line: OrderLine, values: Mapping[str, Any]
) -> OrderLine:
    """Change a line's text, quantity or price; its amount and the order total follow."""
    order = line.order
    require_editable(actor, order.owner)
    before = snapshot(line, (*ORDER_LINE_FIELDS, "amount"))
    assign(line, values, ORDER_LINE_FIELDS)
    line.amount = (Decimal(line.quantity) * Decimal(line.unit_price)).quantize(Decimal("0.01"))
    save_changes(actor, line, before)
    _recompute_total(actor, order)
    return line


@transaction.atomic
def order_line_delete(*, actor: Membership, line: OrderLine) -> None:
    order = line.order
    require_editable(actor, order.owner)
    hard_delete(actor, line)
    _recompute_total(actor, order)


def _recompute_total(actor: Membership, order: Order) -> None:
    before = snapshot(order, ["total"])
    total = OrderLine.objects.filter(order=order).aggregate(s=Sum(F("amount")))["s"]
    # SQLite sums decimals as floats (319.8000000000000113...): back to cents.
    order.total = Decimal(total or 0).quantize(Decimal("0.01"))
    save_changes(actor, order, before)
