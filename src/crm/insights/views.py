"""Pages of crm.insights: Customer 360, at-risk customers, segments, the churn playbook.

Thin: parse, call a selector or service, render. Everyone signed in may look (what they see is
limited by record visibility); writes need the write permission, and the bulk follow-up and the
playbook settings need an admin, manager or marketing role (checked again in the services).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from crm.activities.selectors import record_timeline
from crm.core.errors import DomainError, NotFoundError
from crm.customers.selectors import contact_get
from crm.insights import selectors, services
from crm.insights.models import InsightSettings, Stage
from crm.insights.playbook import playbook_preview
from crm.tenancy.models import Membership
from crm.tenancy.pages import member_page

View = Callable[..., HttpResponse]
STAGE_BADGE = {
    "prospect": "text-bg-light border",
    "new": "text-bg-info",
    "active": "text-bg-primary",
    "loyal": "text-bg-success",
    "at_risk": "text-bg-warning",
    "lost": "text-bg-danger",
}


def _actor(request: HttpRequest) -> Membership:
    return cast(Membership, request.membership)  # type: ignore[attr-defined]


def _can_manage(actor: Membership) -> bool:
    return actor.can_write and actor.role in services.INSIGHT_MANAGERS


def _insight_rows(insights: Any) -> list[dict[str, Any]]:
    return [
        {
            "insight": i,
            "badge": STAGE_BADGE.get(i.stage, ""),
            "risk_pct": round(i.churn_risk * 100),
            "reasons": [selectors.reason_text(r) for r in i.churn_reasons or []],
        }
        for i in insights
    ]


@member_page
@require_http_methods(["GET"])
def customer_360(request: HttpRequest, contact_id: int) -> HttpResponse:
    actor = _actor(request)
    try:
        contact = contact_get(actor=actor, contact_id=contact_id)
    except NotFoundError as exc:
        raise Http404 from exc
    try:
        insight = selectors.insight_get(actor=actor, contact_id=contact_id)
    except NotFoundError:
        insight = None
    run = selectors.run_get(run_id=insight.run_id) if insight and insight.run_id else None
    curve = selectors.p_alive_curve(insight, run) if insight else []
    chart = {
        "title": _("P(alive) by days since the last purchase"),
        "x_label": _("Days since the last purchase"),
        "y_label": _("P(alive)"),
        "now": insight.recency_days if insight else None,
        "points": curve,
    }
    context = {
        "contact": contact,
        "insight": insight,
        "badge": STAGE_BADGE.get(insight.stage, "") if insight else "",
        "risk_pct": round(insight.churn_risk * 100) if insight else None,
        "p_alive_pct": round(insight.p_alive * 100)
        if insight and insight.p_alive is not None
        else None,
        "reasons": [selectors.reason_text(r) for r in insight.churn_reasons or []]
        if insight
        else [],
        "actions": [selectors.action_text(a) for a in insight.actions or []] if insight else [],
        "chart": chart,
        "run": run,
        "latest_run": selectors.run_latest(),
        "timeline": record_timeline(
            actor=actor, record_type="contact", record_id=contact.pk, limit=30
        ),
        "playbook": list(selectors.playbook_log(contact_id=contact.pk, limit=20)),
        "can_write": actor.can_write,
    }
    return render(request, "insights/customer_360.html", context)


@member_page
@require_POST
def recompute(request: HttpRequest) -> HttpResponse:
    """The "recompute" button: queue a recompute of the tenant, back to where it came from."""
    actor = _actor(request)
    try:
        services.insight_run_request(actor=actor, trigger="page")
    except DomainError as exc:
        raise PermissionDenied(exc.message) from exc
    messages.success(request, _("A recompute was queued; results appear when it finishes."))
    back = request.POST.get("next", "")
    return redirect(
        back if back.startswith("/") and not back.startswith("//") else "insights:at_risk"
    )


@member_page
@require_http_methods(["GET"])
def at_risk(request: HttpRequest) -> HttpResponse:
    actor = _actor(request)
    stage = request.GET.get("stage", Stage.AT_RISK)
    if stage not in Stage.values and stage != "all":
        stage = Stage.AT_RISK
    segment_arg = request.GET.get("segment", "")
    segment = (
        int(segment_arg) if segment_arg.lstrip("-").isdigit() and len(segment_arg) < 4 else None
    )
    qs = selectors.insight_list(actor=actor, stage="" if stage == "all" else stage, segment=segment)
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    context = {
        "rows": _insight_rows(page.object_list),
        "page": page,
        "stage": stage,
        "segment": "" if segment is None else segment,
        "stages": [("all", _("All stages")), *Stage.choices],
        "can_manage": _can_manage(actor),
        "latest_run": selectors.run_latest(),
    }
    return render(request, "insights/at_risk.html", context)


@member_page
@require_POST
def followup_tasks(request: HttpRequest) -> HttpResponse:
    """Bulk "create follow-up tasks": first a confirmation page, then the service call."""
    actor = _actor(request)
    if not _can_manage(actor):
        raise PermissionDenied
    ids = [int(v) for v in request.POST.getlist("contact_ids") if v.isdigit()][:500]
    chosen = list(selectors.insight_list(actor=actor).filter(contact_id__in=ids))
    if not chosen:
        messages.warning(request, _("Choose at least one customer."))
        return redirect("insights:at_risk")
    if request.POST.get("confirm") != "yes":
        return render(request, "insights/followup_confirm.html", {"rows": _insight_rows(chosen)})
    try:
        created = services.followup_tasks_create(actor=actor, contact_ids=ids)
    except DomainError as exc:
        raise PermissionDenied(exc.message) from exc
    messages.success(
        request, _("%(count)s follow-up tasks were created.") % {"count": len(created)}
    )
    return redirect("insights:at_risk")


@member_page
@require_http_methods(["GET"])
def segments(request: HttpRequest) -> HttpResponse:
    actor = _actor(request)
    rows = selectors.segment_summary(actor=actor)
    chart = {
        "title": _("Segments"),
        "x_label": _("Mean days since the last purchase"),
        "y_label": _("Mean 12-month value"),
        "size_label": _("Customers"),
        "points": [
            {
                "name": r["name"],
                "recency": r["mean_recency_days"] or 0,
                "value": r["clv_12m_mean"],
                "customers": r["customers"],
                "risk": r["mean_churn_risk"],
            }
            for r in rows
            if r["segment"] >= 0
        ],
    }
    return render(
        request,
        "insights/segments.html",
        {"rows": rows, "chart": chart, "latest_run": selectors.run_latest()},
    )


class PlaybookSettingsForm(forms.ModelForm):
    class Meta:
        model = InsightSettings
        fields = services.SETTINGS_FIELDS
        labels = {
            "churn_label_days": gettext_lazy("Churn label: no order within (days)"),
            "playbook_enabled": gettext_lazy("Run the playbook every day"),
            "at_risk_threshold": gettext_lazy("At-risk threshold (churn risk 0-1)"),
            "cooldown_days": gettext_lazy("Cool-down (days)"),
            "coupon_value": gettext_lazy("Coupon value"),
            "coupon_valid_days": gettext_lazy("Coupon valid for (days)"),
            "task_due_days": gettext_lazy("Follow-up task due in (days)"),
            "max_per_run": gettext_lazy("At most this many customers per day"),
            "email_subject": gettext_lazy("Email subject"),
            "email_body": gettext_lazy("Email body"),
        }
        widgets = {"email_body": forms.Textarea(attrs={"rows": 8})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            if not isinstance(field.widget, forms.CheckboxInput):
                field.widget.attrs.setdefault("class", "form-control")


@member_page
@require_http_methods(["GET", "POST"])
def playbook(request: HttpRequest) -> HttpResponse:
    actor = _actor(request)
    current = selectors.settings_get()
    form = PlaybookSettingsForm(instance=current)
    if request.method == "POST":
        if not _can_manage(actor):
            raise PermissionDenied
        form = PlaybookSettingsForm(request.POST, instance=selectors.settings_get())
        if form.is_valid():
            try:
                with transaction.atomic():
                    services.insight_settings_update(
                        actor=actor, values={k: form.cleaned_data[k] for k in form.fields}
                    )
            except DomainError as exc:
                for field, errors in exc.fields.items():
                    for error in errors:
                        form.add_error(field if field in form.fields else None, error)
            else:
                messages.success(request, _("Playbook settings saved."))
                return redirect("insights:playbook")
    if not _can_manage(actor):
        for form_field in form.fields.values():
            form_field.disabled = True
    preview = playbook_preview(actor=actor)
    context = {
        "form": form,
        "preview": preview,
        "can_manage": _can_manage(actor),
        "placeholders": [f"{{{name}}}" for name in services.TEMPLATE_FIELDS],
    }
    return render(request, "insights/playbook.html", context)
