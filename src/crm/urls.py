from django.urls import include, path

from crm.api import api

urlpatterns = [
    path("api/v1/", api.urls),
    path("", include("crm.web.urls")),
]
