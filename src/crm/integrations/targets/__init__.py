"""What can be imported: the fields of each record type, their headers in English and Chinese,
how a row becomes a record, how a row finds its duplicate and how relations are resolved.

`base` holds the shared parts, `people` the accounts, contacts and leads, `sales` the
opportunities, orders and activities; `TARGETS` names them by key.
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from crm.integrations.targets.base import RowState, RunContext, Target, member_lookup
from crm.integrations.targets.people import AccountTarget, ContactTarget, LeadTarget
from crm.integrations.targets.sales import ActivityTarget, OpportunityTarget, OrderTarget

__all__ = [
    "TARGETS",
    "RowState",
    "RunContext",
    "Target",
    "member_lookup",
    "target_for",
]


TARGETS: dict[str, Target] = {
    t.key: t
    for t in (
        ContactTarget(),
        AccountTarget(),
        LeadTarget(),
        OpportunityTarget(),
        OrderTarget(),
        ActivityTarget(),
    )
}


def target_for(key: str) -> Target:
    from crm.core.writes import field_error

    target = TARGETS.get(key)
    if target is None:
        raise field_error("target", _("Unknown import target."))
    return target
