"""How a field value is shown on a page: text plus an optional safe link."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.db import models
from django.urls import NoReverseMatch, reverse
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from crm.tenancy.models import Membership

# model label -> record kind name (the URL prefix of its pages)
KIND_OF_MODEL = {
    "customers.account": "account",
    "customers.contact": "contact",
    "sales.lead": "lead",
    "sales.opportunity": "opportunity",
    "sales.order": "order",
    "sales.product": "product",
    "activities.task": "task",
    "activities.activity": "activity",
}
EMPTY = "—"


@dataclass(frozen=True)
class Cell:
    text: str
    url: str | None = None
    external: bool = False


def safe_web_url(value: str) -> str | None:
    """Only http(s) addresses become links: `javascript:` and friends stay plain text."""
    value = (value or "").strip()
    return value if value.lower().startswith(("http://", "https://")) else None


def record_url(kind: str, pk: int) -> str | None:
    try:
        return reverse(f"web:{kind}_detail", kwargs={"pk": pk})
    except NoReverseMatch:
        return None


def title_of(obj: Any) -> str:
    for attr in ("name", "title", "subject", "number"):
        value = getattr(obj, attr, None)
        if value:
            return str(value)
    return f"#{obj.pk}"


def url_of(obj: models.Model) -> str | None:
    kind = KIND_OF_MODEL.get(obj._meta.label_lower)
    return record_url(kind, int(obj.pk)) if kind else None


def format_money(value: Any) -> str:
    """Two decimals with thousands separators, the same in both languages (1,234,567.00)."""
    if value is None or value == "":
        return EMPTY
    return f"{Decimal(value):,.2f}"


def format_value(value: Any) -> str:
    if value is None or value == "":
        return EMPTY
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    if isinstance(value, datetime):
        return formats.date_format(timezone.localtime(value), "Y-m-d H:i")
    if isinstance(value, date):
        return formats.date_format(value, "Y-m-d")
    if isinstance(value, Decimal):
        return format_money(value)
    return str(value)


def display(obj: models.Model, name: str) -> Cell:
    if name == "record":
        record_type = getattr(obj, "record_type", "")
        record_id = getattr(obj, "record_id", None)
        if not record_type or record_id is None:
            return Cell(EMPTY)
        label = obj.get_record_type_display()  # type: ignore[attr-defined]
        return Cell(f"{label} #{record_id}", record_url(record_type, int(record_id)))
    value = getattr(obj, name, None)
    if isinstance(value, Membership):
        return Cell(str(value))
    if isinstance(value, models.Model):
        return Cell(title_of(value), url_of(value))
    if name == "website":
        url = safe_web_url(value or "")
        return Cell(value or EMPTY, url, external=bool(url))
    getter = getattr(obj, f"get_{name}_display", None)
    if getter is not None and value not in (None, ""):
        return Cell(str(getter()))
    return Cell(format_value(value))
