"""Records of the integrations API for the walkers: an import job with a template, a duplicate
scan and its candidate pair, a merge of contacts, one of accounts and one of leads, an export
job and a privacy request (see support.py).

No contact, account or lead is added to the tenant's lists (the isolation test compares them): each
merge folds a twin into the shared record, which keeps its own values."""

from __future__ import annotations

import io
from typing import Any

from crm.customers.models import Account, Contact
from crm.customers.services import account_create, contact_create
from crm.integrations import dedupe, services
from crm.integrations.models import DuplicateCandidate
from crm.sales.models import Lead
from crm.sales.services import lead_create


def build(world: Any, prefix: str) -> tuple[dict[str, int], list[str]]:
    admin = world.admin
    low = prefix.lower()
    content = f"Name,Email\n{prefix}-imported,{low}-imported@example.com\n".encode()
    job = services.import_upload(
        actor=admin, upload=io.BytesIO(content), file_name="contacts.csv", target="contact"
    )
    template = services.template_save(
        actor=admin, name=f"{prefix}-template", target="contact", mapping={}, options={}
    )
    twins = [
        lead_create(
            actor=admin, values={"name": f"{prefix}-twin", "email": f"{low}-twin@example.com"}
        )
        for _ in range(2)
    ]
    scan = services.duplicate_scan_start(actor=admin, record_type="lead")
    dedupe.scan_run(scan.pk)
    candidate = DuplicateCandidate.objects.get(left_id=twins[0].pk, right_id=twins[1].pk)
    survivor = Contact.objects.get(name=f"{prefix}-contact")
    twin = contact_create(actor=admin, values={"name": f"{prefix}-contact-twin"})
    merge = services.contact_merge(
        actor=admin, survivor=survivor, merged=twin, choices={"name": "survivor"}
    )
    account_twin = account_create(actor=admin, values={"name": f"{prefix}-account-twin"})
    services.account_merge(
        actor=admin,
        survivor=Account.objects.get(name=f"{prefix}-account"),
        merged=account_twin,
        choices={"name": "survivor"},
    )
    lead_twin = lead_create(actor=admin, values={"name": f"{prefix}-lead-twin"})
    services.lead_merge(
        actor=admin,
        survivor=Lead.objects.get(name=f"{prefix}-lead"),
        merged=lead_twin,
        choices={"name": "survivor", "company": "survivor"},
    )
    services.export_start(
        actor=admin, target="contact", file_format="csv", filters={}, include_pii=True
    )
    request = services.privacy_export(actor=admin, contact=survivor)
    services.retention_set(actor=admin, inactive_years=10)
    ids = {
        "job_id": job.pk,
        "template_id": template.pk,
        "scan_id": scan.pk,
        "candidate_id": candidate.pk,
        "merge_id": merge.pk,
        "other_id": twin.pk,  # merging it again answers the same merge
        "account_merge:other_id": account_twin.pk,  # likewise, for the merged account
        "lead_merge:other_id": lead_twin.pk,  # and lead
        "request_id": request.pk,
    }
    return ids, [f"{low}-imported@example.com", f"{low}-twin@example.com"]
