"""URLs of the OData v4 feed, included at /odata/v1/."""

from django.urls import URLPattern

app_name = "odata"

urlpatterns: list[URLPattern] = []
