"""Pages of crm.insights."""

from django.urls import URLPattern

app_name = "insights"

urlpatterns: list[URLPattern] = []
