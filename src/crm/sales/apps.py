from django.apps import AppConfig


class SalesConfig(AppConfig):
    name = "crm.sales"
    label = "sales"

    def ready(self) -> None:
        from crm.activities.records import (
            TimelineEntry,
            register_record_type,
            register_timeline_provider,
        )
        from crm.sales import selectors
        from crm.tenancy.models import Membership

        register_record_type("lead", lambda actor, pk: selectors.lead_get(actor=actor, lead_id=pk))
        register_record_type(
            "opportunity",
            lambda actor, pk: selectors.opportunity_get(actor=actor, opportunity_id=pk),
        )
        register_record_type(
            "order", lambda actor, pk: selectors.order_get(actor=actor, order_id=pk)
        )

        def stage_changes(
            actor: Membership, record_type: str, record_id: int, limit: int
        ) -> list[TimelineEntry]:
            if record_type != "opportunity":
                return []
            return [
                TimelineEntry(
                    c.at,
                    "stage_change",
                    f"{c.from_stage or '—'} → {c.to_stage}",
                    "",
                    str(c.by or ""),
                    c.pk,
                )
                for c in selectors.stage_change_list(actor=actor, opportunity_id=record_id)[:limit]
            ]

        register_timeline_provider(stage_changes)

        from crm.events.dispatch import subscribe
        from crm.sales.capture import lead_created_elsewhere

        # Leads created by pages, the REST API or imports are scored and assigned too.
        subscribe("lead.created", "sales.lead_flow", lead_created_elsewhere)
