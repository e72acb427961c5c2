"""Every write to accounts, contacts and tags."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from crm.core import crypto
from crm.core.company_keys import account_company_keys
from crm.core.mailbox import stored_email_alias
from crm.core.normalise import (
    InvalidValueError,
    name_key,
    normalise_email,
    normalise_id_number,
    normalise_phone,
    pinyin_keys,
)
from crm.core.writes import editable_field_names, field_error, snapshot
from crm.customers.models import Account, Contact, Tag
from crm.events.crud import assign, hard_delete, resolve, resolve_owner, save_changes, save_new
from crm.events.crud import restore as _restore
from crm.events.crud import soft_delete as _soft_delete
from crm.tenancy.models import Membership
from crm.tenancy.permissions import (
    require_editable,
    require_restorable,
    require_write,
)

ACCOUNT_FIELDS = (
    "name",
    "industry",
    "size",
    "region",
    "city",
    "source",
    "website",
    "phone",
    "external_id",
)
CONTACT_FIELDS = (
    "name",
    "title",
    "email",
    "phone",
    "id_number",
    "wechat",
    "city",
    "preferred_channel",
    "consent_email",
    "consent_sms",
    "consent_phone",
    "consent_wechat",
    "external_id",
)
NAME_KEY_FIELDS = ("name_key", "pinyin_key", "initials_key")
COMPANY_KEY_FIELDS = ("core_name_key", "phone_key", "website_key")
CONTACT_INDEX_FIELDS = ("email_index", "email_alias_index", "phone_index", "id_number_index")


def apply_name_keys(instance: Any, name: str) -> None:
    instance.name_key = name_key(name)[:200]
    instance.pinyin_key, initials = pinyin_keys(name)
    instance.pinyin_key = instance.pinyin_key[:200]
    instance.initials_key = initials[:60]


def apply_company_keys(account: Any) -> None:
    """The keys an account's likely duplicates are looked up by (crm.core.company_keys)."""
    account.core_name_key, account.phone_key, account.website_key = account_company_keys(
        account.name or "", account.phone or "", account.website or ""
    )


def personal_data_indexes(values: Mapping[str, Any]) -> dict[str, str | None]:
    """Normalise email / phone / ID number and return their blind indexes (or field errors),
    with the email's `email_alias_index`."""
    indexes: dict[str, str | None] = {}
    normalisers = {
        "email": normalise_email,
        "phone": normalise_phone,
        "id_number": normalise_id_number,
    }
    for field, normalise in normalisers.items():
        if field not in values:
            continue
        raw = (values[field] or "").strip()
        if field == "email":
            indexes["email_alias_index"] = None
        if not raw:
            indexes[f"{field}_index"] = ""
            continue
        try:
            clean = normalise(raw)
        except InvalidValueError as exc:
            raise field_error(field, _(str(exc))) from exc
        indexes[f"{field}_index"] = crypto.blind_index(field, clean)
        if field == "email":
            indexes["email_alias_index"] = stored_email_alias(clean)
    return indexes


def normalise_personal_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """Email lower-cased and phone in E.164 before encryption, so what is shown is clean."""
    cleaned = dict(values)
    try:
        if cleaned.get("email"):
            cleaned["email"] = normalise_email(cleaned["email"])
        if cleaned.get("phone"):
            cleaned["phone"] = normalise_phone(cleaned["phone"])
    except InvalidValueError as exc:
        field = "email" if "email" in str(exc).lower() else "phone"
        raise field_error(field, _(str(exc))) from exc
    return cleaned


def tags_set(instance: Any, tag_ids: Iterable[int] | None) -> None:
    """Replace a record's tags (None leaves them); every id must be a tag of this tenant."""
    if tag_ids is None:
        return
    ids = list(dict.fromkeys(tag_ids))
    tags = list(Tag.objects.filter(pk__in=ids))
    if len(tags) != len(ids):
        raise field_error("tag_ids", _("No such tag."))
    instance.tags.set(tags)


# --- accounts -----------------------------------------------------------------------------------


@transaction.atomic
def account_create(
    *,
    actor: Membership,
    values: Mapping[str, Any],
    owner_id: int | None = None,
    tag_ids: Iterable[int] | None = None,
) -> Account:
    require_write(actor)
    account = Account(owner=resolve_owner(actor, owner_id))
    assign(account, values, ACCOUNT_FIELDS)
    apply_name_keys(account, account.name)
    apply_company_keys(account)
    save_new(actor, account)
    tags_set(account, tag_ids)
    return account


@transaction.atomic
def account_update(
    *,
    actor: Membership,
    account: Account,
    values: Mapping[str, Any],
    owner_id: int | None = None,
    tag_ids: Iterable[int] | None = None,
) -> Account:
    require_editable(actor, account.owner)
    before = snapshot(account, editable_field_names(Account))
    assign(account, values, ACCOUNT_FIELDS)
    if owner_id is not None:
        account.owner = resolve_owner(actor, owner_id)
    apply_name_keys(account, account.name)
    apply_company_keys(account)
    save_changes(actor, account, before, derived=NAME_KEY_FIELDS + COMPANY_KEY_FIELDS)
    tags_set(account, tag_ids)
    return account


@transaction.atomic
def account_delete(*, actor: Membership, account: Account) -> None:
    """Soft delete: the account leaves lists and lookups; `account_restore` undoes it."""
    require_editable(actor, account.owner)
    _soft_delete(actor, account)


@transaction.atomic
def account_restore(*, actor: Membership, account: Account) -> Account:
    """Undo `account_delete` (the account comes from a selector of deleted records)."""
    require_restorable(actor, account.owner)
    _restore(actor, account)
    return account


# --- contacts -----------------------------------------------------------------------------------


@transaction.atomic
def contact_create(
    *,
    actor: Membership,
    values: Mapping[str, Any],
    account_id: int | None = None,
    owner_id: int | None = None,
    tag_ids: Iterable[int] | None = None,
) -> Contact:
    require_write(actor)
    values = normalise_personal_values(values)
    contact = Contact(
        owner=resolve_owner(actor, owner_id), account=resolve(Account, account_id, "account_id")
    )
    assign(contact, values, CONTACT_FIELDS)
    for field, index in personal_data_indexes(values).items():
        setattr(contact, field, index)
    apply_name_keys(contact, contact.name)
    save_new(actor, contact)
    tags_set(contact, tag_ids)
    return contact


@transaction.atomic
def contact_update(
    *,
    actor: Membership,
    contact: Contact,
    values: Mapping[str, Any],
    account_id: int | None = None,
    clear_account: bool = False,
    owner_id: int | None = None,
    tag_ids: Iterable[int] | None = None,
) -> Contact:
    require_editable(actor, contact.owner)
    before = snapshot(contact, editable_field_names(Contact))
    values = normalise_personal_values(values)
    assign(contact, values, CONTACT_FIELDS)
    for field, index in personal_data_indexes(values).items():
        setattr(contact, field, index)
    if account_id is not None:
        contact.account = resolve(Account, account_id, "account_id")
    elif clear_account:
        contact.account = None
    if owner_id is not None:
        contact.owner = resolve_owner(actor, owner_id)
    apply_name_keys(contact, contact.name)
    save_changes(actor, contact, before, derived=NAME_KEY_FIELDS + CONTACT_INDEX_FIELDS)
    tags_set(contact, tag_ids)
    return contact


@transaction.atomic
def contact_delete(*, actor: Membership, contact: Contact) -> None:
    """Soft delete: the contact leaves lists and lookups; `contact_restore` undoes it."""
    require_editable(actor, contact.owner)
    _soft_delete(actor, contact)


@transaction.atomic
def contact_restore(*, actor: Membership, contact: Contact) -> Contact:
    """Undo `contact_delete` (the contact comes from a selector of deleted records)."""
    require_restorable(actor, contact.owner)
    _restore(actor, contact)
    return contact


# --- tags ---------------------------------------------------------------------------------------


@transaction.atomic
def tag_create(*, actor: Membership, name: str, color: str = "#6c757d") -> Tag:
    require_write(actor)
    if Tag.objects.filter(name=name).exists():
        raise field_error("name", _("A tag with this name exists."))
    return save_new(actor, Tag(name=name, color=color))


@transaction.atomic
def tag_update(*, actor: Membership, tag: Tag, values: Mapping[str, Any]) -> Tag:
    require_write(actor)
    before = snapshot(tag, ["name", "color"])
    assign(tag, values, ("name", "color"))
    if Tag.objects.filter(name=tag.name).exclude(pk=tag.pk).exists():
        raise field_error("name", _("A tag with this name exists."))
    save_changes(actor, tag, before)
    return tag


@transaction.atomic
def tag_delete(*, actor: Membership, tag: Tag) -> None:
    require_write(actor)
    hard_delete(actor, tag)
