"""The opportunity kanban and the stage move (drag and drop, the record page's stage menu)."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from crm.core.errors import DomainError, NotFoundError
from crm.sales import selectors as sales_selectors
from crm.sales import services as sales_services
from crm.tenancy.selectors import team_list
from crm.web import forms as web_forms
from crm.web import selectors as web_selectors
from crm.web.display import format_money
from crm.web.selectors import KanbanColumn
from crm.web.views.base import actor_of, member_required, render_page


def _int(params: QueryDict, key: str) -> int | None:
    value = params.get(key, "")
    return int(value) if value.isdigit() and len(value) < 19 else None


def _date(params: QueryDict, key: str) -> date | None:
    try:
        return date.fromisoformat(params.get(key, ""))
    except ValueError:
        return None


def _filters(params: QueryDict) -> dict[str, Any]:
    return {
        "owner_id": _int(params, "owner"),
        "team_id": _int(params, "team"),
        "close_after": _date(params, "close_after"),
        "close_before": _date(params, "close_before"),
    }


def _pipeline(params: QueryDict) -> Any:
    pipeline_id = _int(params, "pipeline")
    if pipeline_id is not None:
        return sales_selectors.pipeline_get(pipeline_id=pipeline_id)
    pipeline = sales_selectors.pipeline_list().first()
    if pipeline is None:
        raise NotFoundError("No pipeline.")
    return pipeline


# One card's markup, filled by format_html (which escapes every value). A board shows up to
# 40 cards per column; rendering them through the template engine took most of the page's time.
CARD_HTML = (
    '<li class="kanban-card card" data-id="{pk}" data-move-url="{move_url}">'
    '<div class="card-body p-2">'
    '<div class="d-flex justify-content-between gap-1">'
    '<a class="fw-semibold card-name" href="{url}">{name}</a>{handle}</div>'
    "{account}"
    '<div class="small"><span class="card-amount">{amount}</span> · '
    '<span class="card-probability">{probability}%</span></div>'
    '<div class="small text-body-secondary">{owner} · {days}</div>'
    "{task}{move}"
    "</div></li>"
)
HANDLE_HTML = mark_safe('<span class="drag-handle" aria-hidden="true">⠿</span>')  # nosec
MOVE_HTML = (
    '<button type="button" class="btn btn-sm btn-outline-secondary mt-1 card-move-button" '
    'aria-haspopup="menu" aria-expanded="false">{move}<span class="visually-hidden"> {name}'
    '</span> <span aria-hidden="true">▸</span></button>'
)


def _card_html(
    opp: Any, *, now: Any, detail: str, move: str, move_text: str, can_write: bool
) -> str:
    days = max(0, (now - opp.stage_entered_at).days) if opp.stage_entered_at else 0
    due = getattr(opp, "next_task_due", None)
    task_title = getattr(opp, "next_task_title", None) or ""
    task = ""
    if task_title:
        when = f" · {timezone.localtime(due).strftime('%m-%d')}" if due else ""
        task = format_html('<div class="small text-truncate">☐ {}{}</div>', task_title, when)
    account = opp.account.name if opp.account_id and opp.account else ""
    return format_html(
        CARD_HTML,
        pk=opp.pk,
        move_url=move.replace("/0/", f"/{opp.pk}/"),
        url=detail.replace("/0/", f"/{opp.pk}/"),
        name=opp.name,
        handle=HANDLE_HTML if can_write else "",
        account=(
            format_html('<div class="small text-body-secondary text-truncate">{}</div>', account)
            if account
            else ""
        ),
        amount=f"{format_money(opp.amount)} {opp.currency}",
        probability=opp.probability,
        owner=str(opp.owner) if opp.owner else "—",
        days=ngettext("%(n)d day in stage", "%(n)d days in stage", days) % {"n": days},
        task=task,
        move=format_html(MOVE_HTML, move=move_text, name=opp.name) if can_write else "",
    )


def _column_view(column: KanbanColumn, *, can_write: bool) -> dict[str, Any]:
    """A column and its cards' markup, made here once: a board shows hundreds of cards."""
    detail = reverse("web:opportunity_detail", kwargs={"pk": 0})
    move = reverse("web:opportunity_move", kwargs={"pk": 0})
    move_text = _("Move")
    now = timezone.now()
    cards = [
        _card_html(opp, now=now, detail=detail, move=move, move_text=move_text, can_write=can_write)
        for opp in column.cards
    ]
    return {
        "stage": column.stage,
        "count": column.count,
        "amount": format_money(column.amount),
        "hidden": column.hidden,
        "cards_html": mark_safe("".join(cards)),  # noqa: S308  # nosec
    }


@member_required
def kanban(request: HttpRequest) -> HttpResponse:
    actor = actor_of(request)
    pipeline = _pipeline(request.GET)
    filters = _filters(request.GET)
    columns = web_selectors.kanban_board(actor=actor, pipeline=pipeline, **filters)
    filter_query = request.GET.copy()
    context = {
        "pipeline": pipeline,
        "pipelines": sales_selectors.pipeline_list(),
        "columns": [_column_view(column, can_write=actor.can_write) for column in columns],
        "members": web_selectors.active_members(),
        "teams": team_list(),
        "params": request.GET,
        "filter_query": filter_query.urlencode(),
        "can_write": actor.can_write,
    }
    return render_page(request, "web/kanban.html", context)


@require_POST
@member_required
def opportunity_move(request: HttpRequest, pk: int) -> HttpResponse:
    """Move to a stage through the service (permission re-checked, StageChange recorded).

    Answers JSON to the kanban (with the new column totals under the board's filters) and
    redirects back to the record page for the plain form.
    """
    actor = actor_of(request)
    opportunity = sales_selectors.opportunity_get(actor=actor, opportunity_id=pk)
    form = web_forms.MoveForm(request.POST)
    wants_json = "application/json" in request.headers.get("Accept", "")
    from_stage_id = opportunity.stage_id
    error = ""
    status = 200
    if not form.is_valid():
        error, status = _("Choose a stage."), 422
    else:
        try:
            sales_services.opportunity_move(
                actor=actor, opportunity=opportunity, stage_id=form.cleaned_data["stage_id"]
            )
        except DomainError as exc:
            fields = [m for ms in (exc.fields or {}).values() for m in ms]
            error, status = (str(fields[0]) if fields else exc.message), exc.status
    if not wants_json:
        if error:
            messages.error(request, error)
        else:
            messages.success(request, _("Stage changed."))
        return redirect(reverse("web:opportunity_detail", kwargs={"pk": pk}))
    if error:
        return JsonResponse({"ok": False, "message": error}, status=status)
    opportunity.refresh_from_db()
    filters = QueryDict(request.POST.get("filters", "")[:1000])
    board_qs = web_selectors.kanban_opportunities(
        actor=actor, pipeline_id=opportunity.pipeline_id, **_filters(filters)
    )
    totals = web_selectors.kanban_totals(board_qs)
    stages = sales_selectors.stage_list(pipeline_id=opportunity.pipeline_id)
    return JsonResponse(
        {
            "ok": True,
            "id": opportunity.pk,
            "stage_id": opportunity.stage_id,
            "from_stage_id": from_stage_id,
            "probability": opportunity.probability,
            "message": _("“%(name)s” moved to %(stage)s.")
            % {"name": opportunity.name, "stage": opportunity.stage.name},
            "totals": {
                str(s.pk): {
                    "count": totals.get(s.pk, (0, 0))[0],
                    "amount": format_money(totals.get(s.pk, (0, 0))[1]),
                }
                for s in stages
            },
        }
    )
