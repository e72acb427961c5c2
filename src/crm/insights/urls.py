"""Pages of crm.insights."""

from django.urls import URLPattern, path

from crm.insights import views

app_name = "insights"

urlpatterns: list[URLPattern] = [
    path("insights/", views.at_risk, name="at_risk"),
    path("insights/customers/<int:contact_id>/", views.customer_360, name="customer_360"),
    path("insights/recompute/", views.recompute, name="recompute"),
    path("insights/follow-up/", views.followup_tasks, name="followup_tasks"),
    path("insights/segments/", views.segments, name="segments"),
    path("insights/playbook/", views.playbook, name="playbook"),
]
