"""API schemas for accounts, contacts and tags.

Contact email, phone and ID number are shown in clear only to credentials with the `pii` scope;
otherwise they are masked (z***@example.com, +86138****8000).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Literal

from ninja import Field, Schema

from crm.core.api import (
    Id,
    InSchema,
    ListParams,
    Name60,
    Name200,
    Search,
    Str40,
    Str60,
    Str100,
    Str200,
    Str254,
    mask_email,
    mask_id_number,
    mask_phone,
    optional,
    page_of,
    shows_pii,
)
from crm.customers.models import Channel

TagIds = list[Id]
NAME_ORDERINGS = {"name": "name_key", "-name": "-name_key"}
NameOrdering = Literal["id", "-id", "name", "-name", "created_at", "-created_at"]


def tag_ids_of(obj: Any) -> list[int]:
    """Sorted tag ids of a record (the order every list and detail answer uses)."""
    # Lists prefetch into a plain list (see selectors.with_tag_ids): reading `obj.tags.all()`
    # there would build a queryset per row, a third of a list request's CPU time.
    prefetched = getattr(obj, "prefetched_tags", None)
    if prefetched is not None:
        return sorted(tag.pk for tag in prefetched)
    return sorted(tag.pk for tag in obj.tags.all())


# --- tags ---------------------------------------------------------------------------------------


class TagOut(Schema):
    id: int
    name: str
    color: str
    created_at: datetime


class TagFilter(ListParams):
    search: Search = ""


class TagIn(InSchema):
    name: Name60
    color: str = Field("#6c757d", pattern=r"^#[0-9a-fA-F]{6}$")


class TagPatch(InSchema):
    name: Name60 = optional()
    color: str = optional(pattern=r"^#[0-9a-fA-F]{6}$")


# --- accounts -----------------------------------------------------------------------------------


class AccountOut(Schema):
    id: int
    name: str
    industry: str
    size: str
    region: str
    city: str
    source: str
    website: str
    phone: str
    owner_id: int | None
    external_id: str
    tag_ids: list[int]
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_tag_ids(obj: Any) -> list[int]:
        return tag_ids_of(obj)


class AccountFilter(ListParams):
    search: Search = ""
    owner_id: Id | None = None
    industry: Str100 = ""
    city: Str100 = ""
    tag_id: Id | None = None
    ordering: NameOrdering = "-id"

    ordering_map: ClassVar[dict[str, str]] = NAME_ORDERINGS


class AccountIn(InSchema):
    name: Name200
    industry: Str100 = ""
    size: Str40 = ""
    region: Str100 = ""
    city: Str100 = ""
    source: Str60 = ""
    website: Str200 = ""
    phone: Str40 = ""
    external_id: Str100 = ""
    owner_id: Id | None = Field(None, description="A member of your tenant; you by default.")
    tag_ids: TagIds | None = Field(None, max_length=100)


class AccountPatch(InSchema):
    name: Name200 = optional()
    industry: Str100 = optional()
    size: Str40 = optional()
    region: Str100 = optional()
    city: Str100 = optional()
    source: Str60 = optional()
    website: Str200 = optional()
    phone: Str40 = optional()
    external_id: Str100 = optional()
    owner_id: Id = optional()
    tag_ids: TagIds = optional(max_length=100, description="Replaces the tags.")


# --- contacts -----------------------------------------------------------------------------------


class ContactOut(Schema):
    id: int
    name: str
    title: str
    email: str = Field(description="Masked unless the credentials have the `pii` scope.")
    phone: str = Field(description="E.164; masked unless the credentials have `pii`.")
    id_number: str = Field(description="Masked unless the credentials have `pii`.")
    wechat: str
    city: str
    preferred_channel: Channel | Literal[""]
    consent_email: bool
    consent_sms: bool
    consent_phone: bool
    consent_wechat: bool
    account_id: int | None
    owner_id: int | None
    external_id: str
    last_activity_at: datetime | None
    tag_ids: list[int]
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_tag_ids(obj: Any) -> list[int]:
        return tag_ids_of(obj)

    @staticmethod
    def resolve_email(obj: Any, context: Any) -> str:
        return str(obj.email) if shows_pii(context) else mask_email(obj.email)

    @staticmethod
    def resolve_phone(obj: Any, context: Any) -> str:
        return str(obj.phone) if shows_pii(context) else mask_phone(obj.phone)

    @staticmethod
    def resolve_id_number(obj: Any, context: Any) -> str:
        return str(obj.id_number) if shows_pii(context) else mask_id_number(obj.id_number)


# The contact's own columns that ContactOut shows (all its fields but the tag ids), in order.
CONTACT_FIELDS = tuple(ContactOut.model_fields)
CONTACT_COLUMNS = tuple(name for name in CONTACT_FIELDS if name != "tag_ids")


def contact_item(row: dict[str, Any], tag_ids: list[int], *, pii: bool) -> dict[str, Any]:
    """What ContactOut renders for a `.values(*CONTACT_COLUMNS)` row, without validating it.

    The columns already have the fields' types (the database columns behind ContactOut), so the
    only work validation would do per row is the resolvers above, done here directly. The tests
    pin that every list item equals the contact's detail answer (the validated path).
    """
    item = {name: row[name] for name in CONTACT_COLUMNS}
    item["tag_ids"] = tag_ids
    if not pii:
        item["email"] = mask_email(item["email"])
        item["phone"] = mask_phone(item["phone"])
        item["id_number"] = mask_id_number(item["id_number"])
    return {name: item[name] for name in CONTACT_FIELDS}


class ContactFilter(ListParams):
    search: Search = Field("", description="Name, pinyin, initials, or an exact email/phone.")
    account_id: Id | None = None
    owner_id: Id | None = None
    city: Str100 = ""
    tag_id: Id | None = None
    ordering: NameOrdering = "-id"

    ordering_map: ClassVar[dict[str, str]] = NAME_ORDERINGS


class ContactIn(InSchema):
    name: Name200
    title: Str100 = ""
    email: Str254 = ""
    phone: Str40 = ""
    id_number: Str40 = ""
    wechat: Str100 = ""
    city: Str100 = ""
    preferred_channel: Channel | Literal[""] = ""
    consent_email: bool = False
    consent_sms: bool = False
    consent_phone: bool = False
    consent_wechat: bool = False
    external_id: Str100 = ""
    account_id: Id | None = None
    owner_id: Id | None = Field(None, description="A member of your tenant; you by default.")
    tag_ids: TagIds | None = Field(None, max_length=100)


class ContactPatch(InSchema):
    name: Name200 = optional()
    title: Str100 = optional()
    email: Str254 = optional()
    phone: Str40 = optional()
    id_number: Str40 = optional()
    wechat: Str100 = optional()
    city: Str100 = optional()
    preferred_channel: Channel | Literal[""] = optional()
    consent_email: bool = optional()
    consent_sms: bool = optional()
    consent_phone: bool = optional()
    consent_wechat: bool = optional()
    external_id: Str100 = optional()
    account_id: Id | None = Field(None, description="null detaches the contact from its account.")
    owner_id: Id = optional()
    tag_ids: TagIds = optional(max_length=100, description="Replaces the tags.")


TagPage = page_of(TagOut)
AccountPage = page_of(AccountOut)
ContactPage = page_of(ContactOut)
