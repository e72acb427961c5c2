"""Pages of crm.reports."""

from django.urls import URLPattern

app_name = "reports"

urlpatterns: list[URLPattern] = []
