"""URLs of the lead flow: public inbound webhooks and web forms (no sign-in), and the pages."""

from django.urls import path

from crm.sales import views, webform, webhooks

app_name = "leads"

urlpatterns = [
    path("hooks/leads/<slug:key>/", webhooks.lead_webhook, name="webhook"),
    path("forms/<slug:key>/", webform.lead_form, name="webform"),
    path("lead-flow/inbox/", views.lead_inbox, name="inbox"),
    path("lead-flow/leads/<int:lead_id>/responded/", views.lead_responded, name="responded"),
    path("lead-flow/rules/", views.assignment_rules, name="rules"),
    path("lead-flow/teams/<int:team_id>/fairness/", views.team_fairness, name="fairness"),
    path("lead-flow/forms/", views.web_forms, name="forms"),
]
