from django.apps import AppConfig


class CustomersConfig(AppConfig):
    name = "crm.customers"
    label = "customers"

    def ready(self) -> None:
        from crm.activities.records import (
            TimelineEntry,
            register_record_type,
            register_timeline_provider,
        )
        from crm.customers import selectors
        from crm.tenancy.models import Membership
        from crm.tenancy.selectors import audit_for_record

        register_record_type(
            "account", lambda actor, pk: selectors.account_get(actor=actor, account_id=pk)
        )
        register_record_type(
            "contact", lambda actor, pk: selectors.contact_get(actor=actor, contact_id=pk)
        )

        def audit_entries(
            actor: Membership, record_type: str, record_id: int, limit: int
        ) -> list[TimelineEntry]:
            return [
                TimelineEntry(
                    row.at,
                    "audit",
                    row.action,
                    ", ".join(sorted(row.changes)),
                    row.actor_label,
                    row.pk,
                )
                for row in audit_for_record(record_type=record_type, record_id=record_id)[:limit]
            ]

        register_timeline_provider(audit_entries)
