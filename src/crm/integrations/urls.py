"""Pages of crm.integrations: import wizard and history, duplicate review and merge, privacy."""

from django.urls import URLPattern

app_name = "integrations"

urlpatterns: list[URLPattern] = []
