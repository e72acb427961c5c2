"""Admin settings: tenant profile, members and invitations, teams, pipelines and stages, tokens."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from crm.core.errors import DomainError, ValidationFailedError
from crm.sales import selectors as sales_selectors
from crm.sales import services as sales_services
from crm.tenancy import selectors as tenancy_selectors
from crm.tenancy import services as tenancy_services
from crm.web import forms as web_forms
from crm.web import selectors as web_selectors
from crm.web.middleware import SESSION_TZ_KEY
from crm.web.views.base import actor_of, admin_required, posted, render_page


def _flash_error(request: HttpRequest, exc: DomainError) -> None:
    for name, field_messages in (exc.fields or {}).items():
        for message in field_messages:
            messages.error(request, f"{name}: {message}" if name != "__all__" else message)
    if not exc.fields:
        messages.error(request, exc.message)


@admin_required
def profile(request: HttpRequest) -> HttpResponse:
    actor = actor_of(request)
    tenant = actor.tenant
    initial = {f: getattr(tenant, f) for f in tenancy_services.TENANT_FIELDS}
    form = web_forms.TenantProfileForm(posted(request), initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            tenancy_services.tenant_profile_update(actor=actor, values=form.cleaned_data)
        except ValidationFailedError as exc:
            form.add_service_error(exc)
        else:
            request.session.pop(SESSION_TZ_KEY, None)
            messages.success(request, _("Company profile saved."))
            return redirect("web:settings")
    return render_page(request, "web/settings/profile.html", {"form": form, "section": "profile"})


@admin_required
def members(request: HttpRequest) -> HttpResponse:
    actor = actor_of(request)
    form = web_forms.InviteForm(posted(request))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            membership = tenancy_services.member_invite(
                actor=actor,
                username=data["username"],
                email=data["email"],
                role=data["role"],
                team=data["team"],
                display_name=data["display_name"],
                base_url=request.build_absolute_uri("/"),
            )
        except ValidationFailedError as exc:
            form.add_service_error(exc)
        else:
            messages.success(
                request, _("Invitation sent to %(email)s.") % {"email": membership.user.email}
            )
            return redirect("web:settings_members")
    context = {
        "form": form,
        "members": tenancy_selectors.membership_list(),
        "section": "members",
    }
    return render_page(request, "web/settings/members.html", context)


@admin_required
def member_edit(request: HttpRequest, pk: int) -> HttpResponse:
    actor = actor_of(request)
    member = tenancy_selectors.membership_get(membership_id=pk)
    initial = {
        "display_name": member.display_name,
        "role": member.role,
        "team": member.team_id,
        "is_active": member.is_active,
    }
    form = web_forms.MemberForm(posted(request), initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        values: dict[str, Any] = {
            "display_name": data["display_name"],
            "role": data["role"],
            "team_id": data["team"].pk if data["team"] else None,
            "is_active": data["is_active"],
        }
        try:
            tenancy_services.membership_update(actor=actor, membership=member, values=values)
        except ValidationFailedError as exc:
            form.add_service_error(exc)
        else:
            messages.success(request, _("Member saved."))
            return redirect("web:settings_members")
    return render_page(
        request,
        "web/settings/member.html",
        {"form": form, "member": member, "section": "members"},
    )


@admin_required
def teams(request: HttpRequest) -> HttpResponse:
    actor = actor_of(request)
    form = web_forms.TeamForm(posted(request))
    if request.method == "POST" and form.is_valid():
        try:
            tenancy_services.team_create(actor=actor, name=form.cleaned_data["name"])
        except ValidationFailedError as exc:
            form.add_service_error(exc)
        else:
            messages.success(request, _("Team created."))
            return redirect("web:settings_teams")
    context = {"form": form, "teams": tenancy_selectors.team_list(), "section": "teams"}
    return render_page(request, "web/settings/teams.html", context)


@admin_required
def team_edit(request: HttpRequest, pk: int) -> HttpResponse:
    actor = actor_of(request)
    team = web_selectors.team_get(team_id=pk)
    form = web_forms.TeamForm(posted(request), initial={"name": team.name})
    if request.method == "POST" and form.is_valid():
        try:
            tenancy_services.team_rename(actor=actor, team=team, name=form.cleaned_data["name"])
        except ValidationFailedError as exc:
            form.add_service_error(exc)
        else:
            messages.success(request, _("Team saved."))
            return redirect("web:settings_teams")
    return render_page(
        request, "web/settings/team.html", {"form": form, "team": team, "section": "teams"}
    )


@admin_required
def pipelines(request: HttpRequest) -> HttpResponse:
    actor = actor_of(request)
    form = web_forms.PipelineForm(posted(request))
    if request.method == "POST" and form.is_valid():
        try:
            pipeline = sales_services.pipeline_create(
                actor=actor,
                name=form.cleaned_data["name"],
                is_default=form.cleaned_data["is_default"],
            )
        except ValidationFailedError as exc:
            form.add_service_error(exc)
        else:
            messages.success(request, _("Pipeline created; add its stages."))
            return redirect("web:settings_pipeline", pk=pipeline.pk)
    context = {
        "form": form,
        "pipelines": sales_selectors.pipeline_list(),
        "section": "pipelines",
    }
    return render_page(request, "web/settings/pipelines.html", context)


@admin_required
def pipeline_edit(request: HttpRequest, pk: int) -> HttpResponse:
    actor = actor_of(request)
    pipeline = sales_selectors.pipeline_get(pipeline_id=pk)
    form = web_forms.PipelineForm(
        posted(request), initial={"name": pipeline.name, "is_default": pipeline.is_default}
    )
    if request.method == "POST" and form.is_valid():
        try:
            sales_services.pipeline_update(actor=actor, pipeline=pipeline, values=form.cleaned_data)
        except ValidationFailedError as exc:
            form.add_service_error(exc)
        else:
            messages.success(request, _("Pipeline saved."))
            return redirect("web:settings_pipeline", pk=pk)
    stages = sales_selectors.stage_list(pipeline_id=pk)
    context = {
        "form": form,
        "pipeline": pipeline,
        "stage_forms": [
            (
                stage,
                web_forms.StageForm(
                    prefix=f"s{stage.pk}",
                    initial={
                        "name": stage.name,
                        "order": stage.order,
                        "probability": stage.probability,
                        "is_won": stage.is_won,
                        "is_lost": stage.is_lost,
                    },
                ),
            )
            for stage in stages
        ],
        "new_stage_form": web_forms.StageForm(
            prefix="new", initial={"order": len(stages), "probability": 0}
        ),
        "section": "pipelines",
    }
    return render_page(request, "web/settings/pipeline.html", context)


@require_POST
@admin_required
def stage_add(request: HttpRequest, pk: int) -> HttpResponse:
    actor = actor_of(request)
    pipeline = sales_selectors.pipeline_get(pipeline_id=pk)
    form = web_forms.StageForm(request.POST, prefix="new")
    if form.is_valid():
        try:
            sales_services.stage_create(
                actor=actor, pipeline_id=pipeline.pk, values=form.cleaned_data
            )
        except ValidationFailedError as exc:
            _flash_error(request, exc)
        else:
            messages.success(request, _("Stage added."))
    else:
        messages.error(request, _("Check the stage's name, order and probability."))
    return redirect("web:settings_pipeline", pk=pipeline.pk)


@require_POST
@admin_required
def stage_edit(request: HttpRequest, pk: int) -> HttpResponse:
    actor = actor_of(request)
    stage = sales_selectors.stage_get(stage_id=pk)
    if request.POST.get("delete"):
        try:
            sales_services.stage_delete(actor=actor, stage=stage)
        except DomainError as exc:
            _flash_error(request, exc)
        else:
            messages.success(request, _("Stage deleted."))
        return redirect("web:settings_pipeline", pk=stage.pipeline_id)
    form = web_forms.StageForm(request.POST, prefix=f"s{stage.pk}")
    if form.is_valid():
        try:
            sales_services.stage_update(actor=actor, stage=stage, values=form.cleaned_data)
        except ValidationFailedError as exc:
            _flash_error(request, exc)
        else:
            messages.success(request, _("Stage saved."))
    else:
        messages.error(request, _("Check the stage's name, order and probability."))
    return redirect("web:settings_pipeline", pk=stage.pipeline_id)


@admin_required
def tokens(request: HttpRequest) -> HttpResponse:
    actor = actor_of(request)
    form = web_forms.TokenForm(posted(request))
    shown_once = ""
    if request.method == "POST" and form.is_valid():
        try:
            _token, shown_once = tenancy_services.api_token_create(
                actor=actor, name=form.cleaned_data["name"], scopes=form.cleaned_data["scopes"]
            )
        except ValidationFailedError as exc:
            form.add_service_error(exc)
        else:
            form = web_forms.TokenForm()
    context = {
        "form": form,
        "secret": shown_once,
        "tokens": tenancy_selectors.api_token_list(membership=actor),
        "section": "tokens",
    }
    return render_page(request, "web/settings/tokens.html", context)


@require_POST
@admin_required
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    tenancy_services.api_token_revoke(actor=actor_of(request), token_id=pk)
    messages.success(request, _("Token revoked."))
    return redirect("web:settings_tokens")
