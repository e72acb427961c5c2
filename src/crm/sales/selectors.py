"""Every read of leads, pipelines, opportunities, products and orders."""

from __future__ import annotations

from django.db.models import QuerySet

from crm.core.errors import NotFoundError
from crm.core.search import person_search_q
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
from crm.tenancy.models import Membership
from crm.tenancy.permissions import visible_q

COMMON_ORDERINGS = {"id", "-id", "created_at", "-created_at"}


def _order(qs: QuerySet, ordering: str, allowed: set[str]) -> QuerySet:
    return qs.order_by(ordering if ordering in allowed else "-id")


def lead_list(
    *,
    actor: Membership,
    search: str = "",
    status: str = "",
    priority: str = "",
    owner_id: int | None = None,
    source: str = "",
    ordering: str = "-id",
) -> QuerySet[Lead]:
    qs = Lead.objects.filter(visible_q(actor), deleted_at__isnull=True)
    if search:
        qs = qs.filter(person_search_q(search, Lead))
    if status:
        qs = qs.filter(status=status)
    if priority:
        qs = qs.filter(priority=priority)
    if owner_id is not None:
        qs = qs.filter(owner_id=owner_id)
    if source:
        qs = qs.filter(source=source)
    allowed = COMMON_ORDERINGS | {
        "score",
        "-score",
        "first_response_due_at",
        "-first_response_due_at",
    }
    return _order(qs.select_related("owner", "team"), ordering, allowed)


def lead_get(*, actor: Membership, lead_id: int) -> Lead:
    lead = lead_list(actor=actor).filter(pk=lead_id).first()
    if lead is None:
        raise NotFoundError("No such lead.")
    return lead


def pipeline_list() -> QuerySet[Pipeline]:
    return Pipeline.objects.order_by("-is_default", "id")


def pipeline_get(*, pipeline_id: int) -> Pipeline:
    pipeline = pipeline_list().filter(pk=pipeline_id).first()
    if pipeline is None:
        raise NotFoundError("No such pipeline.")
    return pipeline


def stage_list(*, pipeline_id: int | None = None) -> QuerySet[Stage]:
    qs = Stage.objects.all()
    if pipeline_id is not None:
        qs = qs.filter(pipeline_id=pipeline_id)
    return qs.order_by("pipeline_id", "order", "id")


def stage_get(*, stage_id: int) -> Stage:
    stage = Stage.objects.filter(pk=stage_id).first()
    if stage is None:
        raise NotFoundError("No such stage.")
    return stage


def opportunity_list(
    *,
    actor: Membership,
    search: str = "",
    pipeline_id: int | None = None,
    stage_id: int | None = None,
    owner_id: int | None = None,
    account_id: int | None = None,
    is_open: bool | None = None,
    ordering: str = "-id",
) -> QuerySet[Opportunity]:
    qs = Opportunity.objects.filter(visible_q(actor), deleted_at__isnull=True)
    if search:
        qs = qs.filter(name__icontains=search[:100])
    if pipeline_id is not None:
        qs = qs.filter(pipeline_id=pipeline_id)
    if stage_id is not None:
        qs = qs.filter(stage_id=stage_id)
    if owner_id is not None:
        qs = qs.filter(owner_id=owner_id)
    if account_id is not None:
        qs = qs.filter(account_id=account_id)
    if is_open is not None:
        qs = qs.filter(closed_at__isnull=is_open)
    allowed = COMMON_ORDERINGS | {
        "amount",
        "-amount",
        "expected_close_date",
        "-expected_close_date",
    }
    return _order(qs.select_related("account", "contact", "stage", "owner"), ordering, allowed)


def opportunity_get(*, actor: Membership, opportunity_id: int) -> Opportunity:
    opportunity = opportunity_list(actor=actor).filter(pk=opportunity_id).first()
    if opportunity is None:
        raise NotFoundError("No such opportunity.")
    return opportunity


def stage_change_list(
    *, actor: Membership, opportunity_id: int | None = None
) -> QuerySet[StageChange]:
    qs = StageChange.objects.filter(visible_q(actor, "opportunity__owner"))
    if opportunity_id is not None:
        qs = qs.filter(opportunity_id=opportunity_id)
    return qs.select_related("from_stage", "to_stage", "by").order_by("-at", "-id")


def stage_change_get(*, actor: Membership, stage_change_id: int) -> StageChange:
    change = stage_change_list(actor=actor).filter(pk=stage_change_id).first()
    if change is None:
        raise NotFoundError("No such stage change.")
    return change


def product_list(
    *, search: str = "", category: str = "", is_active: bool | None = None, ordering: str = "-id"
) -> QuerySet[Product]:
    qs = Product.objects.all()
    if search:
        qs = qs.filter(name__icontains=search[:100])
    if category:
        qs = qs.filter(category=category)
    if is_active is not None:
        qs = qs.filter(is_active=is_active)
    return _order(qs, ordering, COMMON_ORDERINGS | {"name", "-name", "price", "-price"})


def product_get(*, product_id: int) -> Product:
    product = Product.objects.filter(pk=product_id).first()
    if product is None:
        raise NotFoundError("No such product.")
    return product


def order_list(
    *,
    actor: Membership,
    contact_id: int | None = None,
    account_id: int | None = None,
    status: str = "",
    search: str = "",
    ordering: str = "-id",
) -> QuerySet[Order]:
    qs = Order.objects.filter(visible_q(actor), deleted_at__isnull=True)
    if search:
        qs = qs.filter(number__istartswith=search[:40])
    if contact_id is not None:
        qs = qs.filter(contact_id=contact_id)
    if account_id is not None:
        qs = qs.filter(account_id=account_id)
    if status:
        qs = qs.filter(status=status)
    allowed = COMMON_ORDERINGS | {"ordered_at", "-ordered_at", "total", "-total"}
    return _order(qs.select_related("contact", "account"), ordering, allowed)


def order_get(*, actor: Membership, order_id: int) -> Order:
    order = order_list(actor=actor).filter(pk=order_id).first()
    if order is None:
        raise NotFoundError("No such order.")
    return order


def order_get_deleted(*, actor: Membership, order_id: int) -> Order:
    """A soft-deleted order the actor could see (to undo the delete); NotFoundError otherwise."""
    order = (
        Order.objects.filter(visible_q(actor), pk=order_id, deleted_at__isnull=False)
        .select_related("owner")
        .first()
    )
    if order is None:
        raise NotFoundError("No such order.")
    return order


def order_line_list(*, actor: Membership, order_id: int | None = None) -> QuerySet[OrderLine]:
    qs = OrderLine.objects.filter(visible_q(actor, "order__owner"), order__deleted_at__isnull=True)
    if order_id is not None:
        qs = qs.filter(order_id=order_id)
    return qs.select_related("product").order_by("id")


def order_line_get(*, actor: Membership, line_id: int) -> OrderLine:
    line = order_line_list(actor=actor).filter(pk=line_id).select_related("order").first()
    if line is None:
        raise NotFoundError("No such order line.")
    return line
