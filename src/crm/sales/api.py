"""API: leads, pipelines and stages, opportunities and their stage history, products, orders."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Path, Query, Router, Status
from pydantic import TypeAdapter

from crm.core.api import (
    Id,
    ListParams,
    actor,
    body_reference,
    created,
    has_scope,
    json_values,
    mask_email,
    mask_phone,
    no_content,
    out_fields,
    page_params,
    paginated,
    rendered_page,
    shaped_items,
)
from crm.core.api import responses as r
from crm.customers.selectors import tag_ids_by_record
from crm.sales import selectors, services
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
from crm.sales.schemas import (
    Cents,
    LeadFilter,
    LeadIn,
    LeadOut,
    LeadPage,
    LeadPatch,
    MoveIn,
    OpportunityFilter,
    OpportunityIn,
    OpportunityOut,
    OpportunityPage,
    OpportunityPatch,
    OrderDetailOut,
    OrderFilter,
    OrderIn,
    OrderLineFilter,
    OrderLineIn,
    OrderLineOut,
    OrderLinePage,
    OrderLinePatch,
    OrderPage,
    OrderPatch,
    PipelineIn,
    PipelineOut,
    PipelinePage,
    PipelinePatch,
    ProductFilter,
    ProductIn,
    ProductOut,
    ProductPage,
    ProductPatch,
    StageChangeFilter,
    StageChangeOut,
    StageChangePage,
    StageFilter,
    StageIn,
    StageOut,
    StagePage,
    StagePatch,
)

router = Router()
LEAD_RELATIONS = ("owner_id", "team_id", "tag_ids")
OPPORTUNITY_RELATIONS = (
    "pipeline_id",
    "stage_id",
    "account_id",
    "contact_id",
    "lead_id",
    "owner_id",
    "probability",
    "tag_ids",
)
ORDER_RELATIONS = ("contact_id", "account_id", "opportunity_id", "owner_id", "lines")

# The lead and opportunity lists read rows as JSON-ready dicts of the Out schemas' columns and
# render them without per-row validation (see crm.core.api.rendered_page); tests/api pins that
# every item equals the record's detail answer.
LEAD_FIELDS = out_fields(LeadOut)
LEAD_COLUMNS = tuple(name for name in LEAD_FIELDS if name != "tag_ids")
LEAD_MASKS = {"email": mask_email, "phone": mask_phone}
OPPORTUNITY_FIELDS = out_fields(OpportunityOut)
OPPORTUNITY_COLUMNS = tuple(name for name in OPPORTUNITY_FIELDS if name != "tag_ids")
OPPORTUNITY_CONVERT = {"amount": TypeAdapter(Cents).dump_python}  # "12.50", as OpportunityOut

# --- leads --------------------------------------------------------------------------------------


@router.get("/leads", response=r({200: LeadPage}), operation_id="lead_list", tags=["leads"])
def lead_list(request: HttpRequest, filters: Query[LeadFilter]) -> HttpResponse:
    qs = selectors.lead_list(actor=actor(request), **filters.selector_kwargs())
    page = page_params(json_values(qs.values(*LEAD_COLUMNS)), filters)
    tags = tag_ids_by_record(Lead, [row["id"] for row in page.items])
    masks = {} if has_scope(request, "pii") else LEAD_MASKS
    return rendered_page(page, shaped_items(page.items, LEAD_FIELDS, tag_ids=tags, convert=masks))


@router.post("/leads", response=r({201: LeadOut}), operation_id="lead_create", tags=["leads"])
def lead_create(request: HttpRequest, payload: LeadIn) -> Status[Lead]:
    lead = services.lead_create(
        actor=actor(request),
        values=payload.given(exclude=LEAD_RELATIONS),
        owner_id=payload.owner_id,
        team_id=payload.team_id,
        tag_ids=payload.tag_ids,
    )
    return created(lead)


@router.get("/leads/{lead_id}", response=r({200: LeadOut}), operation_id="lead_get", tags=["leads"])
def lead_get(request: HttpRequest, lead_id: Path[Id]) -> Lead:
    return selectors.lead_get(actor=actor(request), lead_id=lead_id)


@router.patch(
    "/leads/{lead_id}", response=r({200: LeadOut}), operation_id="lead_update", tags=["leads"]
)
def lead_update(request: HttpRequest, lead_id: Path[Id], payload: LeadPatch) -> Lead:
    lead = selectors.lead_get(actor=actor(request), lead_id=lead_id)
    return services.lead_update(
        actor=actor(request),
        lead=lead,
        values=payload.given(exclude=LEAD_RELATIONS),
        owner_id=payload.owner_id,
        team_id=payload.team_id,
        tag_ids=payload.tag_ids,
    )


@router.delete(
    "/leads/{lead_id}", response=r({204: None}), operation_id="lead_delete", tags=["leads"]
)
def lead_delete(request: HttpRequest, lead_id: Path[Id]) -> Status[None]:
    lead = selectors.lead_get(actor=actor(request), lead_id=lead_id)
    services.lead_delete(actor=actor(request), lead=lead)
    return no_content()


# --- pipelines ----------------------------------------------------------------------------------


@router.get(
    "/pipelines", response=r({200: PipelinePage}), operation_id="pipeline_list", tags=["pipelines"]
)
def pipeline_list(request: HttpRequest, filters: Query[ListParams]) -> dict[str, Any]:
    return paginated(selectors.pipeline_list(), filters)


@router.post(
    "/pipelines", response=r({201: PipelineOut}), operation_id="pipeline_create", tags=["pipelines"]
)
def pipeline_create(request: HttpRequest, payload: PipelineIn) -> Status[Pipeline]:
    return created(services.pipeline_create(actor=actor(request), **payload.given()))


@router.get(
    "/pipelines/{pipeline_id}",
    response=r({200: PipelineOut}),
    operation_id="pipeline_get",
    tags=["pipelines"],
)
def pipeline_get(request: HttpRequest, pipeline_id: Path[Id]) -> Pipeline:
    return selectors.pipeline_get(pipeline_id=pipeline_id)


@router.patch(
    "/pipelines/{pipeline_id}",
    response=r({200: PipelineOut}),
    operation_id="pipeline_update",
    tags=["pipelines"],
)
def pipeline_update(
    request: HttpRequest, pipeline_id: Path[Id], payload: PipelinePatch
) -> Pipeline:
    pipeline = selectors.pipeline_get(pipeline_id=pipeline_id)
    return services.pipeline_update(actor=actor(request), pipeline=pipeline, values=payload.given())


@router.delete(
    "/pipelines/{pipeline_id}",
    response=r({204: None}),
    operation_id="pipeline_delete",
    tags=["pipelines"],
)
def pipeline_delete(request: HttpRequest, pipeline_id: Path[Id]) -> Status[None]:
    pipeline = selectors.pipeline_get(pipeline_id=pipeline_id)
    services.pipeline_delete(actor=actor(request), pipeline=pipeline)
    return no_content()


# --- stages -------------------------------------------------------------------------------------


@router.get("/stages", response=r({200: StagePage}), operation_id="stage_list", tags=["stages"])
def stage_list(request: HttpRequest, filters: Query[StageFilter]) -> dict[str, Any]:
    return paginated(selectors.stage_list(**filters.selector_kwargs()), filters)


@router.post("/stages", response=r({201: StageOut}), operation_id="stage_create", tags=["stages"])
def stage_create(request: HttpRequest, payload: StageIn) -> Status[Stage]:
    stage = services.stage_create(
        actor=actor(request),
        pipeline_id=payload.pipeline_id,
        values=payload.given(exclude=("pipeline_id",)),
    )
    return created(stage)


@router.get(
    "/stages/{stage_id}", response=r({200: StageOut}), operation_id="stage_get", tags=["stages"]
)
def stage_get(request: HttpRequest, stage_id: Path[Id]) -> Stage:
    return selectors.stage_get(stage_id=stage_id)


@router.patch(
    "/stages/{stage_id}", response=r({200: StageOut}), operation_id="stage_update", tags=["stages"]
)
def stage_update(request: HttpRequest, stage_id: Path[Id], payload: StagePatch) -> Stage:
    stage = selectors.stage_get(stage_id=stage_id)
    return services.stage_update(actor=actor(request), stage=stage, values=payload.given())


@router.delete(
    "/stages/{stage_id}", response=r({204: None}), operation_id="stage_delete", tags=["stages"]
)
def stage_delete(request: HttpRequest, stage_id: Path[Id]) -> Status[None]:
    services.stage_delete(actor=actor(request), stage=selectors.stage_get(stage_id=stage_id))
    return no_content()


# --- opportunities ------------------------------------------------------------------------------

OPP = ["opportunities"]


@router.get(
    "/opportunities",
    response=r({200: OpportunityPage}),
    operation_id="opportunity_list",
    tags=OPP,
)
def opportunity_list(request: HttpRequest, filters: Query[OpportunityFilter]) -> HttpResponse:
    qs = selectors.opportunity_list(actor=actor(request), **filters.selector_kwargs())
    page = page_params(json_values(qs.values(*OPPORTUNITY_COLUMNS)), filters)
    tags = tag_ids_by_record(Opportunity, [row["id"] for row in page.items])
    items = shaped_items(page.items, OPPORTUNITY_FIELDS, tag_ids=tags, convert=OPPORTUNITY_CONVERT)
    return rendered_page(page, items)


@router.post(
    "/opportunities",
    response=r({201: OpportunityOut}),
    operation_id="opportunity_create",
    tags=OPP,
)
def opportunity_create(request: HttpRequest, payload: OpportunityIn) -> Status[Opportunity]:
    relations = payload.model_dump(include=set(OPPORTUNITY_RELATIONS))
    opportunity = services.opportunity_create(
        actor=actor(request), values=payload.given(exclude=OPPORTUNITY_RELATIONS), **relations
    )
    return created(opportunity)


@router.get(
    "/opportunities/{opportunity_id}",
    response=r({200: OpportunityOut}),
    operation_id="opportunity_get",
    tags=OPP,
)
def opportunity_get(request: HttpRequest, opportunity_id: Path[Id]) -> Opportunity:
    return selectors.opportunity_get(actor=actor(request), opportunity_id=opportunity_id)


@router.patch(
    "/opportunities/{opportunity_id}",
    response=r({200: OpportunityOut}),
    operation_id="opportunity_update",
    tags=OPP,
)
def opportunity_update(
    request: HttpRequest, opportunity_id: Path[Id], payload: OpportunityPatch
) -> Opportunity:
    opportunity = selectors.opportunity_get(actor=actor(request), opportunity_id=opportunity_id)
    relations = payload.model_dump(include=set(OPPORTUNITY_RELATIONS))
    return services.opportunity_update(
        actor=actor(request),
        opportunity=opportunity,
        values=payload.given(exclude=OPPORTUNITY_RELATIONS),
        **relations,
    )


@router.post(
    "/opportunities/{opportunity_id}/move",
    response=r({200: OpportunityOut}),
    operation_id="opportunity_move",
    tags=OPP,
)
def opportunity_move(
    request: HttpRequest, opportunity_id: Path[Id], payload: MoveIn
) -> Opportunity:
    """Move to another stage of the same pipeline; the move is kept in the stage history."""
    opportunity = selectors.opportunity_get(actor=actor(request), opportunity_id=opportunity_id)
    services.opportunity_move(
        actor=actor(request), opportunity=opportunity, stage_id=payload.stage_id
    )
    return opportunity


@router.delete(
    "/opportunities/{opportunity_id}",
    response=r({204: None}),
    operation_id="opportunity_delete",
    tags=OPP,
)
def opportunity_delete(request: HttpRequest, opportunity_id: Path[Id]) -> Status[None]:
    opportunity = selectors.opportunity_get(actor=actor(request), opportunity_id=opportunity_id)
    services.opportunity_delete(actor=actor(request), opportunity=opportunity)
    return no_content()


@router.get(
    "/stage-changes",
    response=r({200: StageChangePage}),
    operation_id="stage_change_list",
    tags=["stage-changes"],
)
def stage_change_list(request: HttpRequest, filters: Query[StageChangeFilter]) -> dict[str, Any]:
    qs = selectors.stage_change_list(actor=actor(request), **filters.selector_kwargs())
    return paginated(qs, filters)


@router.get(
    "/stage-changes/{stage_change_id}",
    response=r({200: StageChangeOut}),
    operation_id="stage_change_get",
    tags=["stage-changes"],
)
def stage_change_get(request: HttpRequest, stage_change_id: Path[Id]) -> StageChange:
    return selectors.stage_change_get(actor=actor(request), stage_change_id=stage_change_id)


# --- products -----------------------------------------------------------------------------------


@router.get(
    "/products", response=r({200: ProductPage}), operation_id="product_list", tags=["products"]
)
def product_list(request: HttpRequest, filters: Query[ProductFilter]) -> dict[str, Any]:
    return paginated(selectors.product_list(**filters.selector_kwargs()), filters)


@router.post(
    "/products", response=r({201: ProductOut}), operation_id="product_create", tags=["products"]
)
def product_create(request: HttpRequest, payload: ProductIn) -> Status[Product]:
    return created(services.product_create(actor=actor(request), values=payload.given()))


@router.get(
    "/products/{product_id}",
    response=r({200: ProductOut}),
    operation_id="product_get",
    tags=["products"],
)
def product_get(request: HttpRequest, product_id: Path[Id]) -> Product:
    return selectors.product_get(product_id=product_id)


@router.patch(
    "/products/{product_id}",
    response=r({200: ProductOut}),
    operation_id="product_update",
    tags=["products"],
)
def product_update(request: HttpRequest, product_id: Path[Id], payload: ProductPatch) -> Product:
    product = selectors.product_get(product_id=product_id)
    return services.product_update(actor=actor(request), product=product, values=payload.given())


@router.delete(
    "/products/{product_id}",
    response=r({204: None}),
    operation_id="product_delete",
    tags=["products"],
)
def product_delete(request: HttpRequest, product_id: Path[Id]) -> Status[None]:
    """Products are retired (is_active false), since order lines keep pointing at them."""
    product = selectors.product_get(product_id=product_id)
    services.product_delete(actor=actor(request), product=product)
    return no_content()


# --- orders -------------------------------------------------------------------------------------


@router.get("/orders", response=r({200: OrderPage}), operation_id="order_list", tags=["orders"])
def order_list(request: HttpRequest, filters: Query[OrderFilter]) -> dict[str, Any]:
    qs = selectors.order_list(actor=actor(request), **filters.selector_kwargs())
    return paginated(qs, filters)


@router.post(
    "/orders", response=r({201: OrderDetailOut}), operation_id="order_create", tags=["orders"]
)
def order_create(request: HttpRequest, payload: OrderIn) -> Status[Order]:
    """Create an order with its lines; the total is the sum of the lines."""
    order = services.order_create(
        actor=actor(request),
        values=payload.given(exclude=ORDER_RELATIONS),
        lines=[line.given() for line in payload.lines],
        contact_id=payload.contact_id,
        account_id=payload.account_id,
        opportunity_id=payload.opportunity_id,
        owner_id=payload.owner_id,
    )
    return created(order)


@router.get(
    "/orders/{order_id}",
    response=r({200: OrderDetailOut}),
    operation_id="order_get",
    tags=["orders"],
)
def order_get(request: HttpRequest, order_id: Path[Id]) -> Order:
    return selectors.order_get(actor=actor(request), order_id=order_id)


@router.patch(
    "/orders/{order_id}",
    response=r({200: OrderDetailOut}),
    operation_id="order_update",
    tags=["orders"],
)
def order_update(request: HttpRequest, order_id: Path[Id], payload: OrderPatch) -> Order:
    order = selectors.order_get(actor=actor(request), order_id=order_id)
    return services.order_update(
        actor=actor(request),
        order=order,
        values=payload.given(exclude=("owner_id",)),
        owner_id=payload.owner_id,
    )


@router.delete(
    "/orders/{order_id}", response=r({204: None}), operation_id="order_delete", tags=["orders"]
)
def order_delete(request: HttpRequest, order_id: Path[Id]) -> Status[None]:
    order = selectors.order_get(actor=actor(request), order_id=order_id)
    services.order_delete(actor=actor(request), order=order)
    return no_content()


@router.get(
    "/order-lines",
    response=r({200: OrderLinePage}),
    operation_id="order_line_list",
    tags=["order-lines"],
)
def order_line_list(request: HttpRequest, filters: Query[OrderLineFilter]) -> dict[str, Any]:
    qs = selectors.order_line_list(actor=actor(request), **filters.selector_kwargs())
    return paginated(qs, filters)


@router.post(
    "/order-lines",
    response=r({201: OrderLineOut}),
    operation_id="order_line_create",
    tags=["order-lines"],
)
def order_line_create(request: HttpRequest, payload: OrderLineIn) -> Status[OrderLine]:
    with body_reference("order_id"):
        order = selectors.order_get(actor=actor(request), order_id=payload.order_id)
    line = services.order_line_add(
        actor=actor(request), order=order, line=payload.given(exclude=("order_id",))
    )
    return created(line)


@router.get(
    "/order-lines/{line_id}",
    response=r({200: OrderLineOut}),
    operation_id="order_line_get",
    tags=["order-lines"],
)
def order_line_get(request: HttpRequest, line_id: Path[Id]) -> OrderLine:
    return selectors.order_line_get(actor=actor(request), line_id=line_id)


@router.patch(
    "/order-lines/{line_id}",
    response=r({200: OrderLineOut}),
    operation_id="order_line_update",
    tags=["order-lines"],
)
def order_line_update(
    request: HttpRequest, line_id: Path[Id], payload: OrderLinePatch
) -> OrderLine:
    line = selectors.order_line_get(actor=actor(request), line_id=line_id)
    return services.order_line_update(actor=actor(request), line=line, values=payload.given())


@router.delete(
    "/order-lines/{line_id}",
    response=r({204: None}),
    operation_id="order_line_delete",
    tags=["order-lines"],
)
def order_line_delete(request: HttpRequest, line_id: Path[Id]) -> Status[None]:
    line = selectors.order_line_get(actor=actor(request), line_id=line_id)
    services.order_line_delete(actor=actor(request), line=line)
    return no_content()
