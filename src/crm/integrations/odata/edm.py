"""The entity data model of the feed: entity sets, their properties and the CSDL document.

Each entity set names its properties as (OData name, Django lookup path); the EDM type, its
facets and nullability are read from the model fields, so the document cannot drift from the
tables. Only these properties can be selected, filtered or sorted on (an allow-list); encrypted
personal data can be selected (masked without the `pii` scope) but never filtered or sorted,
since the stored ciphertext says nothing about the value.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from html import escape
from typing import Any

from django.db import models
from django.db.models import QuerySet

from crm.core.api import mask_email, mask_id_number, mask_phone
from crm.core.fields import EncryptedTextField
from crm.tenancy.models import Membership

NAMESPACE = "Crm"
MASKS: dict[str, Callable[[str], str]] = {
    "email": mask_email,
    "phone": mask_phone,
    "id_number": mask_id_number,
}
OWNER = (("OwnerId", "owner_id"), ("OwnerName", "owner__display_name"))


@dataclass(frozen=True)
class Prop:
    name: str  # the OData name
    path: str  # the Django lookup path
    kind: str  # string, int32, int64, decimal, bool, date, datetime
    nullable: bool
    max_length: int | None = None
    precision: int | None = None
    scale: int | None = None
    mask: str = ""  # a key of MASKS: personal data, masked without the `pii` scope
    queryable: bool = True  # may appear in $filter and $orderby

    @property
    def edm_type(self) -> str:
        return EDM_TYPES[self.kind]


EDM_TYPES = {
    "string": "Edm.String",
    "int32": "Edm.Int32",
    "int64": "Edm.Int64",
    "decimal": "Edm.Decimal",
    "bool": "Edm.Boolean",
    "date": "Edm.Date",
    "datetime": "Edm.DateTimeOffset",
}


@dataclass(frozen=True)
class EntitySet:
    name: str  # Contacts
    type_name: str  # Contact
    props: dict[str, Prop]
    rows: Callable[[Membership], QuerySet[Any]]  # the rows the member may see, unordered

    @property
    def key(self) -> Prop:
        return self.props["Id"]


def _kind(field: models.Field[Any, Any]) -> str:
    if isinstance(field, models.BooleanField):
        return "bool"
    if isinstance(field, models.DateTimeField):
        return "datetime"
    if isinstance(field, models.DateField):
        return "date"
    if isinstance(field, models.DecimalField):
        return "decimal"
    if isinstance(field, models.BigIntegerField | models.BigAutoField | models.ForeignKey):
        return "int64"
    if isinstance(field, models.IntegerField | models.AutoField):
        return "int32"
    if isinstance(field, models.CharField | models.TextField):
        return "string"
    raise TypeError(f"No EDM type for {field!r}")  # pragma: no cover - a programming error


def _prop(model: type[models.Model], name: str, path: str, mask: str = "") -> Prop:
    """Walk `path` (owner__display_name, account_id) through the model's fields."""
    nullable = False
    parts = path.split("__")
    current: type[models.Model] = model
    for part in parts[:-1]:
        relation = current._meta.get_field(part)
        nullable = nullable or bool(relation.null)
        current = relation.related_model  # type: ignore[assignment]
    last = parts[-1]
    if last.endswith("_id") and not any(f.name == last for f in current._meta.get_fields()):
        field: Any = current._meta.get_field(last.removesuffix("_id"))
    else:
        field = current._meta.get_field(last)
    nullable = nullable or bool(field.null)
    kind = "int64" if field.is_relation else _kind(field)
    return Prop(
        name=name,
        path=path,
        kind=kind,
        nullable=nullable,
        max_length=getattr(field, "max_length", None) if kind == "string" else None,
        precision=getattr(field, "max_digits", None),
        scale=getattr(field, "decimal_places", None),
        mask=mask,
        queryable=not isinstance(field, EncryptedTextField),
    )


def _entity_set(
    name: str,
    type_name: str,
    model: type[models.Model],
    rows: Callable[[Membership], QuerySet[Any]],
    fields: tuple[tuple[str, str] | tuple[str, str, str], ...],
) -> EntitySet:
    props = {}
    for spec in (("Id", "id"), *fields, ("CreatedAt", "created_at")):
        prop = _prop(model, *spec)
        props[prop.name] = prop
    return EntitySet(name=name, type_name=type_name, props=props, rows=rows)


@cache
def entity_sets() -> dict[str, EntitySet]:
    """Every entity set by name (built once, after the models are loaded)."""
    from crm.activities.models import Activity
    from crm.activities.selectors import activity_list
    from crm.customers.models import Account, Contact
    from crm.customers.selectors import account_list, contact_list
    from crm.sales.models import Lead, Opportunity, Order, OrderLine, StageChange
    from crm.sales.selectors import (
        lead_list,
        opportunity_list,
        order_line_list,
        order_list,
        stage_change_list,
    )

    sets = [
        _entity_set(
            "Accounts",
            "Account",
            Account,
            lambda actor: account_list(actor=actor),
            (
                ("Name", "name"),
                ("Industry", "industry"),
                ("Size", "size"),
                ("Region", "region"),
                ("City", "city"),
                ("Source", "source"),
                ("Website", "website"),
                ("Phone", "phone"),
                *OWNER,
                ("ExternalId", "external_id"),
                ("UpdatedAt", "updated_at"),
            ),
        ),
        _entity_set(
            "Contacts",
            "Contact",
            Contact,
            lambda actor: contact_list(actor=actor),
            (
                ("Name", "name"),
                ("Title", "title"),
                ("Email", "email", "email"),
                ("Phone", "phone", "phone"),
                ("IdNumber", "id_number", "id_number"),
                ("Wechat", "wechat"),
                ("City", "city"),
                ("PreferredChannel", "preferred_channel"),
                ("ConsentEmail", "consent_email"),
                ("ConsentSms", "consent_sms"),
                ("ConsentPhone", "consent_phone"),
                ("ConsentWechat", "consent_wechat"),
                ("AccountId", "account_id"),
                ("AccountName", "account__name"),
                *OWNER,
                ("ExternalId", "external_id"),
                ("LastActivityAt", "last_activity_at"),
                ("UpdatedAt", "updated_at"),
            ),
        ),
        _entity_set(
            "Leads",
            "Lead",
            Lead,
            lambda actor: lead_list(actor=actor),
            (
                ("Name", "name"),
                ("Company", "company"),
                ("Title", "title"),
                ("Email", "email", "email"),
                ("Phone", "phone", "phone"),
                ("Source", "source"),
                ("Region", "region"),
                ("Status", "status"),
                ("Score", "score"),
                ("Priority", "priority"),
                *OWNER,
                ("TeamId", "team_id"),
                ("FirstResponseDueAt", "first_response_due_at"),
                ("LastInteractionAt", "last_interaction_at"),
                ("ContactCount", "contact_count"),
                ("Consent", "consent"),
                ("ConvertedContactId", "converted_contact_id"),
                ("ConvertedAccountId", "converted_account_id"),
                ("ConvertedAt", "converted_at"),
                ("UpdatedAt", "updated_at"),
            ),
        ),
        _entity_set(
            "Opportunities",
            "Opportunity",
            Opportunity,
            lambda actor: opportunity_list(actor=actor),
            (
                ("Name", "name"),
                ("AccountId", "account_id"),
                ("ContactId", "contact_id"),
                ("LeadId", "lead_id"),
                ("PipelineId", "pipeline_id"),
                ("PipelineName", "pipeline__name"),
                ("StageId", "stage_id"),
                ("StageName", "stage__name"),
                ("StageIsWon", "stage__is_won"),
                ("StageIsLost", "stage__is_lost"),
                ("Amount", "amount"),
                ("Currency", "currency"),
                ("Probability", "probability"),
                ("ExpectedCloseDate", "expected_close_date"),
                *OWNER,
                ("StageEnteredAt", "stage_entered_at"),
                ("ClosedAt", "closed_at"),
                ("UpdatedAt", "updated_at"),
            ),
        ),
        _entity_set(
            "StageChanges",
            "StageChange",
            StageChange,
            lambda actor: stage_change_list(actor=actor),
            (
                ("OpportunityId", "opportunity_id"),
                ("FromStageId", "from_stage_id"),
                ("FromStageName", "from_stage__name"),
                ("ToStageId", "to_stage_id"),
                ("ToStageName", "to_stage__name"),
                ("At", "at"),
                ("ById", "by_id"),
                ("Amount", "amount"),
            ),
        ),
        _entity_set(
            "Activities",
            "Activity",
            Activity,
            lambda actor: activity_list(actor=actor),
            (
                ("Kind", "kind"),
                ("Subject", "subject"),
                ("At", "at"),
                ("Outcome", "outcome"),
                ("DurationMinutes", "duration_minutes"),
                ("RecordType", "record_type"),
                ("RecordId", "record_id"),
                *OWNER,
                ("UpdatedAt", "updated_at"),
            ),
        ),
        _entity_set(
            "Orders",
            "Order",
            Order,
            lambda actor: order_list(actor=actor),
            (
                ("Number", "number"),
                ("ContactId", "contact_id"),
                ("AccountId", "account_id"),
                ("OpportunityId", "opportunity_id"),
                ("OrderedAt", "ordered_at"),
                ("Status", "status"),
                ("Total", "total"),
                ("Currency", "currency"),
                *OWNER,
                ("UpdatedAt", "updated_at"),
            ),
        ),
        _entity_set(
            "OrderLines",
            "OrderLine",
            OrderLine,
            lambda actor: order_line_list(actor=actor),
            (
                ("OrderId", "order_id"),
                ("ProductId", "product_id"),
                ("ProductName", "product__name"),
                ("Description", "description"),
                ("Category", "category"),
                ("Quantity", "quantity"),
                ("UnitPrice", "unit_price"),
                ("Amount", "amount"),
            ),
        ),
    ]
    return {s.name: s for s in sets}


def _property_xml(prop: Prop) -> str:
    facets = f' Nullable="{"true" if prop.nullable else "false"}"'
    if prop.max_length:
        facets += f' MaxLength="{prop.max_length}"'
    if prop.kind == "decimal":
        facets += f' Precision="{prop.precision}" Scale="{prop.scale}"'
    if prop.kind == "datetime":
        facets += ' Precision="6"'
    return f'<Property Name="{escape(prop.name)}" Type="{prop.edm_type}"{facets}/>'


@cache
def metadata_xml() -> str:
    """The CSDL XML document served at $metadata."""
    lines = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<edmx:Edmx xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx" Version="4.0">',
        "<edmx:DataServices>",
        f'<Schema xmlns="http://docs.oasis-open.org/odata/ns/edm" Namespace="{NAMESPACE}">',
    ]
    sets = entity_sets().values()
    for entity_set in sets:
        lines.append(f'<EntityType Name="{entity_set.type_name}">')
        lines.append('<Key><PropertyRef Name="Id"/></Key>')
        lines.extend(_property_xml(p) for p in entity_set.props.values())
        lines.append("</EntityType>")
    lines.append('<EntityContainer Name="Container">')
    for entity_set in sets:
        lines.append(
            f'<EntitySet Name="{entity_set.name}" EntityType="{NAMESPACE}.{entity_set.type_name}"/>'
        )
    lines += ["</EntityContainer>", "</Schema>", "</edmx:DataServices>", "</edmx:Edmx>"]
    return "\n".join(lines) + "\n"
