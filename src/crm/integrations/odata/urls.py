"""URLs of the OData v4 feed, included at /odata/v1/."""

from django.urls import URLPattern, path, re_path

from crm.integrations.odata import views

app_name = "odata"

urlpatterns: list[URLPattern] = [
    path("", views.service_document, name="root"),
    path("$metadata", views.metadata, name="metadata"),
    re_path(r"^(?P<resource>[A-Za-z]+(?:\([^/]*\))?(?:/\$count)?/?)$", views.resource),
    re_path(r"^[\s\S]*$", views.unknown),
]
