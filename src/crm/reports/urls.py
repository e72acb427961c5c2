"""Pages of crm.reports."""

from django.urls import URLPattern, path

from crm.reports import views

app_name = "reports"

urlpatterns: list[URLPattern] = [
    path("reports/", views.index, name="index"),
    path("reports/schedules/", views.schedules, name="schedules"),
    path(
        "reports/schedules/<int:schedule_id>/toggle/",
        views.schedule_toggle,
        name="schedule_toggle",
    ),
    path(
        "reports/schedules/<int:schedule_id>/delete/",
        views.schedule_delete,
        name="schedule_delete",
    ),
    path("reports/sent/<str:token>/", views.delivery_download, name="delivery_download"),
    path("reports/<slug:slug>/", views.report_page, name="report"),
    path(
        "reports/<slug:slug>/export.<str:file_format>",
        views.report_export,
        name="report_export",
    ),
]
