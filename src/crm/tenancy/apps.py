from django.apps import AppConfig


class TenancyConfig(AppConfig):
    name = "crm.tenancy"
    label = "tenancy"
