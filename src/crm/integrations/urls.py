"""Pages of crm.integrations: import wizard and history, duplicate review and merge, privacy."""

from django.urls import URLPattern, path

from crm.integrations import privacy_views, views

app_name = "integrations"

urlpatterns: list[URLPattern] = [
    path("data/imports/", views.import_list, name="imports"),
    path("data/imports/<int:job_id>/", views.import_job, name="import_job"),
    path("data/imports/<int:job_id>/progress/", views.import_progress, name="import_progress"),
    path(
        "data/imports/<int:job_id>/failed-rows.csv",
        views.import_failed_rows,
        name="import_failed_rows",
    ),
    path("data/imports/<int:job_id>/<str:action>/", views.import_control, name="import_control"),
    path("data/duplicates/", views.duplicate_queue, name="duplicates"),
    path("data/duplicates/<int:candidate_id>/", views.duplicate_review, name="duplicate"),
    path("data/merges/<int:merge_id>/", views.merge_done, name="merge_done"),
    path("data/privacy/", privacy_views.privacy_home, name="privacy"),
    path(
        "data/privacy/contacts/<int:contact_id>/",
        privacy_views.privacy_person,
        name="privacy_person",
    ),
    path(
        "data/privacy/requests/<int:request_id>/file",
        privacy_views.privacy_file,
        name="privacy_file",
    ),
]
