"""The record page's quick actions (log an activity, add a task, send an email, change the
owner) and an order's lines. Each parses the form, calls the owning app's service, and answers
the refreshed timeline (HTMX) or redirects back to the record page."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from crm.activities import services as activity_services
from crm.core.errors import ValidationFailedError
from crm.sales import selectors as sales_selectors
from crm.sales import services as sales_services
from crm.web import forms as web_forms
from crm.web.kinds import Kind
from crm.web.views.base import actor_of, member_required, render_page
from crm.web.views.records import detail_context, first_message, flash_form_errors, kind_or_404


def _after_quick_action(
    request: HttpRequest, kind: Kind, obj: Any, *, form_name: str, form: Any, ok: bool
) -> HttpResponse:
    """HTMX: the refreshed timeline plus a fresh form (or the form with its errors).
    Without HTMX: back to the record page."""
    if not getattr(request, "htmx", False):
        if not ok:
            flash_form_errors(request, form)
        return redirect(reverse(f"web:{kind.name}_detail", kwargs={"pk": obj.pk}))
    context = detail_context(request, kind, obj)
    if not ok:
        context[form_name] = form
        context["active_tab"] = form_name.removesuffix("_form")
        response = render_page(request, "web/partials/quick_actions.html", context)
        response["HX-Retarget"] = "#quick-actions"
        response["HX-Reswap"] = "outerHTML"
        return response
    return render_page(request, "web/partials/timeline_refresh.html", context)


@require_POST
@member_required
def record_log(request: HttpRequest, kind_name: str, pk: int) -> HttpResponse:
    kind = kind_or_404(kind_name)
    if not kind.timeline:
        raise Http404
    actor = actor_of(request)
    obj = kind.get(actor, pk)
    form = web_forms.LogActivityForm(request.POST, prefix="log")
    ok = form.is_valid()
    if ok:
        values = {k: v for k, v in form.cleaned_data.items() if v not in (None, "")}
        try:
            activity_services.activity_log(
                actor=actor, record_type=kind.name, record_id=obj.pk, values=values
            )
        except ValidationFailedError as exc:
            form.add_service_error(exc)
            ok = False
    return _after_quick_action(request, kind, obj, form_name="log_form", form=form, ok=ok)


@require_POST
@member_required
def record_task(request: HttpRequest, kind_name: str, pk: int) -> HttpResponse:
    kind = kind_or_404(kind_name)
    if not kind.timeline:
        raise Http404
    actor = actor_of(request)
    obj = kind.get(actor, pk)
    form = web_forms.QuickTaskForm(request.POST, prefix="task")
    ok = form.is_valid()
    if ok:
        data = form.cleaned_data
        try:
            activity_services.task_create(
                actor=actor,
                values={k: data[k] for k in ("title", "due_at", "reminder_at")},
                record_type=kind.name,
                record_id=obj.pk,
                assignee_id=data["assignee"].pk if data.get("assignee") else None,
            )
        except ValidationFailedError as exc:
            form.add_service_error(exc)
            ok = False
    return _after_quick_action(request, kind, obj, form_name="task_form", form=form, ok=ok)


@require_POST
@member_required
def record_email(request: HttpRequest, kind_name: str, pk: int) -> HttpResponse:
    kind = kind_or_404(kind_name)
    if not kind.timeline:
        raise Http404
    actor = actor_of(request)
    obj = kind.get(actor, pk)
    form = web_forms.EmailForm(request.POST, prefix="email")
    ok = form.is_valid()
    if ok:
        try:
            activity_services.record_email_send(
                actor=actor,
                record_type=kind.name,
                record_id=obj.pk,
                subject=form.cleaned_data["subject"],
                body=form.cleaned_data["body"],
            )
        except ValidationFailedError as exc:
            form.add_service_error(exc)
            ok = False
    return _after_quick_action(request, kind, obj, form_name="email_form", form=form, ok=ok)


@require_POST
@member_required
def record_owner(request: HttpRequest, kind_name: str, pk: int) -> HttpResponse:
    kind = kind_or_404(kind_name)
    if kind.update is None:
        raise Http404
    actor = actor_of(request)
    obj = kind.get(actor, pk)
    form = web_forms.OwnerForm(request.POST)
    if form.is_valid():
        try:
            kind.update(actor, obj, {kind.owner_field: form.cleaned_data["owner"]})
        except ValidationFailedError as exc:
            messages.error(request, first_message(exc))
        else:
            messages.success(
                request, _("Owner changed to %(name)s.") % {"name": form.cleaned_data["owner"]}
            )
    else:
        messages.error(request, _("Choose the new owner."))
    return redirect(reverse(f"web:{kind.name}_detail", kwargs={"pk": obj.pk}))


# --- order lines --------------------------------------------------------------------------------


@require_POST
@member_required
def order_line_add(request: HttpRequest, pk: int) -> HttpResponse:
    actor = actor_of(request)
    order = sales_selectors.order_get(actor=actor, order_id=pk)
    form = web_forms.OrderLineForm(request.POST, prefix="line")
    if form.is_valid():
        data = form.cleaned_data
        line: dict[str, Any] = {"quantity": data["quantity"], "description": data["description"]}
        if data.get("product"):
            line["product_id"] = data["product"].pk
        if data.get("unit_price") is not None:
            line["unit_price"] = data["unit_price"]
        try:
            sales_services.order_line_add(actor=actor, order=order, line=line)
        except ValidationFailedError as exc:
            messages.error(request, first_message(exc))
    else:
        flash_form_errors(request, form)
    return redirect(reverse("web:order_detail", kwargs={"pk": order.pk}))


@require_POST
@member_required
def order_line_delete(request: HttpRequest, pk: int, line_pk: int) -> HttpResponse:
    actor = actor_of(request)
    order = sales_selectors.order_get(actor=actor, order_id=pk)
    line = sales_selectors.order_line_get(actor=actor, line_id=line_pk)
    if line.order_id != order.pk:
        raise Http404
    sales_services.order_line_delete(actor=actor, line=line)
    return redirect(reverse("web:order_detail", kwargs={"pk": order.pk}))
