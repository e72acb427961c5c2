"""The hash-chained audit log: append a link per write, verify the chain per tenant."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from crm.core.context import current_tenant_id
from crm.tenancy.models import AuditHead, AuditLog, Membership

GENESIS_HASH = "0" * 64


def link_hash(
    *,
    prev_hash: str,
    seq: int,
    actor_id: int | None,
    action: str,
    record_type: str,
    record_id: int,
    changes: dict[str, Any],
    at_iso: str,
) -> str:
    body = json.dumps(
        [seq, actor_id, action, record_type, record_id, changes, at_iso],
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(f"{prev_hash}|{body}".encode()).hexdigest()


def audit_append(
    *,
    actor: Membership | None,
    action: str,
    record_type: str,
    record_id: int,
    changes: dict[str, Any],
) -> AuditLog:
    """Append one link to the tenant's chain. Call inside the write's transaction.

    The tenant's AuditHead row is locked (select_for_update) so concurrent writers append
    one after another; on SQLite the IMMEDIATE transaction already serialises writers.
    """
    tenant_id = current_tenant_id()
    with transaction.atomic():
        head, _ = AuditHead.objects.select_for_update().get_or_create(tenant_id=tenant_id)
        seq = head.seq + 1
        at = timezone.now()
        # JSON round trip so the stored form is exactly what was hashed.
        changes = json.loads(json.dumps(changes, ensure_ascii=False, default=str))
        digest = link_hash(
            prev_hash=head.hash,
            seq=seq,
            actor_id=actor.pk if actor else None,
            action=action,
            record_type=record_type,
            record_id=record_id,
            changes=changes,
            at_iso=at.isoformat(),
        )
        entry = AuditLog.objects.create(
            seq=seq,
            actor=actor,
            actor_label=str(actor) if actor else "system",
            action=action,
            record_type=record_type,
            record_id=record_id,
            changes=changes,
            at=at,
            prev_hash=head.hash,
            hash=digest,
        )
        head.seq, head.hash = seq, digest
        head.save(update_fields=["seq", "hash"])
    return entry


@dataclass(frozen=True)
class ChainReport:
    tenant_id: int
    links: int
    first_broken_seq: int | None
    reason: str

    @property
    def ok(self) -> bool:
        return self.first_broken_seq is None


def audit_verify_chain(tenant_id: int, *, batch_size: int = 5000) -> ChainReport:
    """Walk the chain in order; report the first link whose hash or back-link does not match."""
    prev = GENESIS_HASH
    expected_seq = 1
    count = 0
    rows = (
        AuditLog.all_tenants.filter(tenant_id=tenant_id)
        .order_by("seq")
        .values_list(
            "seq",
            "actor_id",
            "action",
            "record_type",
            "record_id",
            "changes",
            "at",
            "prev_hash",
            "hash",
        )
    )
    for seq, actor_id, action, rtype, rid, changes, at, prev_hash, stored in rows.iterator(
        chunk_size=batch_size
    ):
        count += 1
        if seq != expected_seq:
            return ChainReport(tenant_id, count, expected_seq, "a link is missing")
        if prev_hash != prev:
            return ChainReport(tenant_id, count, seq, "its back-link does not match")
        digest = link_hash(
            prev_hash=prev,
            seq=seq,
            actor_id=actor_id,
            action=action,
            record_type=rtype,
            record_id=rid,
            changes=changes,
            at_iso=at.isoformat(),
        )
        if digest != stored:
            return ChainReport(tenant_id, count, seq, "its content was changed")
        prev = stored
        expected_seq += 1
    head = AuditHead.objects.filter(tenant_id=tenant_id).first()
    if head is not None and (head.seq != expected_seq - 1 or head.hash != prev):
        return ChainReport(tenant_id, count, expected_seq, "the chain was cut short")
    return ChainReport(tenant_id, count, None, "")
