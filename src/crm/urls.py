from django.urls import include, path

from crm.api import api

urlpatterns = [
    path("api/v1/", api.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("crm.sales.lead_urls")),
    path("", include("crm.web.urls")),
]
