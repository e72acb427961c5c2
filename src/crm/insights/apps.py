from django.apps import AppConfig


class InsightsConfig(AppConfig):
    """Customer intelligence: RFM, lifecycle, lifetime value, churn risk,
    health, segments, the churn playbook."""

    name = "crm.insights"
    label = "insights"
