"""Pieces every API router shares: auth, throttling, the error shape, input types, pagination.

Input schemas forbid unknown fields (`extra="forbid"`): a body naming `tenant`, `role`,
`created_at` or any other field the operation does not accept is refused with 422 naming that
field, so a client learns at once that the field had no effect. Relation ids that an operation
does accept (`account_id`, `owner_id`, ...) are resolved by the services through tenant-scoped
managers, so an id of another tenant is "no such record" (422) too.
"""

from __future__ import annotations

import base64
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Any, ClassVar

import orjson
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist, RequestDataTooBig
from django.db import IntegrityError
from django.db.models import BooleanField, DateTimeField, QuerySet
from django.db.models.query import ValuesIterable
from django.db.models.sql.constants import MULTI
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import Field, NinjaAPI, Schema, Status
from ninja.errors import AuthenticationError, HttpError, Throttled
from ninja.errors import ValidationError as NinjaValidationError
from ninja.responses import NinjaJSONEncoder
from ninja.security import APIKeyCookie, HttpBearer
from ninja.throttling import SimpleRateThrottle
from ninja.utils import check_csrf
from pydantic import AfterValidator, ConfigDict, StringConstraints, create_model

from crm.core import crypto
from crm.core.context import set_current_tenant
from crm.core.errors import DomainError, ErrorCode, NotFoundError, PermissionDeniedError
from crm.core.fields import EncryptedTextField
from crm.core.pagination import Page, clamp_limit, paginate
from crm.core.writes import field_error

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
ALL_SCOPES = frozenset({"read", "write", "pii"})
# Every status an operation may answer besides its success; declared on every operation so that
# the OpenAPI document is truthful (413: body over DATA_UPLOAD_MAX_MEMORY_SIZE).
ERROR_STATUSES = (400, 401, 403, 404, 409, 410, 413, 422, 429)
MAX_ID = 2**63 - 1
MAX_INT = 2**31 - 1  # PostgreSQL `integer`; SQLite would take more, PostgreSQL would not


# --- the error shape ----------------------------------------------------------------------------


class ErrorOut(Schema):
    """The one error shape: a stable code, a readable message, and the bad fields."""

    code: str
    message: str
    fields: dict[str, list[str]] = Field(default_factory=dict)


def responses(ok: Mapping[int, Any]) -> dict[Any, Any]:
    """The success response(s) plus every error status, each with the ErrorOut schema."""
    return {**ok, frozenset(ERROR_STATUSES): ErrorOut}


# --- input types --------------------------------------------------------------------------------


def _clean_text(value: str) -> str:
    if "\x00" in value:
        raise ValueError(_("Null characters are not allowed."))
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(_("Text must be valid Unicode.")) from exc
    return value


def _aware(value: datetime) -> datetime:
    """Naive times are read as UTC; times that cannot be shown in UTC are refused."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except (OverflowError, ValueError) as exc:
        raise ValueError(_("This time is out of range.")) from exc


_NO_NUL = AfterValidator(_clean_text)
# Bounded strings without null characters (PostgreSQL refuses them). NameN must not be empty.
Str7 = Annotated[str, StringConstraints(max_length=7), _NO_NUL]
Str40 = Annotated[str, StringConstraints(max_length=40), _NO_NUL]
Str60 = Annotated[str, StringConstraints(max_length=60), _NO_NUL]
Str100 = Annotated[str, StringConstraints(max_length=100), _NO_NUL]
Str150 = Annotated[str, StringConstraints(max_length=150), _NO_NUL]
Str200 = Annotated[str, StringConstraints(max_length=200), _NO_NUL]
Str254 = Annotated[str, StringConstraints(max_length=254), _NO_NUL]
Str500 = Annotated[str, StringConstraints(max_length=500), _NO_NUL]
LongText = Annotated[str, StringConstraints(max_length=20000), _NO_NUL]
Name40 = Annotated[str, StringConstraints(min_length=1, max_length=40), _NO_NUL]
Name60 = Annotated[str, StringConstraints(min_length=1, max_length=60), _NO_NUL]
Name100 = Annotated[str, StringConstraints(min_length=1, max_length=100), _NO_NUL]
Name120 = Annotated[str, StringConstraints(min_length=1, max_length=120), _NO_NUL]
Name200 = Annotated[str, StringConstraints(min_length=1, max_length=200), _NO_NUL]
Search = Annotated[str, StringConstraints(max_length=200), _NO_NUL]
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
Count = Annotated[int, Field(ge=0, le=MAX_INT)]
Moment = Annotated[datetime, AfterValidator(_aware)]


def _plausible_day(value: date) -> date:
    """A period's day: it becomes a moment in the tenant's zone, which year 1 does not survive."""
    if not 1900 <= value.year <= 2999:
        raise ValueError(_("Enter a date between 1900 and 2999."))
    return value


Day = Annotated[date, AfterValidator(_plausible_day)]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def optional(**kwargs: Any) -> Any:
    """A body field that may be left out (PATCH) but not sent as null.

    Typed Any so a non-nullable annotation can have this default; the OpenAPI shows no default.
    """
    return Field(None, json_schema_extra=_no_default, **kwargs)


class InSchema(Schema):
    """Base of every request body: unknown fields are refused (mass assignment)."""

    model_config = ConfigDict(extra="forbid")

    def given(self, *, exclude: Iterable[str] = ()) -> dict[str, Any]:
        """The fields the client sent, minus `exclude` (relation ids passed separately)."""
        return self.model_dump(exclude_unset=True, exclude=set(exclude))

    def sent(self, name: str) -> bool:
        return name in self.model_fields_set


# --- pagination ---------------------------------------------------------------------------------


class ListParams(Schema):
    """limit (capped at API_MAX_PAGE_SIZE), offset; subclasses add search, filters, ordering."""

    limit: int = Field(50, ge=1, le=MAX_INT, description="Page size, capped at API_MAX_PAGE_SIZE.")
    offset: int = Field(0, ge=0, le=MAX_INT)

    # API ordering name -> selector ordering name, where they differ.
    ordering_map: ClassVar[dict[str, str]] = {}

    def selector_kwargs(self) -> dict[str, Any]:
        kwargs = self.model_dump(exclude={"limit", "offset"})
        if "ordering" in kwargs:
            kwargs["ordering"] = self.ordering_map.get(kwargs["ordering"], kwargs["ordering"])
        return kwargs


COUNT_DESCRIPTION = (
    "Matching records: exact up to 10,000; null means more (a null may be up to 30 seconds "
    "old). Use has_more to page."
)


def page_of(item: type[Schema]) -> type[Schema]:
    """The list response for `item`: {items, count (None when many), has_more, offset, limit}."""
    name = item.__name__.removesuffix("Out") + "Page"
    model: type[Schema] = create_model(
        name,
        __base__=Schema,
        items=(list[item], ...),  # type: ignore[valid-type]
        count=(int | None, Field(..., description=COUNT_DESCRIPTION)),
        has_more=(bool, ...),
        offset=(int, ...),
        limit=(int, ...),
    )
    return model


def page_params(queryset: QuerySet[Any], params: ListParams) -> Page:
    """The page of `queryset` that the list parameters ask for (limit capped), with its count."""
    return paginate(
        queryset, offset=params.offset, limit=clamp_limit(params.limit), with_count=True
    )


def paginated(queryset: QuerySet[Any], params: ListParams) -> dict[str, Any]:
    page = page_params(queryset, params)
    return {
        "items": page.items,
        "count": page.count,
        "has_more": page.has_more,
        "offset": page.offset,
        "limit": page.limit,
    }


# --- rows ready to render -----------------------------------------------------------------------


def json_datetime(value: datetime) -> str:
    """A datetime as ninja's JSON renderer writes it (DjangoJSONEncoder: milliseconds, Z)."""
    text = value.isoformat()
    if value.microsecond:
        text = text[:23] + text[26:]
    if text.endswith("+00:00"):
        text = text.removesuffix("+00:00") + "Z"
    return text


Converter = Callable[[Any], Any]
# isoformat() precision as json_datetime writes it: milliseconds (truncated) only when non-zero.
_TIMESPEC = ("seconds", "milliseconds")


def _django_converter(compiler: Any, expression: Any) -> Converter | None:
    """The backend's and the field's own converters of one column, chained (ORM semantics)."""
    found = compiler.get_converters([expression])
    if not found:
        return None
    converters, _expr = found[0]
    connection = compiler.connection

    def convert(value: Any) -> Any:
        for converter in converters:
            value = converter(value, expression, connection)
        return value

    return convert


# crypto's first ciphertext format: v1:<key id>:<base64(12-byte nonce || sealed)>, AAD = key id.
_V1 = "v1"
_NONCE_BYTES = 12


def _column_decryptor() -> Converter:
    """crypto.decrypt for the values of one column, with one AES-GCM object per key.

    crypto.decrypt builds the cipher object for every value (a third of its cost); the format
    read here is crypto's "v1" one, and anything else goes through crypto.decrypt itself.
    """
    keys = crypto.field_keys()
    ciphers: dict[str, AESGCM] = {}

    def decrypt(value: str) -> str:
        if not value:
            return value
        version, _sep, rest = value.partition(":")
        key_id, _sep, payload = rest.partition(":")
        key = keys.keys.get(key_id)
        if version != _V1 or key is None or not payload:
            return crypto.decrypt(value)  # raises DecryptionError as the ORM would
        cipher = ciphers.get(key_id)
        if cipher is None:
            cipher = ciphers[key_id] = AESGCM(key)
        blob = base64.b64decode(payload)
        nonce, sealed = blob[:_NONCE_BYTES], blob[_NONCE_BYTES:]
        return cipher.decrypt(nonce, sealed, key_id.encode()).decode("utf-8")

    return decrypt


def _json_converter(compiler: Any, expression: Any) -> Converter | None:
    """How one selected column's database value becomes the value ninja would render.

    Encrypted text is decrypted, booleans are booleans, datetimes become the renderer's string
    (a naive UTC datetime from SQLite straight away, without making it aware first). Every
    other column gets the ORM's own converters.
    """
    field = getattr(expression, "output_field", None)
    if isinstance(field, EncryptedTextField):
        return _column_decryptor()
    if isinstance(field, BooleanField):
        return bool
    if isinstance(field, DateTimeField):
        slow = _django_converter(compiler, expression)
        # SQLite (and MySQL) hand back naive UTC datetimes, which the ORM would make aware.
        naive_utc = settings.USE_TZ and compiler.connection.timezone_name == "UTC"

        def convert(value: Any) -> Any:
            if naive_utc and isinstance(value, datetime) and value.tzinfo is None:
                return value.isoformat(timespec=_TIMESPEC[bool(value.microsecond)]) + "Z"
            if slow is not None:
                value = slow(value)
            return json_datetime(value) if isinstance(value, datetime) else value

        return convert
    return _django_converter(compiler, expression)


class JsonValuesIterable(ValuesIterable):
    """`.values()` rows whose values are already what ninja's JSON renderer would write.

    The ORM's per-value converter machinery (parse a datetime, make it aware, then format it
    again for JSON) is most of a list request's CPU time; this reads each column straight into
    its rendered form. None stays None. Used by `json_values`.
    """

    def __iter__(self) -> Iterator[dict[str, Any]]:
        queryset = self.queryset
        query = queryset.query
        compiler = query.get_compiler(queryset.db)
        if query.selected:
            names = list(query.selected)
        else:
            names = [*query.extra_select, *query.values_select, *query.annotation_select]
        results = compiler.execute_sql(
            MULTI, chunked_fetch=self.chunked_fetch, chunk_size=self.chunk_size
        )
        columns = [column[0] for column in compiler.select[: compiler.col_count]]
        if compiler.has_composite_fields(columns):  # pragma: no cover - no composite keys here
            raise NotImplementedError("json_values does not read composite primary keys")
        converters = [_json_converter(compiler, column) for column in columns]
        spec = [(i, name, converters[i]) for i, name in enumerate(names)]
        for chunk in results:
            for row in chunk:
                yield {
                    name: row[i] if convert is None or row[i] is None else convert(row[i])
                    for i, name, convert in spec
                }


def json_values(values: QuerySet[Any, dict[str, Any]]) -> QuerySet[Any, dict[str, Any]]:
    """A `.values(...)` queryset whose rows have every value ready to render as JSON (above).

    Slicing, filtering and pagination work on it as on the values queryset it came from.
    """
    if values._iterable_class is not ValuesIterable:
        raise TypeError("json_values() takes a .values(...) queryset")
    rendered = values.all()
    rendered._iterable_class = JsonValuesIterable
    return rendered


def out_fields(schema: type[Schema]) -> tuple[str, ...]:
    """The fields of an Out schema, in the order its answers list them."""
    return tuple(schema.model_fields)


def shaped_items(
    rows: Iterable[dict[str, Any]],
    fields: Sequence[str],
    *,
    tag_ids: Mapping[int, list[int]] | None = None,
    convert: Mapping[str, Callable[[Any], Any]] | None = None,
) -> list[dict[str, Any]]:
    """`json_values` rows as the items of an Out schema with `fields`, for `rendered_page`.

    `tag_ids` fills the `tag_ids` field (record id -> sorted ids); `convert` applies what the
    schema's resolvers and serializers would (masks without the `pii` scope, money as text) to
    values that are not None. The tests compare every such list with the validated detail answers.
    """
    conversions = list((convert or {}).items())
    items = []
    for row in rows:
        if tag_ids is not None:
            row["tag_ids"] = tag_ids.get(row["id"], [])
        for name, function in conversions:
            if row[name] is not None:
                row[name] = function(row[name])
        items.append({name: row[name] for name in fields})
    return items


_ENCODER = NinjaJSONEncoder()
# Datetimes (and whatever else orjson does not write itself) go through ninja's encoder, so that
# they read exactly as on every other operation.
_ORJSON_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME


def render_json(body: Any) -> bytes:
    """`body` as JSON (UTF-8, compact), values written as ninja's renderer writes them."""
    return orjson.dumps(body, default=_ENCODER.default, option=_ORJSON_OPTIONS)


def rendered_page(page: Page, items: list[dict[str, Any]]) -> HttpResponse:
    """A list answer from items already shaped as their Out schema, rendered without validation.

    Ninja passes a returned HttpResponse through as is: the per-row validation of the Out schema
    (a third of a 50-row list request's CPU time) is skipped, and the document is written by
    orjson (a tenth of the time of the json module), with every value as the validated path
    writes it. Only for items built by a function whose output the tests compare with the
    validated path (see `customers.schemas.contact_item`); the operation still declares its page
    schema.
    """
    body = {
        "items": items,
        "count": page.count,
        "has_more": page.has_more,
        "offset": page.offset,
        "limit": page.limit,
    }
    return HttpResponse(render_json(body), content_type="application/json; charset=utf-8")


@contextmanager
def body_reference(field: str) -> Iterator[None]:
    """A record named by id in the body that does not exist is a bad field (422), not a 404."""
    try:
        yield
    except NotFoundError as exc:
        raise field_error(field, _("No such record.")) from exc


def created(value: Any) -> Status[Any]:
    return Status(201, value)


def no_content() -> Status[None]:
    return Status(204, None)


# --- who is calling -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Principal:
    """The caller: a membership, how it signed in, and what its credentials allow."""

    membership: Any  # crm.tenancy.models.Membership (kept loose: core sits below tenancy)
    scopes: frozenset[str]
    token_id: int | None = None

    def __str__(self) -> str:
        if self.token_id is not None:
            return f"token:{self.token_id}"
        return f"member:{self.membership.pk}"


def principal(request: HttpRequest) -> Principal:
    found = getattr(request, "auth", None)
    if not isinstance(found, Principal):  # pragma: no cover - every operation is authenticated
        raise AuthenticationError()
    return found


def actor(request: HttpRequest) -> Any:
    """The membership acting in this request (the `actor` of services and selectors)."""
    return principal(request).membership


def has_scope(request: HttpRequest | None, scope: str) -> bool:
    found = getattr(request, "auth", None)
    return isinstance(found, Principal) and scope in found.scopes


def require_scopes(request: HttpRequest, scopes: Iterable[str]) -> None:
    """A token may only hand out scopes it has itself."""
    missing = set(scopes) - principal(request).scopes
    if missing:
        raise PermissionDeniedError(
            _("Your credentials lack the scope(s): %s") % ", ".join(sorted(missing))
        )


def _enter(request: HttpRequest, found: Principal) -> Principal:
    needed = "read" if request.method in SAFE_METHODS else "write"
    if needed not in found.scopes:
        raise PermissionDeniedError(_("This token lacks the '%s' scope.") % needed)
    request.membership = found.membership  # type: ignore[attr-defined]
    # TenantMiddleware resets the tenant after the response (it restores its own token).
    set_current_tenant(found.membership.tenant_id)
    return found


class TokenAuth(HttpBearer):
    """`Authorization: Bearer <secret>`; SHA-256 lookup, never the password hasher.

    The lookup and the last-used stamp are passed in (tenancy's selector and service), since
    core sits on the floor below tenancy.
    """

    def __init__(
        self,
        *,
        lookup: Callable[[str], Any | None],
        touch: Callable[[Any], None],
    ) -> None:
        self.lookup = lookup
        self.touch = touch
        super().__init__()

    def authenticate(self, request: HttpRequest, token: str) -> Principal | None:
        if not token or len(token) > 200:
            return None
        api_token = self.lookup(token)
        if api_token is None:
            return None
        self.touch(api_token)
        found = Principal(
            membership=api_token.membership,
            scopes=frozenset(api_token.scopes) & ALL_SCOPES,
            token_id=api_token.pk,
        )
        return _enter(request, found)


class SessionAuth(APIKeyCookie):
    """The signed-in page user (TenantMiddleware found the membership); CSRF on unsafe methods."""

    param_name = settings.SESSION_COOKIE_NAME

    def _get_key(self, request: HttpRequest) -> str | None:
        return request.COOKIES.get(self.param_name)

    def authenticate(self, request: HttpRequest, key: str | None) -> Principal | None:
        membership = getattr(request, "membership", None)
        if key is None or membership is None or not request.user.is_authenticated:
            return None
        if request.method not in SAFE_METHODS and check_csrf(request) is not None:
            raise PermissionDeniedError(_("CSRF check failed."))
        return _enter(request, Principal(membership=membership, scopes=ALL_SCOPES))


class ActorRateThrottle(SimpleRateThrottle):
    """settings.API_RATE_LIMIT per token or signed-in member, as a sliding window in the cache.

    Ninja keeps one throttle object for all requests, so per-request state (the wait to report)
    lives in a thread-local, not on the object; the rate is read per request (tests change it).
    """

    scope = "actor"

    def __init__(self) -> None:
        super().__init__(rate=settings.API_RATE_LIMIT)
        self._local = threading.local()

    def allow_request(self, request: HttpRequest) -> bool:
        limit, duration = self.parse_rate(settings.API_RATE_LIMIT)
        if limit is None or duration is None:
            return True
        key = self.get_cache_key(request)
        now = time.time()
        history = [t for t in self.cache.get(key, []) if t > now - duration]
        if len(history) >= limit:
            self._local.wait = duration - (now - history[-1])
            return False
        history.insert(0, now)
        self.cache.set(key, history, duration)
        return True

    def wait(self) -> float | None:
        return getattr(self._local, "wait", None)

    def get_cache_key(self, request: HttpRequest) -> str:
        found = getattr(request, "auth", None)
        ident = str(found) if found is not None else self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}


# --- personal data ------------------------------------------------------------------------------


def mask_email(value: str) -> str:
    """z***@example.com"""
    if not value:
        return value
    local, _at, domain = value.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


def mask_phone(value: str) -> str:
    """+86138****8000: country code and prefix, then the last four digits."""
    if not value:
        return value
    if len(value) > 10:
        return value[:6] + "*" * (len(value) - 10) + value[-4:]
    return "*" * max(len(value) - 4, 4) + value[-4:] if len(value) > 4 else "****"


def mask_id_number(value: str) -> str:
    if not value:
        return value
    if len(value) <= 7:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


def shows_pii(context: Any) -> bool:
    request = context.get("request") if isinstance(context, Mapping) else None
    return has_scope(request, "pii")


# --- errors -------------------------------------------------------------------------------------

_PYDANTIC_PREFIX = re.compile(r"^(Value error|Assertion failed), ")
_FRIENDLY = {
    "extra_forbidden": "This field is not accepted.",
    "missing": "This field is required.",
}


def validation_fields(errors: Iterable[Mapping[str, Any]]) -> dict[str, list[str]]:
    """Ninja's error list as {field: [messages]}: "name", "lines.0.quantity", "limit"."""
    fields: dict[str, list[str]] = {}
    for error in errors:
        loc = [str(part) for part in error.get("loc", ())]
        if loc and loc[0] == "body":
            loc = loc[2:]  # ("body", <parameter name>, field, ...)
        elif loc:
            loc = loc[1:]  # ("query" | "path", field, ...)
        name = ".".join(loc) or "body"
        message = _FRIENDLY.get(str(error.get("type")), "") or _PYDANTIC_PREFIX.sub(
            "", str(error.get("msg", "Invalid value."))
        )
        fields.setdefault(name, []).append(message)
    return fields


def install_error_handlers(api: NinjaAPI) -> None:
    """One error shape {code, message, fields} for every failure the API can answer."""

    def reply(
        request: HttpRequest,
        status: int,
        code: str,
        message: str,
        fields: dict[str, list[str]] | None = None,
    ) -> HttpResponse:
        body = {"code": code, "message": message, "fields": fields or {}}
        return api.create_response(request, body, status=status)

    def on_domain_error(request: HttpRequest, exc: Any) -> HttpResponse:
        return reply(request, exc.status, exc.code, exc.message, exc.fields)

    def on_validation_error(request: HttpRequest, exc: Any) -> HttpResponse:
        fields = validation_fields(exc.errors)
        return reply(request, 422, ErrorCode.VALIDATION, _("Some fields are not valid."), fields)

    def on_not_found(request: HttpRequest, exc: Any) -> HttpResponse:
        return reply(request, 404, ErrorCode.NOT_FOUND, _("Not found."))

    def on_http_error(request: HttpRequest, exc: Any) -> HttpResponse:
        if isinstance(exc, AuthenticationError):
            response = reply(request, 401, ErrorCode.UNAUTHENTICATED, _("Authentication required."))
            response["WWW-Authenticate"] = 'Bearer realm="api"'
            return response
        if isinstance(exc, Throttled):
            return reply(request, 429, ErrorCode.RATE_LIMITED, _("Too many requests."))
        code = {403: ErrorCode.PERMISSION_DENIED, 404: ErrorCode.NOT_FOUND}.get(
            exc.status_code, ErrorCode.BAD_REQUEST
        )
        return reply(request, exc.status_code, code, str(exc))

    def on_too_big(request: HttpRequest, exc: Any) -> HttpResponse:
        return reply(request, 413, "too_large", _("The request body is too large."))

    def on_integrity_error(request: HttpRequest, exc: Any) -> HttpResponse:
        # A uniqueness race lost to a concurrent request: the row exists now.
        return reply(request, 409, ErrorCode.CONFLICT, _("This conflicts with an existing record."))

    api.add_exception_handler(DomainError, on_domain_error)
    api.add_exception_handler(NinjaValidationError, on_validation_error)
    api.add_exception_handler(Http404, on_not_found)
    api.add_exception_handler(ObjectDoesNotExist, on_not_found)
    api.add_exception_handler(HttpError, on_http_error)
    api.add_exception_handler(RequestDataTooBig, on_too_big)
    api.add_exception_handler(IntegrityError, on_integrity_error)
