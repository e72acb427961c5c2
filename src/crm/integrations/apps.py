from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    """Getting data in and out: imports, duplicates and merge, exports, privacy requests."""

    name = "crm.integrations"
    label = "integrations"

    def ready(self) -> None:
        from crm.activities.records import register_timeline_provider
        from crm.integrations.merge import merged_history

        register_timeline_provider(merged_history)
