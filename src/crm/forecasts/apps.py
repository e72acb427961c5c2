from django.apps import AppConfig


class ForecastsConfig(AppConfig):
    """Funnel metrics, pipeline and sales forecasts, quotas and what-if."""

    name = "crm.forecasts"
    label = "forecasts"
