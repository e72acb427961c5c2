"""What every page's shell needs: the tenant, the member, navigation by role, an undo offer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest
from django.urls import reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from crm.tenancy.models import Role


@dataclass(frozen=True)
class NavItem:
    url_name: str
    label: str | Promise
    roles: frozenset[str] | None = None  # None: every role
    #: items with the same group show as one menu of the bar (fewer items on a phone)
    group: str | Promise = ""


ALL_BUT_SERVICE = frozenset({Role.ADMIN, Role.MANAGER, Role.SALES, Role.MARKETING, Role.VIEWER})
SELLING = frozenset({Role.ADMIN, Role.MANAGER, Role.SALES, Role.VIEWER})
ANALYTICS = _("Analytics")

NAV: tuple[NavItem, ...] = (
    NavItem("web:home", _("Dashboard")),
    NavItem("web:lead_list", _("Leads"), ALL_BUT_SERVICE),
    NavItem("web:account_list", _("Accounts")),
    NavItem("web:contact_list", _("Contacts")),
    NavItem("web:opportunity_list", _("Opportunities"), SELLING),
    NavItem("web:kanban", _("Kanban"), SELLING),
    NavItem("web:activity_list", _("Activities")),
    NavItem("web:task_list", _("Tasks")),
    NavItem("web:product_list", _("Products")),
    NavItem("web:order_list", _("Orders")),
    NavItem("forecasts:forecast", _("Forecasts"), SELLING, ANALYTICS),
    NavItem(
        "insights:at_risk",
        _("Customer insight"),
        frozenset({Role.ADMIN, Role.MANAGER, Role.MARKETING}),
        ANALYTICS,
    ),
    NavItem("reports:index", _("Reports"), ALL_BUT_SERVICE, ANALYTICS),
    NavItem("integrations:imports", _("Data"), frozenset({Role.ADMIN, Role.MANAGER})),
    NavItem("web:settings", _("Settings"), frozenset({Role.ADMIN})),
)

UNDO_SESSION_KEY = "crm_undo"


def shell(request: HttpRequest) -> dict[str, Any]:
    membership = getattr(request, "membership", None)
    if membership is None:
        return {"shell": None}
    path = request.path
    nav: list[dict[str, Any]] = []
    groups: dict[str, dict[str, Any]] = {}
    for item in NAV:
        if item.roles is not None and membership.role not in item.roles:
            continue
        url = reverse(item.url_name)
        active = path == url if url == "/" else path.startswith(url)
        entry = {"url": url, "label": item.label, "active": active}
        if not item.group:
            nav.append(entry)
            continue
        group = groups.get(str(item.group))
        if group is None:
            group = {"label": item.group, "children": [], "active": False}
            groups[str(item.group)] = group
            nav.append(group)
        group["children"].append(entry)
        group["active"] = group["active"] or active
    # a group left with one item for this role is just that item
    nav = [e["children"][0] if len(e.get("children", ())) == 1 else e for e in nav]
    undo = request.session.pop(UNDO_SESSION_KEY, None) if hasattr(request, "session") else None
    return {
        "shell": {
            "tenant_name": membership.tenant.name,
            "member": membership,
            "nav": nav,
            "can_write": membership.can_write,
            "is_admin": membership.is_admin,
            "undo": undo,
        }
    }
