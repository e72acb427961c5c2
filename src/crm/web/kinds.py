"""The record kinds the pages list, show, create, edit and delete.

Each kind names its selectors and services and how a form's cleaned data maps onto their
keyword arguments; the generic views in `views/records.py` do nothing but parse, call, render.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from crm.activities import selectors as activity_selectors
from crm.activities import services as activity_services
from crm.activities.models import ActivityKind, TaskStatus
from crm.customers import selectors as customer_selectors
from crm.customers import services as customer_services
from crm.sales import selectors as sales_selectors
from crm.sales import services as sales_services
from crm.sales.models import LeadStatus, OrderStatus, Priority
from crm.tenancy.models import Membership
from crm.web import forms as web_forms
from crm.web.kind_base import (
    OWNER_FILTER,
    Column,
    Kind,
    ListFilter,
    Params,
    account_restore,
    activity_restore,
    choices_of,
    contact_restore,
    lead_restore,
    member_choices,
    opportunity_restore,
    order_restore,
    param_bool,
    param_int,
    param_text,
    pk_of,
    product_restore,
    stage_choices,
    tag_choices,
    tag_ids_of,
    task_restore,
    values_of,
    yes_no,
)

__all__ = ["KINDS", "TIMELINE_KINDS", "Column", "Kind", "ListFilter"]


# --- accounts -----------------------------------------------------------------------------------

ACCOUNT_VALUES = customer_services.ACCOUNT_FIELDS


def account_list(actor: Membership, p: Params) -> QuerySet[Any]:
    return customer_selectors.account_list(
        actor=actor,
        search=param_text(p, "q"),
        owner_id=param_int(p, "owner"),
        industry=param_text(p, "industry"),
        city=param_text(p, "city"),
        tag_id=param_int(p, "tag"),
        ordering=param_text(p, "sort"),
    )


ACCOUNT = Kind(
    name="account",
    plural="accounts",
    label=_("Account"),
    label_plural=_("Accounts"),
    list_qs=account_list,
    get=lambda actor, pk: customer_selectors.account_get(actor=actor, account_id=pk),
    form=web_forms.AccountForm,
    create=lambda actor, d: customer_services.account_create(
        actor=actor,
        values=values_of(d, ACCOUNT_VALUES),
        owner_id=pk_of(d, "owner"),
        tag_ids=tag_ids_of(d),
    ),
    update=lambda actor, obj, d: customer_services.account_update(
        actor=actor,
        account=obj,
        values=values_of(d, ACCOUNT_VALUES),
        owner_id=pk_of(d, "owner"),
        tag_ids=tag_ids_of(d),
    ),
    delete=lambda actor, obj: customer_services.account_delete(actor=actor, account=obj),
    columns=(
        Column("name", "name_key"),
        Column("industry"),
        Column("city"),
        Column("region", default=False),
        Column("source", default=False),
        Column("phone", default=False),
        Column("website", default=False),
        Column("owner"),
        Column("created_at", "created_at"),
    ),
    filters=(
        OWNER_FILTER,
        ListFilter("industry", _("Industry")),
        ListFilter("city", _("City")),
        ListFilter("tag", _("Tag"), tag_choices),
    ),
    detail_fields=(
        "industry",
        "size",
        "region",
        "city",
        "source",
        "website",
        "phone",
        "owner",
        "external_id",
        "created_at",
    ),
    inline_fields=frozenset({"name", "industry", "size", "region", "city", "website", "phone"}),
    bulk_actions=("owner", "tag", "delete"),
    timeline=True,
    restore=account_restore,
)

# --- contacts -----------------------------------------------------------------------------------

CONTACT_VALUES = customer_services.CONTACT_FIELDS


def contact_filters(p: Params) -> dict[str, Any]:
    return {
        "search": param_text(p, "q"),
        "account_id": param_int(p, "account"),
        "owner_id": param_int(p, "owner"),
        "city": param_text(p, "city"),
        "tag_id": param_int(p, "tag"),
        "ordering": param_text(p, "sort"),
    }


def contact_list(actor: Membership, p: Params) -> QuerySet[Any]:
    return customer_selectors.contact_list(actor=actor, **contact_filters(p))


def contact_list_ids(actor: Membership, p: Params) -> QuerySet[Any, Any] | None:
    """The list's ids walked through the search indexes (pages of a name search)."""
    return customer_selectors.contact_list_ids(actor=actor, **contact_filters(p))


CONTACT = Kind(
    name="contact",
    plural="contacts",
    label=_("Contact"),
    label_plural=_("Contacts"),
    list_qs=contact_list,
    get=lambda actor, pk: customer_selectors.contact_get(actor=actor, contact_id=pk),
    form=web_forms.ContactForm,
    create=lambda actor, d: customer_services.contact_create(
        actor=actor,
        values=values_of(d, CONTACT_VALUES),
        account_id=pk_of(d, "account"),
        owner_id=pk_of(d, "owner"),
    ),
    update=lambda actor, obj, d: customer_services.contact_update(
        actor=actor,
        contact=obj,
        values=values_of(d, CONTACT_VALUES),
        account_id=pk_of(d, "account"),
        clear_account="account" in d and d["account"] is None,
        owner_id=pk_of(d, "owner"),
        tag_ids=tag_ids_of(d),
    ),
    delete=lambda actor, obj: customer_services.contact_delete(actor=actor, contact=obj),
    columns=(
        Column("name", "name_key"),
        Column("account"),
        Column("title"),
        Column("email", default=False),
        Column("phone"),
        Column("city", default=False),
        Column("owner"),
        Column("last_activity_at", default=False),
        Column("created_at", "created_at", default=False),
    ),
    filters=(OWNER_FILTER, ListFilter("city", _("City")), ListFilter("tag", _("Tag"), tag_choices)),
    detail_fields=(
        "account",
        "title",
        "email",
        "phone",
        "wechat",
        "city",
        "preferred_channel",
        "consent_email",
        "consent_sms",
        "consent_phone",
        "consent_wechat",
        "owner",
        "last_activity_at",
        "created_at",
    ),
    inline_fields=frozenset({"name", "title", "email", "phone", "wechat", "city"}),
    bulk_actions=("owner", "tag", "delete"),
    timeline=True,
    restore=contact_restore,
    extra={"list_ids": contact_list_ids},
)

# --- leads --------------------------------------------------------------------------------------

LEAD_VALUES = sales_services.LEAD_FIELDS


def lead_list(actor: Membership, p: Params) -> QuerySet[Any]:
    return sales_selectors.lead_list(
        actor=actor,
        search=param_text(p, "q"),
        status=param_text(p, "status"),
        priority=param_text(p, "priority"),
        owner_id=param_int(p, "owner"),
        source=param_text(p, "source"),
        ordering=param_text(p, "sort"),
    )


LEAD = Kind(
    name="lead",
    plural="leads",
    label=_("Lead"),
    label_plural=_("Leads"),
    list_qs=lead_list,
    get=lambda actor, pk: sales_selectors.lead_get(actor=actor, lead_id=pk),
    form=web_forms.LeadForm,
    create=lambda actor, d: sales_services.lead_create(
        actor=actor, values=values_of(d, LEAD_VALUES), owner_id=pk_of(d, "owner")
    ),
    update=lambda actor, obj, d: sales_services.lead_update(
        actor=actor,
        lead=obj,
        values=values_of(d, LEAD_VALUES),
        owner_id=pk_of(d, "owner"),
        tag_ids=tag_ids_of(d),
    ),
    delete=lambda actor, obj: sales_services.lead_delete(actor=actor, lead=obj),
    columns=(
        Column("name"),
        Column("company"),
        Column("status"),
        Column("priority"),
        Column("score", "score"),
        Column("first_response_due_at", "first_response_due_at"),
        Column("source", default=False),
        Column("phone", default=False),
        Column("owner"),
        Column("created_at", "created_at", default=False),
    ),
    filters=(
        ListFilter("status", _("Status"), choices_of(LeadStatus.choices)),
        ListFilter("priority", _("Priority"), choices_of(Priority.choices)),
        OWNER_FILTER,
        ListFilter("source", _("Source")),
    ),
    detail_fields=(
        "company",
        "title",
        "email",
        "phone",
        "source",
        "region",
        "status",
        "priority",
        "score",
        "first_response_due_at",
        "consent",
        "owner",
        "team",
        "notes",
        "created_at",
    ),
    inline_fields=frozenset(
        {"name", "company", "title", "email", "phone", "source", "status", "priority", "notes"}
    ),
    bulk_actions=("owner", "tag", "delete"),
    timeline=True,
    restore=lead_restore,
)

# --- opportunities ------------------------------------------------------------------------------

OPPORTUNITY_VALUES = sales_services.OPPORTUNITY_FIELDS


def opportunity_list(actor: Membership, p: Params) -> QuerySet[Any]:
    return sales_selectors.opportunity_list(
        actor=actor,
        search=param_text(p, "q"),
        stage_id=param_int(p, "stage"),
        owner_id=param_int(p, "owner"),
        account_id=param_int(p, "account"),
        is_open=param_bool(p, "open"),
        ordering=param_text(p, "sort"),
    )


def _opportunity_create(actor: Membership, d: dict[str, Any]) -> Any:
    return sales_services.opportunity_create(
        actor=actor,
        values=values_of(d, OPPORTUNITY_VALUES),
        pipeline_id=pk_of(d, "pipeline") or (d["stage"].pipeline_id if d.get("stage") else None),
        stage_id=pk_of(d, "stage"),
        account_id=pk_of(d, "account"),
        contact_id=pk_of(d, "contact"),
        lead_id=pk_of(d, "lead"),
        owner_id=pk_of(d, "owner"),
        probability=d.get("probability"),
    )


OPPORTUNITY = Kind(
    name="opportunity",
    plural="opportunities",
    label=_("Opportunity"),
    label_plural=_("Opportunities"),
    list_qs=opportunity_list,
    get=lambda actor, pk: sales_selectors.opportunity_get(actor=actor, opportunity_id=pk),
    form=web_forms.OpportunityForm,
    create=_opportunity_create,
    update=lambda actor, obj, d: sales_services.opportunity_update(
        actor=actor,
        opportunity=obj,
        values=values_of(d, OPPORTUNITY_VALUES),
        account_id=pk_of(d, "account"),
        contact_id=pk_of(d, "contact"),
        owner_id=pk_of(d, "owner"),
        probability=d.get("probability"),
        tag_ids=tag_ids_of(d),
    ),
    delete=lambda actor, obj: sales_services.opportunity_delete(actor=actor, opportunity=obj),
    columns=(
        Column("name"),
        Column("account"),
        Column("stage"),
        Column("amount", "amount"),
        Column("probability", default=False),
        Column("expected_close_date", "expected_close_date"),
        Column("owner"),
        Column("created_at", "created_at", default=False),
    ),
    filters=(
        ListFilter("stage", _("Stage"), stage_choices),
        OWNER_FILTER,
        ListFilter("open", _("Still open"), yes_no),
    ),
    detail_fields=(
        "account",
        "contact",
        "lead",
        "pipeline",
        "stage",
        "amount",
        "currency",
        "probability",
        "expected_close_date",
        "stage_entered_at",
        "closed_at",
        "owner",
        "created_at",
    ),
    inline_fields=frozenset({"name", "amount", "expected_close_date", "probability"}),
    edit_fields=(
        "name",
        "account",
        "contact",
        "amount",
        "currency",
        "probability",
        "expected_close_date",
        "owner",
    ),
    bulk_actions=("owner", "tag", "delete"),
    timeline=True,
    restore=opportunity_restore,
)

# --- activities ---------------------------------------------------------------------------------

ACTIVITY_VALUES = activity_services.ACTIVITY_FIELDS


def activity_list(actor: Membership, p: Params) -> QuerySet[Any]:
    return activity_selectors.activity_list(
        actor=actor,
        search=param_text(p, "q"),
        kind=param_text(p, "kind"),
        owner_id=param_int(p, "owner"),
        ordering=param_text(p, "sort") or "-at",
    )


ACTIVITY = Kind(
    name="activity",
    plural="activities",
    label=_("Activity"),
    label_plural=_("Activities"),
    list_qs=activity_list,
    get=lambda actor, pk: activity_selectors.activity_get(actor=actor, activity_id=pk),
    form=web_forms.ActivityForm,
    create=None,  # logged from a record page (quick action)
    update=lambda actor, obj, d: activity_services.activity_update(
        actor=actor, activity=obj, values=values_of(d, ACTIVITY_VALUES)
    ),
    delete=lambda actor, obj: activity_services.activity_delete(actor=actor, activity=obj),
    columns=(
        Column("at", "at"),
        Column("kind"),
        Column("subject"),
        Column("record"),
        Column("outcome", default=False),
        Column("owner"),
    ),
    filters=(ListFilter("kind", _("Type"), choices_of(ActivityKind.choices)), OWNER_FILTER),
    detail_fields=("kind", "at", "record", "outcome", "duration_minutes", "owner", "body"),
    inline_fields=frozenset({"subject", "outcome", "body"}),
    title_field="subject",
    restore=activity_restore,
)

# --- tasks --------------------------------------------------------------------------------------

TASK_VALUES = activity_services.TASK_FIELDS


def task_list(actor: Membership, p: Params) -> QuerySet[Any]:
    return activity_selectors.task_list(
        actor=actor,
        search=param_text(p, "q"),
        status=param_text(p, "status"),
        assignee_id=param_int(p, "assignee"),
        ordering=param_text(p, "sort"),
    )


TASK = Kind(
    name="task",
    plural="tasks",
    label=_("Task"),
    label_plural=_("Tasks"),
    list_qs=task_list,
    get=lambda actor, pk: activity_selectors.task_get(actor=actor, task_id=pk),
    form=web_forms.TaskForm,
    create=lambda actor, d: activity_services.task_create(
        actor=actor, values=values_of(d, TASK_VALUES), assignee_id=pk_of(d, "assignee")
    ),
    update=lambda actor, obj, d: activity_services.task_update(
        actor=actor,
        task=obj,
        values=values_of(d, TASK_VALUES),
        assignee_id=pk_of(d, "assignee"),
        status=d.get("status") or None,
    ),
    delete=lambda actor, obj: activity_services.task_delete(actor=actor, task=obj),
    columns=(
        Column("title"),
        Column("due_at", "due_at"),
        Column("status"),
        Column("assignee"),
        Column("record"),
        Column("reminder_at", default=False),
    ),
    filters=(
        ListFilter("status", _("Status"), choices_of(TaskStatus.choices)),
        ListFilter("assignee", _("Assignee"), member_choices),
    ),
    detail_fields=("due_at", "status", "assignee", "reminder_at", "record", "notes", "created_at"),
    inline_fields=frozenset({"title", "due_at", "status", "notes"}),
    create_fields=("title", "notes", "due_at", "reminder_at", "assignee"),
    bulk_actions=("owner", "delete"),
    owner_field="assignee",
    title_field="title",
    restore=task_restore,
)

# --- products -----------------------------------------------------------------------------------

PRODUCT_VALUES = sales_services.PRODUCT_FIELDS


def product_list(actor: Membership, p: Params) -> QuerySet[Any]:
    return sales_selectors.product_list(
        search=param_text(p, "q"),
        category=param_text(p, "category"),
        is_active=param_bool(p, "active"),
        ordering=param_text(p, "sort"),
    )


PRODUCT = Kind(
    name="product",
    plural="products",
    label=_("Product"),
    label_plural=_("Products"),
    list_qs=product_list,
    get=lambda actor, pk: sales_selectors.product_get(product_id=pk),
    form=web_forms.ProductForm,
    create=lambda actor, d: sales_services.product_create(
        actor=actor, values=values_of(d, PRODUCT_VALUES)
    ),
    update=lambda actor, obj, d: sales_services.product_update(
        actor=actor, product=obj, values=values_of(d, PRODUCT_VALUES)
    ),
    delete=lambda actor, obj: sales_services.product_delete(actor=actor, product=obj),
    columns=(
        Column("name", "name"),
        Column("sku"),
        Column("category"),
        Column("price", "price"),
        Column("currency", default=False),
        Column("is_active"),
    ),
    filters=(ListFilter("category", _("Category")), ListFilter("active", _("Active"), yes_no)),
    detail_fields=("sku", "category", "price", "currency", "is_active", "created_at"),
    inline_fields=frozenset({"name", "sku", "category", "price"}),
    restore=product_restore,
)

# --- orders -------------------------------------------------------------------------------------

ORDER_VALUES = sales_services.ORDER_FIELDS


def order_list(actor: Membership, p: Params) -> QuerySet[Any]:
    return sales_selectors.order_list(
        actor=actor,
        search=param_text(p, "q", 40),
        status=param_text(p, "status"),
        contact_id=param_int(p, "contact"),
        account_id=param_int(p, "account"),
        ordering=param_text(p, "sort") or "-ordered_at",
    ).select_related("owner")


ORDER = Kind(
    name="order",
    plural="orders",
    label=_("Order"),
    label_plural=_("Orders"),
    list_qs=order_list,
    get=lambda actor, pk: sales_selectors.order_get(actor=actor, order_id=pk),
    form=web_forms.OrderForm,
    create=lambda actor, d: sales_services.order_create(
        actor=actor,
        values=values_of(d, ORDER_VALUES),
        contact_id=pk_of(d, "contact"),
        account_id=pk_of(d, "account"),
        owner_id=pk_of(d, "owner"),
    ),
    update=lambda actor, obj, d: sales_services.order_update(
        actor=actor, order=obj, values=values_of(d, ORDER_VALUES), owner_id=pk_of(d, "owner")
    ),
    delete=lambda actor, obj: sales_services.order_delete(actor=actor, order=obj),
    columns=(
        Column("number"),
        Column("ordered_at", "ordered_at"),
        Column("status"),
        Column("total", "total"),
        Column("contact"),
        Column("account", default=False),
        Column("owner", default=False),
    ),
    filters=(ListFilter("status", _("Status"), choices_of(OrderStatus.choices)),),
    detail_fields=("ordered_at", "status", "total", "currency", "contact", "account", "owner"),
    inline_fields=frozenset({"status"}),
    edit_fields=("number", "ordered_at", "status", "currency", "owner"),
    bulk_actions=("owner", "delete"),
    timeline=True,
    title_field="number",
    restore=order_restore,
)

KINDS: dict[str, Kind] = {
    k.name: k for k in (ACCOUNT, CONTACT, LEAD, OPPORTUNITY, ACTIVITY, TASK, PRODUCT, ORDER)
}
# The kinds whose records have a timeline (crm.activities.records knows them).
TIMELINE_KINDS = frozenset(k.name for k in KINDS.values() if k.timeline)
