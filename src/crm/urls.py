from django.urls import include, path

from crm.api import api

urlpatterns = [
    path("api/v1/", api.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("odata/v1/", include("crm.integrations.odata.urls")),
    path("", include("crm.sales.lead_urls")),
    path("", include("crm.insights.urls")),
    path("", include("crm.forecasts.urls")),
    path("", include("crm.reports.urls")),
    path("", include("crm.integrations.urls")),
    path("", include("crm.web.urls")),
]
