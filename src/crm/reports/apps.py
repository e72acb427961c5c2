from django.apps import AppConfig


class ReportsConfig(AppConfig):
    """Reports with charts and tables, CSV/XLSX export and scheduled delivery by email."""

    name = "crm.reports"
    label = "reports"
