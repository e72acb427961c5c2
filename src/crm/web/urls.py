"""The pages. Record pages are generated per kind (see kinds.py), all under `web:`."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import URLPattern, path, reverse_lazy

from crm.web.forms import StyledPasswordResetForm, StyledSetPasswordForm
from crm.web.kinds import KINDS
from crm.web.views import actions, kanban, records, settings, shell

app_name = "web"


def _kind_patterns() -> list[URLPattern]:
    patterns: list[URLPattern] = []
    for kind in KINDS.values():
        p, n, extra = kind.plural, kind.name, {"kind_name": kind.name}
        patterns += [
            path(f"{p}/", records.record_list, extra, name=f"{n}_list"),
            path(f"{p}/bulk/", records.record_bulk, extra, name=f"{n}_bulk"),
            path(f"{p}/columns/", records.list_columns, extra, name=f"{n}_columns"),
            path(f"{p}/views/", records.saved_view_save, extra, name=f"{n}_view_save"),
            path(f"{p}/<int:pk>/", records.record_detail, extra, name=f"{n}_detail"),
            path(
                f"{p}/<int:pk>/field/<str:field>/",
                records.record_field,
                extra,
                name=f"{n}_field",
            ),
        ]
        if kind.create is not None:
            patterns.append(path(f"{p}/new/", records.record_create, extra, name=f"{n}_create"))
        if kind.update is not None:
            patterns += [
                path(f"{p}/<int:pk>/edit/", records.record_edit, extra, name=f"{n}_edit"),
                path(f"{p}/<int:pk>/owner/", actions.record_owner, extra, name=f"{n}_owner"),
            ]
        if kind.delete is not None:
            patterns.append(
                path(f"{p}/<int:pk>/delete/", records.record_delete, extra, name=f"{n}_delete")
            )
        if kind.restore is not None:
            patterns.append(
                path(f"{p}/<int:pk>/restore/", records.record_restore, extra, name=f"{n}_restore")
            )
        if kind.timeline:
            patterns += [
                path(f"{p}/<int:pk>/log/", actions.record_log, extra, name=f"{n}_log"),
                path(f"{p}/<int:pk>/task/", actions.record_task, extra, name=f"{n}_task"),
                path(f"{p}/<int:pk>/email/", actions.record_email, extra, name=f"{n}_email"),
            ]
    return patterns


urlpatterns = [
    path("", shell.home, name="home"),
    # sign-in and password reset (mail goes through the outbox)
    path("login/", shell.LoginView.as_view(), name="login"),
    path(
        "logout/",
        auth_views.LogoutView.as_view(next_page="/login/?signed_out=1"),
        name="logout",
    ),
    path(
        "password-reset/",
        auth_views.PasswordResetView.as_view(
            success_url=reverse_lazy("web:password_reset_done"),
            email_template_name="registration/password_reset_email.txt",
            form_class=StyledPasswordResetForm,
        ),
        name="password_reset",
    ),
    path(
        "password-reset/sent/",
        auth_views.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(
            success_url=reverse_lazy("web:password_reset_complete"),
            form_class=StyledSetPasswordForm,
        ),
        name="password_reset_confirm",
    ),
    path(
        "reset/done/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    # shell
    path("search/", shell.search, name="search"),
    path("pick/<str:kind>/", shell.pick, name="pick"),
    path("me/", shell.preferences, name="preferences"),
    path("manifest.webmanifest", shell.manifest, name="manifest"),
    path("sw.js", shell.service_worker, name="sw"),
    path("offline/", shell.offline, name="offline"),
    # kanban
    path("kanban/", kanban.kanban, name="kanban"),
    path("opportunities/<int:pk>/move/", kanban.opportunity_move, name="opportunity_move"),
    # order lines
    path("orders/<int:pk>/lines/", actions.order_line_add, name="order_line_add"),
    path(
        "orders/<int:pk>/lines/<int:line_pk>/delete/",
        actions.order_line_delete,
        name="order_line_delete",
    ),
    path("views/<int:pk>/delete/", records.saved_view_delete, name="savedview_delete"),
    # admin settings
    path("settings/", settings.profile, name="settings"),
    path("settings/members/", settings.members, name="settings_members"),
    path("settings/members/<int:pk>/", settings.member_edit, name="settings_member"),
    path("settings/teams/", settings.teams, name="settings_teams"),
    path("settings/teams/<int:pk>/", settings.team_edit, name="settings_team"),
    path("settings/pipelines/", settings.pipelines, name="settings_pipelines"),
    path("settings/pipelines/<int:pk>/", settings.pipeline_edit, name="settings_pipeline"),
    path("settings/pipelines/<int:pk>/stages/", settings.stage_add, name="settings_stage_add"),
    path("settings/stages/<int:pk>/", settings.stage_edit, name="settings_stage"),
    path("settings/tokens/", settings.tokens, name="settings_tokens"),
    path("settings/tokens/<int:pk>/revoke/", settings.token_revoke, name="settings_token_revoke"),
    *_kind_patterns(),
]
