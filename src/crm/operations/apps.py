from django.apps import AppConfig


class OperationsConfig(AppConfig):
    """Operator commands (crm serve, worker, createtenant, createuser, demo, check)."""

    name = "crm.operations"
    label = "operations"
