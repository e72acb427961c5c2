"""The duplicate check of the create forms: before a contact, lead or account is saved, the
records it would duplicate (the scan's keys and scores) are shown, with "create anyway"."""

from __future__ import annotations

from typing import Any

from crm.integrations.selectors import LikelyDuplicate, likely_duplicates
from crm.tenancy.models import Membership

CHECKED_KINDS = ("contact", "lead", "account")
#: the field the person confirms with after seeing the likely duplicates
CREATE_ANYWAY = "create_anyway"
_MATCHED = ("name", "email", "phone", "city", "company", "website")


def check(actor: Membership, kind_name: str, cleaned: dict[str, Any]) -> list[LikelyDuplicate]:
    if kind_name not in CHECKED_KINDS:
        return []
    values = {k: str(cleaned[k]) for k in _MATCHED if cleaned.get(k)}
    account = cleaned.get("account")
    if account is not None:
        values["account_id"] = getattr(account, "pk", account)
    if not values.get("name") and not values.get("email") and not values.get("phone"):
        return []
    return likely_duplicates(actor=actor, record_type=kind_name, values=values)
