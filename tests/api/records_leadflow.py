"""Records of the lead-flow API for the walkers: a converted lead's conversion (see support.py).

The other path parameters of /lead-flow (lead_id, team_id) are the shared records. The lead is
converted into the shared contact, so the tenant's contact list stays as the isolation test
expects it."""

from __future__ import annotations

from typing import Any

from crm.customers.models import Contact
from crm.sales.conversion import lead_convert
from crm.sales.services import lead_create


def build(world: Any, prefix: str) -> tuple[dict[str, int], list[str]]:
    lead = lead_create(actor=world.admin, values={"name": f"{prefix}-converted-lead"})
    contact = Contact.objects.get(name=f"{prefix}-contact")
    conversion = lead_convert(
        actor=world.admin,
        lead=lead,
        contact_id=contact.pk,
        create_account=False,
        opportunity={"name": f"{prefix}-won"},
    )
    ids = {
        "conversion_id": conversion.pk,
        # Bodies that set an owner give records to the manager, so that reassigning the shared
        # lead to `member_id` (the sales member) is a real change after PATCH /leads/{lead_id}.
        "owner_id": world.manager.pk,
    }
    return ids, [f"{prefix}-converted-lead"]
