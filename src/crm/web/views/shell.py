"""The shell: sign-in, dashboards, global search, record chooser, preferences, PWA files."""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET

from crm.core.errors import ValidationFailedError
from crm.customers.selectors import account_list, contact_list
from crm.tenancy.models import Role
from crm.web import forms as web_forms
from crm.web import selectors as web_selectors
from crm.web import services as web_services
from crm.web.display import format_money
from crm.web.middleware import SESSION_TZ_KEY
from crm.web.views.base import actor_of, member_required, posted, render_page

STATIC_WEB = Path(__file__).resolve().parent.parent / "static" / "web"

# --- sign-in ------------------------------------------------------------------------------------


class LoginView(auth_views.LoginView):
    """Django's sign-in (throttled by the authentication backend of crm.tenancy)."""

    template_name = "registration/login.html"
    redirect_authenticated_user = True


# --- dashboards ---------------------------------------------------------------------------------


@member_required
def home(request: HttpRequest) -> HttpResponse:
    actor = actor_of(request)
    context: dict[str, Any] = {"sales": web_selectors.sales_dashboard(actor=actor)}
    if actor.role in (Role.MANAGER, Role.ADMIN):
        pipeline_param = request.GET.get("pipeline", "")
        manager = web_selectors.manager_dashboard(
            actor=actor, pipeline_id=int(pipeline_param) if pipeline_param.isdigit() else None
        )
        context["manager"] = manager
        context["pipelines"] = web_selectors.pipeline_list()
        context["funnel_chart"] = {
            "title": str(_("Pipeline value by stage")),
            "stages": [
                {
                    "name": s.name,
                    "value": float(s.amount),
                    "value_label": format_money(s.amount),
                    "count": s.count,
                    "reached": s.reached,
                    "conversion": s.conversion_pct,
                }
                for s in manager.funnel
            ],
        }
    return render(request, "web/dashboard.html", context)


# --- global search and record chooser -----------------------------------------------------------


@require_GET
@member_required
def search(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "")[:100]
    hits = web_selectors.global_search(actor=actor_of(request), query=query, limit=5)
    context = {"q": query, "hits": hits}
    return render_page(
        request, "web/search.html", context, partial="web/partials/search_results.html"
    )


@require_GET
@member_required
def pick(request: HttpRequest, kind: str) -> HttpResponse:
    actor = actor_of(request)
    query = request.GET.get("q", "")[:100].strip()
    if kind == "account":
        rows: Any = account_list(actor=actor, search=query) if query else account_list(actor=actor)
    elif kind == "contact":
        rows = contact_list(actor=actor, search=query) if query else contact_list(actor=actor)
    else:
        raise Http404
    return render(request, "web/partials/pick_results.html", {"rows": rows[:8], "q": query})


# --- the member's preferences -------------------------------------------------------------------


@member_required
def preferences(request: HttpRequest) -> HttpResponse:
    actor = actor_of(request)
    current = web_selectors.preference_time_zone(actor=actor)
    form = web_forms.PreferencesForm(posted(request), initial={"time_zone": current})
    if request.method == "POST" and form.is_valid():
        try:
            web_services.preference_set_time_zone(
                actor=actor, time_zone=form.cleaned_data["time_zone"]
            )
        except ValidationFailedError as exc:
            form.add_service_error(exc)
        else:
            request.session.pop(SESSION_TZ_KEY, None)
            messages.success(request, _("Preferences saved."))
            return redirect("web:preferences")
    return render(
        request, "web/preferences.html", {"form": form, "tenant_tz": actor.tenant.time_zone}
    )


# --- progressive web app ------------------------------------------------------------------------


@require_GET
@cache_control(max_age=3600)
def manifest(request: HttpRequest) -> HttpResponse:
    data = {
        "name": "CRM",
        "short_name": "CRM",
        "start_url": "/",
        "scope": "/",
        "display": "standalone",
        "background_color": "#ffffff",
        "theme_color": "#0d6efd",
        "lang": request.LANGUAGE_CODE,
        "icons": [
            {"src": static("web/icons/icon-192.png"), "sizes": "192x192", "type": "image/png"},
            {"src": static("web/icons/icon-512.png"), "sizes": "512x512", "type": "image/png"},
            {
                "src": static("web/icons/icon-512.png"),
                "sizes": "512x512",
                "type": "image/png",
                "purpose": "maskable",
            },
        ],
    }
    return HttpResponse(json.dumps(data), content_type="application/manifest+json")


@lru_cache(maxsize=1)
def _assets_version() -> str:
    """Changes whenever one of our static files does, so the shell cache is renewed."""
    digest = hashlib.sha256()
    for path in sorted(STATIC_WEB.parent.rglob("*")):
        if path.is_file():
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


@require_GET
def service_worker(request: HttpRequest) -> HttpResponse:
    """Served from / so that it may control every page; the cache name follows the assets."""
    body = (STATIC_WEB / "sw.js").read_text()
    shell = [
        static("vendor/bootstrap.min.css"),
        static("web/app.css"),
        static("vendor/htmx.min.js"),
        static("web/app.js"),
        static("vendor/alpine-csp.min.js"),
        static("vendor/bootstrap.bundle.min.js"),
        reverse("web:offline"),
    ]
    body = body.replace("__SHELL_ASSETS__", json.dumps(shell)).replace(
        "crm-shell-v1", f"crm-shell-{_assets_version()}"
    )
    response = HttpResponse(body, content_type="application/javascript")
    response["Cache-Control"] = "no-cache"
    response["Service-Worker-Allowed"] = "/"
    return response


@require_GET
def offline(request: HttpRequest) -> HttpResponse:
    return render(request, "web/offline.html", {"debug": settings.DEBUG})
