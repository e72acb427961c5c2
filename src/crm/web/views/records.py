"""Lists, record pages, forms, inline edits, quick actions and bulk actions of every kind.

Each view parses the request, calls the kind's selector or service, and renders. Another
tenant's or an invisible record raises NotFoundError in the selector, which the middleware
turns into a 404 page.
"""

from __future__ import annotations

from contextlib import suppress
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from crm.activities import selectors as activity_selectors
from crm.activities.models import TaskStatus
from crm.core import pagination
from crm.core.errors import DomainError, ValidationFailedError
from crm.core.pagination import DEFERRED_JOIN_OFFSET, Page, bounded_count, paginate
from crm.customers import selectors as customer_selectors
from crm.sales import selectors as sales_selectors
from crm.tenancy.permissions import require_write
from crm.tenancy.selectors import audit_for_record
from crm.web import duplicates
from crm.web import forms as web_forms
from crm.web import selectors as web_selectors
from crm.web import services as web_services
from crm.web.display import Cell, display, title_of
from crm.web.kinds import KINDS, Kind
from crm.web.views.base import actor_of, member_required, offer_undo, posted, render_page, safe_next

PAGE_SIZES = (25, 50, 100)
MAX_PAGE = 1_000_000
LIST_PARAMS = ("q", "sort", "per")


def flash_form_errors(request: HttpRequest, form: Any) -> None:
    for errors in form.errors.values():
        for error in errors:
            messages.error(request, str(error))


def kind_or_404(name: str) -> Kind:
    kind = KINDS.get(name)
    if kind is None:
        raise Http404
    return kind


def _positive_int(value: str | None, default: int, maximum: int) -> int:
    text = (value or "").strip()
    if not text.isdigit() or len(text) > 9:
        return default
    return max(1, min(int(text), maximum))


def _chosen_columns(kind: Kind, actor: Any) -> list[str]:
    saved = web_selectors.list_columns_get(actor=actor, list_name=kind.name) or []
    chosen = [c for c in saved if c in kind.column_keys]
    return chosen or kind.default_columns


# --- lists --------------------------------------------------------------------------------------


@member_required
def record_list(request: HttpRequest, kind_name: str) -> HttpResponse:
    kind = kind_or_404(kind_name)
    actor = actor_of(request)
    params = request.GET
    per = _positive_int(params.get("per"), PAGE_SIZES[0], PAGE_SIZES[-1])
    per = per if per in PAGE_SIZES else PAGE_SIZES[0]
    page_no = _positive_int(params.get("page"), 1, MAX_PAGE)
    list_ids = kind.extra.get("list_ids")
    page = _list_page(
        kind.list_qs(actor, params),
        offset=(page_no - 1) * per,
        limit=per,
        ids=list_ids(actor, params) if list_ids else None,
    )
    chosen = _chosen_columns(kind, actor)
    columns = [c for key in chosen for c in kind.columns if c.key == key]
    rows = [
        (obj, [_linked_first(display(obj, c.key), obj, i, kind) for i, c in enumerate(columns)])
        for obj in page.items
    ]
    filters = [
        {
            "key": f.key,
            "label": f.label,
            "value": params.get(f.key, ""),
            "choices": f.choices() if f.choices else None,
        }
        for f in kind.filters
    ]
    query = params.copy()
    query.pop("page", None)
    context = {
        "kind": kind,
        "columns": columns,
        "all_columns": kind.columns,
        "chosen": chosen,
        "rows": rows,
        "page": page,
        "page_no": page_no,
        "per": per,
        "page_sizes": PAGE_SIZES,
        "first_row": page.offset + 1 if page.items else 0,
        "last_row": page.offset + len(page.items),
        "filters": filters,
        "sort": params.get("sort", ""),
        "q": params.get("q", ""),
        "query": query.urlencode(),
        "saved_views": web_selectors.saved_view_list(actor=actor, list_name=kind.name),
        "bulk_actions": kind.bulk_actions if actor.can_write else (),
        "members": web_selectors.active_members(),
        "tags": customer_selectors.tag_list(),
    }
    return render_page(request, "web/list.html", context, partial="web/partials/list_table.html")


def _list_page(
    queryset: QuerySet[Any], *, offset: int, limit: int, ids: QuerySet[Any, Any] | None = None
) -> Page:
    """`paginate`, except that a deep page loads its rows by id without the list's filters: the
    ids were chosen under them (tenant, visibility, search), and a name search's UNION subquery
    would otherwise be evaluated again (270 ms for page 1,000 of `zh` at 500,000 contacts).

    `ids`: the kind's own walk over the list's ids in its order (`Kind.extra["list_ids"]`), used
    for every page and for the count. A page with rows past EXACT_COUNT_LIMIT says "many"
    without counting."""
    if offset < DEFERRED_JOIN_OFFSET and ids is None:
        return paginate(queryset, offset=offset, limit=limit, with_count=True)
    walk = queryset.values_list("pk", flat=True) if ids is None else ids
    page_ids = list(walk[offset : offset + limit + 1])
    rows_qs = queryset.all()  # keeps the joins, annotations and prefetches of the list
    rows_qs.query.where = queryset.model._default_manager.filter(pk__in=page_ids).query.where
    by_id = {row.pk: row for row in rows_qs}
    rows = [by_id[pk] for pk in page_ids if pk in by_id]
    has_more = len(rows) > limit
    rows = rows[:limit]
    count: int | None
    if not has_more and (rows or offset == 0):
        count = offset + len(rows)
    elif rows and offset + len(rows) > pagination.EXACT_COUNT_LIMIT:
        count = None  # more than EXACT_COUNT_LIMIT: "many", as bounded_count would say
    else:
        count = bounded_count(walk)
    return Page(rows, offset, limit, has_more, count)


def _linked_first(cell: Cell, obj: Any, index: int, kind: Kind) -> Cell:
    """The first column links to the record page."""
    if index == 0 and cell.url is None:
        return Cell(cell.text, reverse(f"web:{kind.name}_detail", kwargs={"pk": obj.pk}))
    return cell


@require_POST
@member_required
def list_columns(request: HttpRequest, kind_name: str) -> HttpResponse:
    kind = kind_or_404(kind_name)
    try:
        web_services.list_columns_set(
            actor=actor_of(request),
            list_name=kind.name,
            columns=request.POST.getlist("columns"),
            allowed=kind.column_keys,
        )
    except ValidationFailedError as exc:
        messages.error(request, first_message(exc))
    return redirect(safe_next(request, reverse(f"web:{kind.name}_list")))


@require_POST
@member_required
def saved_view_save(request: HttpRequest, kind_name: str) -> HttpResponse:
    kind = kind_or_404(kind_name)
    form = web_forms.SavedViewForm(request.POST)
    list_url = reverse(f"web:{kind.name}_list")
    if not form.is_valid():
        messages.error(request, _("Give the view a name of at most 80 characters."))
        return redirect(list_url)
    query = _clean_view_query(form.cleaned_data["query"], kind)
    try:
        view = web_services.saved_view_save(
            actor=actor_of(request),
            list_name=kind.name,
            name=form.cleaned_data["name"],
            query=query,
        )
    except ValidationFailedError as exc:
        messages.error(request, first_message(exc))
        return redirect(list_url)
    messages.success(request, _("View “%(name)s” saved.") % {"name": view.name})
    return redirect(f"{list_url}?{view.query}" if view.query else list_url)


def _clean_view_query(raw: str, kind: Kind) -> str:
    """Keep only the parameters a list understands (search, sort, size and its filters)."""
    allowed = set(LIST_PARAMS) | {f.key for f in kind.filters}
    source = QueryDict(raw)
    kept = [(k, v) for k in source for v in source.getlist(k) if k in allowed and v]
    return urlencode(kept)


@require_POST
@member_required
def saved_view_delete(request: HttpRequest, pk: int) -> HttpResponse:
    actor = actor_of(request)
    view = web_selectors.saved_view_get(actor=actor, view_id=pk)
    web_services.saved_view_delete(actor=actor, view=view)
    messages.success(request, _("View deleted."))
    return redirect(reverse(f"web:{view.list_name}_list"))


@require_POST
@member_required
def record_bulk(request: HttpRequest, kind_name: str) -> HttpResponse:
    kind = kind_or_404(kind_name)
    actor = actor_of(request)
    list_url = safe_next(request, reverse(f"web:{kind.name}_list"))
    form = web_forms.BulkForm(request.POST)
    if not form.is_valid():
        flash_form_errors(request, form)
        return redirect(list_url)
    data = form.cleaned_data
    action = data["action"]
    if action not in kind.bulk_actions:
        raise Http404
    records = list(kind.list_qs(actor, {}).filter(pk__in=data["ids"]))
    if not data["confirm"]:
        context = {
            "kind": kind,
            "records": [(r, title_of(r)) for r in records],
            "action": action,
            "owner": data.get("owner"),
            "tag": data.get("tag"),
            "next": list_url,
        }
        return render_page(request, "web/bulk_confirm.html", context)
    if action == "delete" and kind.delete is not None:
        delete = kind.delete
        result = web_services.bulk_apply(records=records, action=lambda r: delete(actor, r))
    elif action == "owner" and kind.update is not None:
        update, values = kind.update, {kind.owner_field: data["owner"]}
        result = web_services.bulk_apply(records=records, action=lambda r: update(actor, r, values))
    elif action == "tag" and kind.update is not None:
        update, tag = kind.update, data["tag"]
        result = web_services.bulk_apply(
            records=records,
            action=lambda r: update(actor, r, {"tags": [*r.tags.all(), tag]}),  # type: ignore[attr-defined]
        )
    else:
        raise Http404
    messages.success(request, _("%(n)d records changed.") % {"n": result.done})
    for failure in result.failed[:10]:
        messages.error(request, failure)
    return redirect(list_url)


# --- forms --------------------------------------------------------------------------------------


def _initial_from(obj: Any, form: web_forms.ServiceForm) -> dict[str, Any]:
    initial: dict[str, Any] = {}
    for name in form.fields:
        if name == "tags":
            initial[name] = [t.pk for t in obj.tags.all()]
            continue
        value: Any = getattr(obj, name, None)
        if isinstance(value, datetime):
            value = timezone.localtime(value)
        elif hasattr(value, "pk"):
            form.set_picker_label(name, title_of(value))
            value = value.pk
        initial[name] = value
    return initial


def first_message(exc: DomainError) -> str:
    for field_messages in (exc.fields or {}).values():
        if field_messages:
            return str(field_messages[0])
    return exc.message


@member_required
def record_create(request: HttpRequest, kind_name: str) -> HttpResponse:
    kind = kind_or_404(kind_name)
    if kind.create is None:
        raise Http404
    actor = actor_of(request)
    require_write(actor)
    form = kind.form(posted(request), only=kind.create_fields, initial=_create_initial(request))
    _label_pickers_from_get(request, form, actor)
    submitted = request.method == "POST" and form.is_valid()
    likely: list[Any] = []
    if submitted and not request.POST.get(duplicates.CREATE_ANYWAY):
        likely = duplicates.check(actor, kind.name, form.cleaned_data)
    if submitted and not likely:
        try:
            obj = kind.create(actor, form.cleaned_data)
        except ValidationFailedError as exc:
            form.add_service_error(exc)
        else:
            messages.success(
                request,
                _("%(kind)s “%(title)s” created.") % {"kind": kind.label, "title": title_of(obj)},
            )
            return redirect(reverse(f"web:{kind.name}_detail", kwargs={"pk": obj.pk}))
    status = 422 if request.method == "POST" and not likely else 200
    return render_page(
        request,
        "web/form.html",
        {
            "kind": kind,
            "form": form,
            "title": _("New %(kind)s") % {"kind": kind.label},
            "likely_duplicates": likely,
            "create_anyway": duplicates.CREATE_ANYWAY,
        },
        status=status,
    )


def _create_initial(request: HttpRequest) -> dict[str, Any]:
    """Prefill from the query string (?account=5&lead=7&name=...)."""
    initial: dict[str, Any] = {}
    for key in ("account", "contact", "lead", "name", "stage", "pipeline"):
        value = request.GET.get(key, "")[:200]
        if value:
            initial[key] = value
    return initial


def _label_pickers_from_get(request: HttpRequest, form: web_forms.ServiceForm, actor: Any) -> None:
    """A prefilled account or contact shows its name in the chooser."""
    for key, getter in (
        ("account", lambda pk: customer_selectors.account_get(actor=actor, account_id=pk)),
        ("contact", lambda pk: customer_selectors.contact_get(actor=actor, contact_id=pk)),
    ):
        raw = request.POST.get(key) or request.GET.get(key) or ""
        if raw.isdigit() and key in form.fields:
            with suppress(DomainError):
                form.set_picker_label(key, title_of(getter(int(raw))))


@member_required
def record_edit(request: HttpRequest, kind_name: str, pk: int) -> HttpResponse:
    kind = kind_or_404(kind_name)
    if kind.update is None:
        raise Http404
    actor = actor_of(request)
    obj = kind.get(actor, pk)
    require_write(actor)
    form = kind.form(posted(request), only=kind.edit_fields)
    form.initial = _initial_from(obj, form)
    _label_pickers_from_get(request, form, actor)
    if request.method == "POST" and form.is_valid():
        try:
            kind.update(actor, obj, form.cleaned_data)
        except ValidationFailedError as exc:
            form.add_service_error(exc)
        else:
            messages.success(request, _("Changes saved."))
            return redirect(reverse(f"web:{kind.name}_detail", kwargs={"pk": obj.pk}))
    status = 422 if request.method == "POST" else 200
    return render_page(
        request,
        "web/form.html",
        {"kind": kind, "form": form, "obj": obj, "title": title_of(obj)},
        status=status,
    )


@member_required
def record_delete(request: HttpRequest, kind_name: str, pk: int) -> HttpResponse:
    kind = kind_or_404(kind_name)
    if kind.delete is None:
        raise Http404
    actor = actor_of(request)
    obj = kind.get(actor, pk)
    if request.method != "POST":
        return render_page(request, "web/delete_confirm.html", {"kind": kind, "obj": obj})
    title = title_of(obj)
    kind.delete(actor, obj)
    message = _("%(kind)s “%(title)s” deleted.") % {"kind": kind.label, "title": title}
    if kind.restore is not None:
        offer_undo(
            request, url=reverse(f"web:{kind.name}_restore", kwargs={"pk": pk}), message=message
        )
    else:
        messages.success(request, message)
    return redirect(reverse(f"web:{kind.name}_list"))


@require_POST
@member_required
def record_restore(request: HttpRequest, kind_name: str, pk: int) -> HttpResponse:
    kind = kind_or_404(kind_name)
    if kind.restore is None:
        raise Http404
    obj = kind.restore(actor_of(request), pk)
    messages.success(request, _("“%(title)s” restored.") % {"title": title_of(obj)})
    return redirect(reverse(f"web:{kind.name}_detail", kwargs={"pk": pk}))


# --- record page --------------------------------------------------------------------------------


def _entry(at: Any, kind: str, title: str, detail: str, actor: str) -> dict[str, Any]:
    # The times as text here: the `date` filter on a 100-entry timeline cost ~10 ms.
    local = timezone.localtime(at)
    return {
        "at": at,
        "iso": local.isoformat(),
        "when": local.strftime("%Y-%m-%d %H:%M"),
        "kind": kind,
        "title": title,
        "detail": detail,
        "actor": actor,
    }


def _timeline(kind: Kind, actor: Any, obj: Any) -> list[dict[str, Any]]:
    if kind.timeline:
        entries = activity_selectors.record_timeline(
            actor=actor, record_type=kind.name, record_id=obj.pk, limit=100
        )
        return [_entry(e.at, e.kind, e.title, e.detail, e.actor) for e in entries]
    return [
        _entry(a.at, "audit", a.action, ", ".join(sorted(a.changes)), a.actor_label)
        for a in audit_for_record(record_type=kind.name, record_id=obj.pk)[:100]
    ]


def _related(kind: Kind, actor: Any, obj: Any) -> list[dict[str, Any]]:
    """Related records, each list capped; links go to the full filtered list."""
    groups: list[tuple[str, str, Any, str]] = []
    if kind.name == "account":
        groups = [
            (
                "contact",
                str(_("Contacts")),
                customer_selectors.contact_list(actor=actor, account_id=obj.pk),
                f"account={obj.pk}",
            ),
            (
                "opportunity",
                str(_("Opportunities")),
                sales_selectors.opportunity_list(actor=actor, account_id=obj.pk),
                f"account={obj.pk}",
            ),
            (
                "order",
                str(_("Orders")),
                sales_selectors.order_list(actor=actor, account_id=obj.pk),
                f"account={obj.pk}",
            ),
        ]
    elif kind.name == "contact":
        groups = [
            (
                "order",
                str(_("Orders")),
                sales_selectors.order_list(actor=actor, contact_id=obj.pk),
                f"contact={obj.pk}",
            ),
        ]
    result = []
    for related_kind, label, qs, query in groups:
        items = list(qs[:10])
        result.append(
            {
                "label": label,
                "items": [
                    (title_of(i), reverse(f"web:{related_kind}_detail", kwargs={"pk": i.pk}))
                    for i in items
                ],
                "more": reverse(f"web:{related_kind}_list") + "?" + query,
            }
        )
    return result


def detail_context(request: HttpRequest, kind: Kind, obj: Any) -> dict[str, Any]:
    actor = actor_of(request)
    can_edit = actor.can_write and kind.update is not None
    fields = [
        {
            "name": name,
            "label": web_forms.LABELS.get(name, name),
            "cell": display(obj, name),
            "editable": can_edit and name in kind.inline_fields,
        }
        for name in kind.detail_fields
    ]
    context: dict[str, Any] = {
        "kind": kind,
        "obj": obj,
        "title": title_of(obj),
        "title_cell": display(obj, kind.title_field),
        "title_editable": can_edit and kind.title_field in kind.inline_fields,
        "fields": fields,
        "timeline": _timeline(kind, actor, obj),
        "related": _related(kind, actor, obj),
        "can_write": actor.can_write,
    }
    if kind.timeline and actor.can_write:
        context["open_tasks"] = activity_selectors.task_list(
            actor=actor,
            record_type=kind.name,
            record_id=obj.pk,
            status=TaskStatus.OPEN,
            ordering="due_at",
        )[:20]
        context["log_form"] = web_forms.LogActivityForm(prefix="log")
        context["task_form"] = web_forms.QuickTaskForm(prefix="task")
        if getattr(obj, "email", ""):
            context["email_form"] = web_forms.EmailForm(prefix="email")
    if can_edit and kind.owner_field and hasattr(obj, kind.owner_field):
        owner = getattr(obj, kind.owner_field)
        context["owner_form"] = web_forms.OwnerForm(initial={"owner": owner.pk if owner else None})
    if kind.name == "opportunity":
        context["stages"] = sales_selectors.stage_list(pipeline_id=obj.pipeline_id)
    if kind.name == "lead" and actor.can_write:
        account = (
            customer_selectors.account_list(actor=actor, search=obj.company).first()
            if obj.company
            else None
        )
        query = {"lead": obj.pk, "name": obj.company or obj.name}
        if account is not None:
            query["account"] = account.pk
        context["new_opportunity_url"] = reverse("web:opportunity_create") + "?" + urlencode(query)
        context["new_account_url"] = (
            reverse("web:account_create") + "?" + urlencode({"name": obj.company})
            if obj.company and account is None
            else None
        )
    if kind.name == "account" and actor.can_write:
        context["new_opportunity_url"] = (
            reverse("web:opportunity_create")
            + "?"
            + urlencode({"account": obj.pk, "name": obj.name})
        )
    if kind.name == "order":
        context["lines"] = sales_selectors.order_line_list(actor=actor, order_id=obj.pk)
        if actor.can_write:
            context["line_form"] = web_forms.OrderLineForm(prefix="line")
    return context


@member_required
def record_detail(request: HttpRequest, kind_name: str, pk: int) -> HttpResponse:
    kind = kind_or_404(kind_name)
    obj = kind.get(actor_of(request), pk)
    return render_page(request, "web/record.html", detail_context(request, kind, obj))


@member_required
def record_field(request: HttpRequest, kind_name: str, pk: int, field: str) -> HttpResponse:
    """Inline edit of one field: GET the editor (or ?cancel=1 the value), POST to save."""
    kind = kind_or_404(kind_name)
    if field not in kind.inline_fields or kind.update is None:
        raise Http404
    actor = actor_of(request)
    obj = kind.get(actor, pk)
    require_write(actor)
    context: dict[str, Any] = {
        "kind": kind,
        "obj": obj,
        "field": field,
        "label": web_forms.LABELS.get(field, field),
    }
    if request.method == "POST":
        form = kind.form(request.POST, only=[field])
        if form.is_valid():
            try:
                kind.update(actor, obj, form.cleaned_data)
            except ValidationFailedError as exc:
                form.add_service_error(exc)
            else:
                obj = kind.get(actor, pk)
                context.update(obj=obj, cell=display(obj, field), saved=True)
                return render_page(request, "web/partials/field_view.html", context)
        context["form"] = form
        return render_page(request, "web/partials/field_edit.html", context)
    if request.GET.get("cancel"):
        context["cell"] = display(obj, field)
        return render_page(request, "web/partials/field_view.html", context)
    form = kind.form(only=[field])
    form.initial = _initial_from(obj, form)
    context["form"] = form
    return render_page(request, "web/partials/field_edit.html", context)
