"""The record kinds the pages list, show, create, edit and delete.

Each kind names its selectors and services and how a form's cleaned data maps onto their
keyword arguments; the generic views in `views/records.py` do nothing but parse, call, render.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db.models import QuerySet
from django.utils.functional import Promise
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
from crm.web import services as web_services
from crm.web.selectors import active_members, deleted_record_get

Params = Mapping[str, str]


@dataclass(frozen=True)
class Column:
    key: str
    sort: str = ""  # the selector's ordering key, "" when the column cannot sort
    default: bool = True

    @property
    def label(self) -> Any:
        return web_forms.LABELS.get(self.key, self.key)


@dataclass(frozen=True)
class ListFilter:
    key: str
    label: str | Promise
    choices: Callable[[], list[tuple[str, str]]] | None = None  # None: a text box


@dataclass(frozen=True)
class Kind:
    name: str
    plural: str  # URL segment
    label: str | Promise
    label_plural: str | Promise
    list_qs: Callable[[Membership, Params], QuerySet[Any]]
    get: Callable[[Membership, int], Any]
    form: type[web_forms.ServiceForm]
    create: Callable[[Membership, dict[str, Any]], Any] | None
    update: Callable[[Membership, Any, dict[str, Any]], Any] | None
    delete: Callable[[Membership, Any], None] | None
    columns: tuple[Column, ...]
    filters: tuple[ListFilter, ...] = ()
    detail_fields: tuple[str, ...] = ()
    inline_fields: frozenset[str] = frozenset()
    edit_fields: tuple[str, ...] | None = None  # None: the whole form
    create_fields: tuple[str, ...] | None = None
    bulk_actions: tuple[str, ...] = ("delete",)
    timeline: bool = False
    restore: Callable[[Membership, int], Any] | None = None  # undo of `delete`
    owner_field: str = "owner"
    searchable: bool = True
    title_field: str = "name"
    extra: dict[str, Any] = field(default_factory=dict)

    # Flags for templates (which would call the service functions themselves).
    @property
    def can_create(self) -> bool:
        return self.create is not None

    @property
    def can_update(self) -> bool:
        return self.update is not None

    @property
    def can_delete(self) -> bool:
        return self.delete is not None

    @property
    def can_restore(self) -> bool:
        return self.restore is not None

    @property
    def column_keys(self) -> list[str]:
        return [c.key for c in self.columns]

    @property
    def default_columns(self) -> list[str]:
        return [c.key for c in self.columns if c.default]


# --- parsing list parameters --------------------------------------------------------------------


def _int(params: Params, key: str) -> int | None:
    value = (params.get(key) or "").strip()
    return int(value) if value.isdigit() and len(value) < 19 else None


def _text(params: Params, key: str, limit: int = 100) -> str:
    return (params.get(key) or "").strip()[:limit]


def _bool(params: Params, key: str) -> bool | None:
    value = params.get(key, "")
    return True if value == "1" else False if value == "0" else None


def _values(data: Mapping[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    return {name: data[name] for name in names if name in data}


def _pk(data: Mapping[str, Any], name: str) -> int | None:
    value = data.get(name)
    if value is None:
        return None
    return int(value.pk) if hasattr(value, "pk") else int(value)


def _tag_ids(data: Mapping[str, Any]) -> list[int] | None:
    return [t.pk for t in data["tags"]] if "tags" in data else None


def _restorer(record_type: str) -> Callable[[Membership, int], Any]:
    def restore(actor: Membership, pk: int) -> Any:
        record = deleted_record_get(actor=actor, record_type=record_type, record_id=pk)
        return web_services.record_restore(actor=actor, record=record)

    return restore


def _product_restore(actor: Membership, pk: int) -> Any:
    product = sales_selectors.product_get(product_id=pk)
    return sales_services.product_update(actor=actor, product=product, values={"is_active": True})


def member_choices() -> list[tuple[str, str]]:
    return [(str(m.pk), str(m)) for m in active_members()]


def tag_choices() -> list[tuple[str, str]]:
    return [(str(t.pk), t.name) for t in customer_selectors.tag_list()]


def stage_choices() -> list[tuple[str, str]]:
    return [
        (str(s.pk), f"{s.pipeline.name} · {s.name}")
        for s in sales_selectors.stage_list().select_related("pipeline")
    ]


def yes_no() -> list[tuple[str, str]]:
    return [("1", str(_("Yes"))), ("0", str(_("No")))]


def _choices(choices: list[tuple[str, Any]]) -> Callable[[], list[tuple[str, str]]]:
    return lambda: [(value, str(label)) for value, label in choices]


OWNER_FILTER = ListFilter("owner", _("Owner"), member_choices)


# --- accounts -----------------------------------------------------------------------------------

ACCOUNT_VALUES = customer_services.ACCOUNT_FIELDS


def account_list(actor: Membership, p: Params) -> QuerySet[Any]:
    return customer_selectors.account_list(
        actor=actor,
        search=_text(p, "q"),
        owner_id=_int(p, "owner"),
        industry=_text(p, "industry"),
        city=_text(p, "city"),
        tag_id=_int(p, "tag"),
        ordering=_text(p, "sort"),
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
        values=_values(d, ACCOUNT_VALUES),
        owner_id=_pk(d, "owner"),
        tag_ids=_tag_ids(d),
    ),
    update=lambda actor, obj, d: customer_services.account_update(
        actor=actor,
        account=obj,
        values=_values(d, ACCOUNT_VALUES),
        owner_id=_pk(d, "owner"),
        tag_ids=_tag_ids(d),
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
    restore=_restorer("account"),
)

# --- contacts -----------------------------------------------------------------------------------

CONTACT_VALUES = customer_services.CONTACT_FIELDS


def contact_list(actor: Membership, p: Params) -> QuerySet[Any]:
    return customer_selectors.contact_list(
        actor=actor,
        search=_text(p, "q"),
        account_id=_int(p, "account"),
        owner_id=_int(p, "owner"),
        city=_text(p, "city"),
        tag_id=_int(p, "tag"),
        ordering=_text(p, "sort"),
    )


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
        values=_values(d, CONTACT_VALUES),
        account_id=_pk(d, "account"),
        owner_id=_pk(d, "owner"),
    ),
    update=lambda actor, obj, d: customer_services.contact_update(
        actor=actor,
        contact=obj,
        values=_values(d, CONTACT_VALUES),
        account_id=_pk(d, "account"),
        clear_account="account" in d and d["account"] is None,
        owner_id=_pk(d, "owner"),
        tag_ids=_tag_ids(d),
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
    restore=_restorer("contact"),
)

# --- leads --------------------------------------------------------------------------------------

LEAD_VALUES = sales_services.LEAD_FIELDS


def lead_list(actor: Membership, p: Params) -> QuerySet[Any]:
    return sales_selectors.lead_list(
        actor=actor,
        search=_text(p, "q"),
        status=_text(p, "status"),
        priority=_text(p, "priority"),
        owner_id=_int(p, "owner"),
        source=_text(p, "source"),
        ordering=_text(p, "sort"),
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
        actor=actor, values=_values(d, LEAD_VALUES), owner_id=_pk(d, "owner")
    ),
    update=lambda actor, obj, d: sales_services.lead_update(
        actor=actor,
        lead=obj,
        values=_values(d, LEAD_VALUES),
        owner_id=_pk(d, "owner"),
        tag_ids=_tag_ids(d),
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
        ListFilter("status", _("Status"), _choices(LeadStatus.choices)),
        ListFilter("priority", _("Priority"), _choices(Priority.choices)),
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
    restore=_restorer("lead"),
)

# --- opportunities ------------------------------------------------------------------------------

OPPORTUNITY_VALUES = sales_services.OPPORTUNITY_FIELDS


def opportunity_list(actor: Membership, p: Params) -> QuerySet[Any]:
    return sales_selectors.opportunity_list(
        actor=actor,
        search=_text(p, "q"),
        stage_id=_int(p, "stage"),
        owner_id=_int(p, "owner"),
        account_id=_int(p, "account"),
        is_open=_bool(p, "open"),
        ordering=_text(p, "sort"),
    )


def _opportunity_create(actor: Membership, d: dict[str, Any]) -> Any:
    return sales_services.opportunity_create(
        actor=actor,
        values=_values(d, OPPORTUNITY_VALUES),
        pipeline_id=_pk(d, "pipeline") or (d["stage"].pipeline_id if d.get("stage") else None),
        stage_id=_pk(d, "stage"),
        account_id=_pk(d, "account"),
        contact_id=_pk(d, "contact"),
        lead_id=_pk(d, "lead"),
        owner_id=_pk(d, "owner"),
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
        values=_values(d, OPPORTUNITY_VALUES),
        account_id=_pk(d, "account"),
        contact_id=_pk(d, "contact"),
        owner_id=_pk(d, "owner"),
        probability=d.get("probability"),
        tag_ids=_tag_ids(d),
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
    restore=_restorer("opportunity"),
)

# --- activities ---------------------------------------------------------------------------------

ACTIVITY_VALUES = activity_services.ACTIVITY_FIELDS


def activity_list(actor: Membership, p: Params) -> QuerySet[Any]:
    return activity_selectors.activity_list(
        actor=actor,
        search=_text(p, "q"),
        kind=_text(p, "kind"),
        owner_id=_int(p, "owner"),
        ordering=_text(p, "sort") or "-at",
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
        actor=actor, activity=obj, values=_values(d, ACTIVITY_VALUES)
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
    filters=(ListFilter("kind", _("Type"), _choices(ActivityKind.choices)), OWNER_FILTER),
    detail_fields=("kind", "at", "record", "outcome", "duration_minutes", "owner", "body"),
    inline_fields=frozenset({"subject", "outcome", "body"}),
    title_field="subject",
)

# --- tasks --------------------------------------------------------------------------------------

TASK_VALUES = activity_services.TASK_FIELDS


def task_list(actor: Membership, p: Params) -> QuerySet[Any]:
    return activity_selectors.task_list(
        actor=actor,
        search=_text(p, "q"),
        status=_text(p, "status"),
        assignee_id=_int(p, "assignee"),
        ordering=_text(p, "sort"),
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
        actor=actor, values=_values(d, TASK_VALUES), assignee_id=_pk(d, "assignee")
    ),
    update=lambda actor, obj, d: activity_services.task_update(
        actor=actor,
        task=obj,
        values=_values(d, TASK_VALUES),
        assignee_id=_pk(d, "assignee"),
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
        ListFilter("status", _("Status"), _choices(TaskStatus.choices)),
        ListFilter("assignee", _("Assignee"), member_choices),
    ),
    detail_fields=("due_at", "status", "assignee", "reminder_at", "record", "notes", "created_at"),
    inline_fields=frozenset({"title", "due_at", "status", "notes"}),
    create_fields=("title", "notes", "due_at", "reminder_at", "assignee"),
    bulk_actions=("owner", "delete"),
    owner_field="assignee",
    title_field="title",
)

# --- products -----------------------------------------------------------------------------------

PRODUCT_VALUES = sales_services.PRODUCT_FIELDS


def product_list(actor: Membership, p: Params) -> QuerySet[Any]:
    return sales_selectors.product_list(
        search=_text(p, "q"),
        category=_text(p, "category"),
        is_active=_bool(p, "active"),
        ordering=_text(p, "sort"),
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
        actor=actor, values=_values(d, PRODUCT_VALUES)
    ),
    update=lambda actor, obj, d: sales_services.product_update(
        actor=actor, product=obj, values=_values(d, PRODUCT_VALUES)
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
    restore=_product_restore,
)

# --- orders -------------------------------------------------------------------------------------

ORDER_VALUES = sales_services.ORDER_FIELDS


def order_list(actor: Membership, p: Params) -> QuerySet[Any]:
    return sales_selectors.order_list(
        actor=actor,
        search=_text(p, "q", 40),
        status=_text(p, "status"),
        contact_id=_int(p, "contact"),
        account_id=_int(p, "account"),
        ordering=_text(p, "sort") or "-ordered_at",
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
        values=_values(d, ORDER_VALUES),
        contact_id=_pk(d, "contact"),
        account_id=_pk(d, "account"),
        owner_id=_pk(d, "owner"),
    ),
    update=lambda actor, obj, d: sales_services.order_update(
        actor=actor, order=obj, values=_values(d, ORDER_VALUES), owner_id=_pk(d, "owner")
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
    filters=(ListFilter("status", _("Status"), _choices(OrderStatus.choices)),),
    detail_fields=("ordered_at", "status", "total", "currency", "contact", "account", "owner"),
    inline_fields=frozenset({"status"}),
    edit_fields=("number", "ordered_at", "status", "currency", "owner"),
    bulk_actions=("owner", "delete"),
    timeline=True,
    title_field="number",
)

KINDS: dict[str, Kind] = {
    k.name: k for k in (ACCOUNT, CONTACT, LEAD, OPPORTUNITY, ACTIVITY, TASK, PRODUCT, ORDER)
}
# The kinds whose records have a timeline (crm.activities.records knows them).
TIMELINE_KINDS = frozenset(k.name for k in KINDS.values() if k.timeline)
