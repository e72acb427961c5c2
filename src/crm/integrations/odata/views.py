"""The OData v4 endpoints: service document, $metadata, collections, $count and single entities.

Every request needs an API token with the `read` scope, sent as `Authorization: Bearer <token>`
or as HTTP Basic with any user name and the token as the password (what Power BI and Excel send
for "OData feed" → Basic). The tenant is the token's; rows are those the token's member may see;
contact and lead e-mail, phone and ID number are masked unless the token has the `pii` scope.
Requests count against the same per-token rate limit as the REST API. Every failure is answered
with the OData error body {"error": {"code", "message"}}.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from crm.core.api import ALL_SCOPES, ActorRateThrottle, Principal
from crm.core.context import tenant_context
from crm.integrations.odata.edm import EntitySet, entity_sets, metadata_xml
from crm.integrations.odata.errors import ODataError, bad_request, not_found
from crm.integrations.odata.query import (
    check_options,
    encode_skiptoken,
    parse_options,
    parse_select,
    read_one,
    read_page,
)
from crm.tenancy.models import Membership
from crm.tenancy.selectors import api_token_authenticate
from crm.tenancy.services import api_token_touch

JSON_TYPE = "application/json;odata.metadata=minimal;odata.streaming=true;charset=utf-8"
CHALLENGE = 'Basic realm="CRM OData", charset="UTF-8"'
DEFAULT_PAGE_SIZE = 1000
MAX_KEY = 2**63 - 1
_KEY = re.compile(r"^(?P<set>[A-Za-z]+)(?:\((?:Id=)?(?P<key>[^()]*)\))?(?P<count>/\$count)?/?$")
_MAXPAGESIZE = re.compile(r"odata\.maxpagesize\s*=\s*(\d{1,7})")
_throttle = ActorRateThrottle()


@dataclass(frozen=True)
class Caller:
    membership: Membership
    pii: bool
    ieee754: bool


def _headers(response: HttpResponse) -> HttpResponse:
    response["OData-Version"] = "4.0"
    return response


def error_response(exc: ODataError) -> HttpResponse:
    body = json.dumps({"error": {"code": exc.code, "message": exc.message}}, ensure_ascii=False)
    response = HttpResponse(body, status=exc.status, content_type=JSON_TYPE)
    if exc.status == 401:
        response["WWW-Authenticate"] = CHALLENGE
    return _headers(response)


def json_response(payload: dict[str, Any], status: int = 200) -> HttpResponse:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return _headers(HttpResponse(body, status=status, content_type=JSON_TYPE))


def _secret(request: HttpRequest) -> str | None:
    header = str(request.META.get("HTTP_AUTHORIZATION") or "")
    scheme, _sep, value = header.partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer":
        return value or None
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        user, _colon, password = decoded.partition(":")
        return password or user or None
    return None


def _authenticate(request: HttpRequest) -> Caller:
    secret = _secret(request)
    token = api_token_authenticate(secret) if secret and len(secret) <= 200 else None
    if token is None:
        raise ODataError(
            401,
            "Unauthorized",
            _("Send an API token: Bearer, or Basic with the token as the password."),
        )
    scopes = frozenset(token.scopes) & ALL_SCOPES
    if "read" not in scopes:
        raise ODataError(403, "Forbidden", _("This token lacks the 'read' scope."))
    api_token_touch(token)
    request.auth = Principal(  # type: ignore[attr-defined]
        membership=token.membership, scopes=scopes, token_id=token.pk
    )
    if not _throttle.allow_request(request):
        wait = _throttle.wait() or 1
        exc = ODataError(429, "TooManyRequests", _("Too many requests; try again later."))
        response = error_response(exc)
        response["Retry-After"] = str(int(wait) + 1)
        raise _Answered(response)
    accept = str(request.META.get("HTTP_ACCEPT") or "") + str(request.GET.get("$format") or "")
    return Caller(
        membership=token.membership,
        pii="pii" in scopes,
        ieee754="ieee754compatible=true" in accept.lower().replace(" ", ""),
    )


class _Answered(Exception):
    def __init__(self, response: HttpResponse) -> None:
        super().__init__("answered")
        self.response = response


def odata_view(
    handler: Callable[[HttpRequest, Caller, dict[str, Any]], HttpResponse],
) -> Callable[..., HttpResponse]:
    """Authenticate, enter the token's tenant, answer ODataError in the OData error shape."""

    @csrf_exempt
    def view(request: HttpRequest, **kwargs: Any) -> HttpResponse:
        try:
            if request.method not in ("GET", "HEAD"):
                raise ODataError(405, "MethodNotAllowed", _("This feed is read-only."))
            caller = _authenticate(request)
            with tenant_context(caller.membership.tenant_id):
                return handler(request, caller, kwargs)
        except ODataError as exc:
            return error_response(exc)
        except _Answered as answered:
            return answered.response

    view.__name__ = handler.__name__
    return view


def _root(request: HttpRequest) -> str:
    return request.build_absolute_uri(reverse("odata:root"))


def _params(request: HttpRequest) -> dict[str, list[str]]:
    return {name: request.GET.getlist(name) for name in request.GET}


def _page_size(request: HttpRequest) -> int:
    size = int(getattr(settings, "ODATA_PAGE_SIZE", DEFAULT_PAGE_SIZE))
    match = _MAXPAGESIZE.search(str(request.META.get("HTTP_PREFER") or ""))
    if match and int(match.group(1)) > 0:
        size = min(size, int(match.group(1)))
    return size


# --- endpoints ----------------------------------------------------------------------------------


@odata_view
def service_document(request: HttpRequest, caller: Caller, kwargs: dict[str, Any]) -> HttpResponse:
    check_options(_params(request), frozenset())
    return json_response(
        {
            "@odata.context": f"{_root(request)}$metadata",
            "value": [{"name": name, "kind": "EntitySet", "url": name} for name in entity_sets()],
        }
    )


@odata_view
def metadata(request: HttpRequest, caller: Caller, kwargs: dict[str, Any]) -> HttpResponse:
    check_options(_params(request), frozenset())
    response = HttpResponse(metadata_xml(), content_type="application/xml;charset=utf-8")
    return _headers(response)


@odata_view
def resource(request: HttpRequest, caller: Caller, kwargs: dict[str, Any]) -> HttpResponse:
    match = _KEY.match(str(kwargs.get("resource", "")))
    entity_set = entity_sets().get(match.group("set")) if match else None
    if match is None or entity_set is None:
        raise not_found(_("There is no such entity set or resource."))
    if match.group("key") is not None:
        if match.group("count"):
            raise not_found(_("There is no such entity set or resource."))
        return _entity(request, caller, entity_set, match.group("key"))
    if match.group("count"):
        return _count(request, caller, entity_set)
    return _collection(request, caller, entity_set)


@odata_view
def unknown(request: HttpRequest, caller: Caller, kwargs: dict[str, Any]) -> HttpResponse:
    raise not_found(_("There is no such entity set or resource."))


def _collection(request: HttpRequest, caller: Caller, entity_set: EntitySet) -> HttpResponse:
    options = parse_options(entity_set, _params(request))
    qs = entity_set.rows(caller.membership).filter(options.filter)
    page = read_page(qs, options, _page_size(request), caller.pii, caller.ieee754)
    selected = f"({','.join(options.selected_names)})" if options.selected_names else ""
    payload: dict[str, Any] = {
        "@odata.context": f"{_root(request)}$metadata#{entity_set.name}{selected}"
    }
    if options.count:
        payload["@odata.count"] = qs.count()
    payload["value"] = page.rows
    if page.next_token is not None:
        params = dict(options.params)
        if page.remaining_top is not None:
            params["$top"] = str(page.remaining_top)
        params["$skiptoken"] = encode_skiptoken(page.next_token)
        payload["@odata.nextLink"] = (
            request.build_absolute_uri(request.path) + "?" + urlencode(params)
        )
    response = json_response(payload)
    if "HTTP_PREFER" in request.META and "maxpagesize" in request.META["HTTP_PREFER"]:
        response["Preference-Applied"] = f"odata.maxpagesize={_page_size(request)}"
    return response


def _count(request: HttpRequest, caller: Caller, entity_set: EntitySet) -> HttpResponse:
    options = parse_options(entity_set, _params(request))
    total = entity_set.rows(caller.membership).filter(options.filter).count()
    return _headers(HttpResponse(str(total), content_type="text/plain;charset=utf-8"))


def _entity(request: HttpRequest, caller: Caller, entity_set: EntitySet, key: str) -> HttpResponse:
    params = _params(request)
    check_options(params, frozenset({"$select"}))
    if not re.fullmatch(r"\d{1,19}", key) or not 0 < int(key) <= MAX_KEY:
        raise not_found(_("There is no %s with this key.") % entity_set.type_name)
    if len(params.get("$select", [])) > 1:
        raise bad_request(_("The option %s is given more than once.") % "$select")
    select, names = parse_select(entity_set, request.GET.get("$select"))
    qs = entity_set.rows(caller.membership).filter(pk=int(key))
    row = read_one(qs, select, caller.pii, caller.ieee754)
    if row is None:
        raise not_found(_("There is no %s with this key.") % entity_set.type_name)
    selected = f"({','.join(names)})" if names else ""
    context = f"{_root(request)}$metadata#{entity_set.name}{selected}/$entity"
    return json_response({"@odata.context": context, **row})
