"""The building blocks of the record kinds (kinds.py): what a kind is, its list columns and
filters, how list parameters and form data are read, and the undo of a delete."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db.models import QuerySet
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from crm.activities import selectors as activity_selectors
from crm.activities import services as activity_services
from crm.customers import selectors as customer_selectors
from crm.customers import services as customer_services
from crm.sales import selectors as sales_selectors
from crm.sales import services as sales_services
from crm.tenancy.models import Membership
from crm.web import forms as web_forms
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


def param_int(params: Params, key: str) -> int | None:
    value = (params.get(key) or "").strip()
    return int(value) if value.isdigit() and len(value) < 19 else None


def param_text(params: Params, key: str, limit: int = 100) -> str:
    return (params.get(key) or "").strip()[:limit]


def param_bool(params: Params, key: str) -> bool | None:
    value = params.get(key, "")
    return True if value == "1" else False if value == "0" else None


def values_of(data: Mapping[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    return {name: data[name] for name in names if name in data}


def pk_of(data: Mapping[str, Any], name: str) -> int | None:
    value = data.get(name)
    if value is None:
        return None
    return int(value.pk) if hasattr(value, "pk") else int(value)


def tag_ids_of(data: Mapping[str, Any]) -> list[int] | None:
    return [t.pk for t in data["tags"]] if "tags" in data else None


def lead_restore(actor: Membership, pk: int) -> Any:
    lead = deleted_record_get(actor=actor, record_type="lead", record_id=pk)
    return sales_services.lead_restore(actor=actor, lead=lead)


def opportunity_restore(actor: Membership, pk: int) -> Any:
    opportunity = deleted_record_get(actor=actor, record_type="opportunity", record_id=pk)
    return sales_services.opportunity_restore(actor=actor, opportunity=opportunity)


def account_restore(actor: Membership, pk: int) -> Any:
    account = deleted_record_get(actor=actor, record_type="account", record_id=pk)
    return customer_services.account_restore(actor=actor, account=account)


def contact_restore(actor: Membership, pk: int) -> Any:
    contact = deleted_record_get(actor=actor, record_type="contact", record_id=pk)
    return customer_services.contact_restore(actor=actor, contact=contact)


def activity_restore(actor: Membership, pk: int) -> Any:
    activity = activity_selectors.activity_get_deleted(actor=actor, activity_id=pk)
    return activity_services.activity_restore(actor=actor, activity=activity)


def task_restore(actor: Membership, pk: int) -> Any:
    task = activity_selectors.task_get_deleted(actor=actor, task_id=pk)
    return activity_services.task_restore(actor=actor, task=task)


def order_restore(actor: Membership, pk: int) -> Any:
    order = sales_selectors.order_get_deleted(actor=actor, order_id=pk)
    return sales_services.order_restore(actor=actor, order=order)


def product_restore(actor: Membership, pk: int) -> Any:
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


def choices_of(choices: list[tuple[str, Any]]) -> Callable[[], list[tuple[str, str]]]:
    return lambda: [(value, str(label)) for value, label in choices]


OWNER_FILTER = ListFilter("owner", _("Owner"), member_choices)
