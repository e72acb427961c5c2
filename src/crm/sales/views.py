"""Pages of the lead flow: the lead inbox, assignment rules with a preview, team load and
fairness, and the web-form builder. Thin: parse, call a service or selector, render."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, cast

from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from crm.core.errors import DomainError, NotFoundError
from crm.sales import assignment_admin, assignment_routing, capture_channels, followup, selectors
from crm.sales.lead_models import OPEN_LEAD_STATUSES, AssignmentRule, WebForm
from crm.sales.models import Lead, Priority
from crm.tenancy.models import Membership, Role, Team, Visibility
from crm.tenancy.pages import member_page

View = Callable[..., HttpResponse]


def _actor(request: HttpRequest) -> Membership:
    return cast(Membership, request.membership)  # type: ignore[attr-defined]


def sla_text(due: datetime | None, now: datetime) -> tuple[str, str]:
    """("in 1 h 5 min" | "overdue by 20 min", css class) for a first-response due time."""
    if due is None:
        return "", ""
    seconds = int((due - now).total_seconds())
    minutes = abs(seconds) // 60
    span = f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"
    if seconds < 0:
        return _("overdue by %(span)s") % {"span": span}, "text-danger fw-semibold"
    return _("due in %(span)s") % {"span": span}, "text-warning" if seconds < 3600 else ""


PRIORITY_BADGE: dict[str, str] = {
    "high": "text-bg-danger",
    "medium": "text-bg-warning",
    "low": "text-bg-secondary",
}


@member_page
@require_http_methods(["GET"])
def lead_inbox(request: HttpRequest) -> HttpResponse:
    """Open leads by first-response due time: score with reasons, priority, SLA countdown; for
    managers also the leads waiting in their team's queue."""
    actor = _actor(request)
    now = timezone.now()
    qs = selectors.lead_list(actor=actor).filter(status__in=OPEN_LEAD_STATUSES)
    if actor.visibility == Visibility.OWN:
        qs = qs.filter(owner=actor)
    elif actor.visibility == Visibility.TEAM:
        qs = qs.filter(
            Q(owner__team_id=actor.team_id) | Q(owner__isnull=True, team_id=actor.team_id)
        )
    leads = list(qs.order_by("first_response_due_at", "-score", "-id")[:200])
    rows = []
    for lead in leads:
        text, css = sla_text(lead.first_response_due_at, now) if lead.status == "new" else ("", "")
        rows.append(
            {
                "lead": lead,
                "reasons": lead.score_reasons or [],
                "reasons_title": "; ".join(
                    f"{r.get('text', r.get('code'))} ({r.get('impact', 0):+})"
                    for r in lead.score_reasons or []
                ),
                "badge": PRIORITY_BADGE.get(lead.priority, "text-bg-secondary"),
                "sla": text,
                "sla_class": css,
            }
        )
    return render(request, "sales/inbox.html", {"rows": rows, "now": now})


@member_page
@require_POST
def lead_responded(request: HttpRequest, lead_id: int) -> HttpResponse:
    actor = _actor(request)
    try:
        lead = selectors.lead_get(actor=actor, lead_id=lead_id)
        followup.lead_mark_responded(actor=actor, lead=lead)
    except NotFoundError as exc:
        raise Http404 from exc
    except DomainError as exc:
        raise PermissionDenied(exc.message) from exc
    return redirect("leads:inbox")


def _require_admin(actor: Membership) -> None:
    if not actor.is_admin:
        raise PermissionDenied


RULE_TEXT_FIELDS = ("name", "region", "source", "product_line")


@member_page
@require_http_methods(["GET", "POST"])
def assignment_rules(request: HttpRequest) -> HttpResponse:
    """Rules in order, a form to add one, and "who would get this lead?" (?preview=1)."""
    actor = _actor(request)
    if actor.role not in (Role.ADMIN, Role.MANAGER):
        raise PermissionDenied
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        _require_admin(actor)
        values: dict[str, Any] = {f: request.POST.get(f, "").strip() for f in RULE_TEXT_FIELDS}
        values["priority"] = request.POST.get("priority", "")
        values["position"] = int(request.POST.get("position") or 0)
        values["required_skills"] = [
            s.strip() for s in request.POST.get("required_skills", "").split(",") if s.strip()
        ]
        values["match_member_region"] = request.POST.get("match_member_region") == "on"
        try:
            assignment_admin.assignment_rule_create(
                actor=actor, team_id=int(request.POST.get("team_id") or 0), values=values
            )
            return redirect("leads:rules")
        except DomainError as exc:
            errors = exc.fields or {"__all__": [exc.message]}
    preview = None
    if request.GET.get("preview"):
        try:
            preview = assignment_routing.assignment_preview(
                actor=actor,
                priority=request.GET.get("priority") or Priority.MEDIUM,
                region=request.GET.get("region", ""),
                source=request.GET.get("source", ""),
                product_line=request.GET.get("product_line", ""),
            )
        except DomainError as exc:
            errors = {"__all__": [exc.message]}
    members = {m.pk: m for m in Membership.objects.filter(is_active=True)}
    return render(
        request,
        "sales/rules.html",
        {
            "rules": AssignmentRule.objects.select_related("team").order_by("position", "id"),
            "teams": Team.objects.order_by("name"),
            "priorities": Priority.choices,
            "preview": preview,
            "preview_rows": [
                {**c.as_dict(), "member": members.get(c.member.pk)} for c in preview.pool
            ]
            if preview
            else [],
            "query": request.GET,
            "errors": errors,
        },
        status=422 if errors and request.method == "POST" else 200,
    )


@member_page
@require_http_methods(["GET"])
def team_fairness(request: HttpRequest, team_id: int) -> HttpResponse:
    """Team load now and assignments per member in the period against capacity."""
    actor = _actor(request)
    try:
        days = max(1, min(int(request.GET.get("days") or 30), 366))
    except ValueError:
        days = 30
    until = timezone.now()
    try:
        report = assignment_admin.fairness_report(
            actor=actor, team_id=team_id, since=until - timedelta(days=days), until=until
        )
    except DomainError as exc:
        raise PermissionDenied(exc.message) from exc
    team = Team.objects.filter(pk=team_id).first()
    waiting = Lead.objects.filter(
        team_id=team_id, owner__isnull=True, status__in=OPEN_LEAD_STATUSES, deleted_at__isnull=True
    ).count()
    rows = [
        {**vars(row), "load_pct": round(100 * row.open_leads / row.capacity) if row.capacity else 0}
        for row in report.rows
    ]
    return render(
        request,
        "sales/fairness.html",
        {"team": team, "report": report, "rows": rows, "days": days, "waiting": waiting},
    )


@member_page
@require_http_methods(["GET", "POST"])
def web_forms(request: HttpRequest) -> HttpResponse:
    """The web-form builder: forms with their embed snippet and a live preview."""
    actor = _actor(request)
    _require_admin(actor)
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        try:
            form = capture_channels.web_form_create(
                actor=actor,
                name=request.POST.get("name", "").strip() or _("Contact us"),
                fields=request.POST.getlist("fields"),
                required=request.POST.getlist("required"),
                consent_text=request.POST.get("consent_text", "").strip(),
                consent_required=request.POST.get("consent_required") == "on",
                success_message=request.POST.get("success_message", "").strip(),
                product_line=request.POST.get("product_line", "").strip(),
            )
            return redirect(f"{request.path}?form={form.pk}")
        except DomainError as exc:
            errors = exc.fields or {"__all__": [exc.message]}
    forms = list(WebForm.objects.order_by("-id"))
    chosen = next((f for f in forms if str(f.pk) == request.GET.get("form")), None)
    chosen = chosen or (forms[0] if forms else None)
    base = request.build_absolute_uri("/")
    return render(
        request,
        "sales/forms.html",
        {
            "forms": forms,
            "chosen": chosen,
            "snippet": capture_channels.web_form_snippet(chosen, base) if chosen else "",
            "choices": [(f, f) for f in capture_channels.FORM_FIELDS if f != "name"],
            "errors": errors,
        },
        status=422 if errors else 200,
    )
