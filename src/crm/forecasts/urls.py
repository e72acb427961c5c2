"""Pages of crm.forecasts."""

from django.urls import path

from crm.forecasts import views

app_name = "forecasts"

urlpatterns = [
    path("forecasts/", views.forecast_page, name="forecast"),
    path("forecasts/funnel/", views.funnel_page, name="funnel"),
    path("forecasts/pipeline/", views.pipeline_page, name="pipeline"),
    path("forecasts/pipeline/what-if/", views.what_if_panel, name="what_if"),
    path("forecasts/quotas/", views.quota_page, name="quotas"),
    path("forecasts/quotas/<int:quota_id>/delete/", views.quota_delete, name="quota_delete"),
]
