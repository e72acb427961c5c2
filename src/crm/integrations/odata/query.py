"""Query options of a collection request, and reading one page of rows.

Server-driven paging: a page holds at most `page_size` rows (ODATA_PAGE_SIZE, 1,000 by default,
or less when the client prefers `odata.maxpagesize`); when more rows follow, `@odata.nextLink`
repeats the request with an opaque `$skiptoken`. When every sort key is non-null (always the
case for the default order, by Id) the token holds the sort values of the page's last row and the
next page starts after them (keyset paging: page 500 costs what page 1 costs). When a sort key is
nullable the token holds an offset instead.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

from crm.integrations.odata.edm import MASKS, EntitySet, Prop
from crm.integrations.odata.errors import bad_request
from crm.integrations.odata.filters import Literal, filter_q, literal_value

MAX_INT = 2**31 - 1
MAX_ORDER_KEYS = 8
SUPPORTED = frozenset({"$select", "$filter", "$orderby", "$top", "$skip", "$count", "$skiptoken"})
KNOWN_UNSUPPORTED = frozenset(
    {"$expand", "$search", "$apply", "$compute", "$levels", "$index", "$schemaversion", "$id"}
)
_ORDER_ITEM = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)(?:\s+(asc|desc))?\s*$")


@dataclass
class Options:
    select: list[Prop]
    selected_names: list[str] | None  # None: no $select (every property)
    filter: Q
    order: list[tuple[Prop, bool]]  # (property, descending), Id last
    top: int | None
    skip: int
    count: bool
    skiptoken: list[Any] | int | None = None  # keyset values, or an offset
    params: dict[str, str] = field(default_factory=dict)

    @property
    def keyset(self) -> bool:
        return all(not prop.nullable for prop, _desc in self.order)


def _single(params: Mapping[str, list[str]], name: str) -> str | None:
    values = params.get(name)
    if not values:
        return None
    if len(values) > 1:
        raise bad_request(_("The option %s is given more than once.") % name)
    return values[0]


def _non_negative(name: str, text: str | None) -> int | None:
    if text is None:
        return None
    if not re.fullmatch(r"\d{1,10}", text.strip()) or int(text) > MAX_INT:
        raise bad_request(_("%s must be a whole number from 0 to 2147483647.") % name)
    return int(text)


def check_options(params: Mapping[str, list[str]], allowed: frozenset[str]) -> None:
    """Refuse system query options this request cannot honour (custom options are ignored)."""
    for name in params:
        if name == "$format":
            fmt = _single(params, name) or ""
            if fmt != "json" and not fmt.startswith("application/json"):
                raise bad_request(_("Only the JSON format is supported."), "UnsupportedFormat")
        elif name.startswith("$") and name not in allowed:
            known = name in KNOWN_UNSUPPORTED or name in SUPPORTED
            message = (
                _("The option %s is not supported by this feed.")
                if known
                else _("There is no query option %s.")
            )
            raise bad_request(message % name, "UnsupportedOption")


def parse_select(entity_set: EntitySet, text: str | None) -> tuple[list[Prop], list[str] | None]:
    if text is None or text.strip() in ("", "*"):
        return list(entity_set.props.values()), None
    chosen: dict[str, Prop] = {}
    for raw in text.split(","):
        name = raw.strip()
        if name == "*":
            chosen.update(entity_set.props)
            continue
        prop = entity_set.props.get(name)
        if prop is None:
            raise bad_request(_("There is no property %s to select.") % repr(name), "InvalidSelect")
        chosen[name] = prop
    return list(chosen.values()), list(chosen)


def parse_orderby(entity_set: EntitySet, text: str | None) -> list[tuple[Prop, bool]]:
    order: list[tuple[Prop, bool]] = []
    if text is not None:
        items = text.split(",")
        if len(items) > MAX_ORDER_KEYS:
            raise bad_request(_("$orderby has too many keys."), "InvalidOrderBy")
        for item in items:
            match = _ORDER_ITEM.match(item)
            if match is None:
                raise bad_request(_("Cannot read $orderby item %s.") % repr(item), "InvalidOrderBy")
            prop = entity_set.props.get(match.group(1))
            if prop is None:
                raise bad_request(
                    _("There is no property %s to sort by.") % repr(match.group(1)),
                    "InvalidOrderBy",
                )
            if not prop.queryable:
                raise bad_request(
                    _("%s cannot be filtered or sorted on (it is stored encrypted).") % prop.name,
                    "InvalidOrderBy",
                )
            if all(prop.name != p.name for p, _desc in order):
                order.append((prop, match.group(2) == "desc"))
    if all(prop.name != "Id" for prop, _desc in order):
        order.append((entity_set.key, False))
    return order


def parse_options(entity_set: EntitySet, params: Mapping[str, list[str]]) -> Options:
    check_options(params, SUPPORTED)
    select, names = parse_select(entity_set, _single(params, "$select"))
    filter_text = _single(params, "$filter")
    count_text = _single(params, "$count")
    if count_text not in (None, "true", "false"):
        raise bad_request(_("$count must be true or false."))
    options = Options(
        select=select,
        selected_names=names,
        filter=filter_q(filter_text, entity_set.props) if filter_text is not None else Q(),
        order=parse_orderby(entity_set, _single(params, "$orderby")),
        top=_non_negative("$top", _single(params, "$top")),
        skip=_non_negative("$skip", _single(params, "$skip")) or 0,
        count=count_text == "true",
        params={k: v[0] for k, v in params.items() if k not in ("$skiptoken", "$skip")},
    )
    token = _single(params, "$skiptoken")
    if token is not None:
        options.skiptoken = decode_skiptoken(token, options)
    return options


# --- the skip token -----------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date | Decimal):
        return value.isoformat() if not isinstance(value, Decimal) else str(value)
    return value


def encode_skiptoken(value: list[Any] | int) -> str:
    payload = {"o": value} if isinstance(value, int) else {"k": [_plain(v) for v in value]}
    raw = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_skiptoken(token: str, options: Options) -> list[Any] | int:
    invalid = bad_request(_("The $skiptoken is not valid for this request."), "InvalidSkipToken")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        payload = json.loads(raw)
    except (binascii.Error, ValueError) as exc:
        raise invalid from exc
    if not isinstance(payload, dict):
        raise invalid
    if options.keyset:
        values = payload.get("k")
        if not isinstance(values, list) or len(values) != len(options.order):
            raise invalid
        return [
            _typed(prop, value, invalid)
            for (prop, _desc), value in zip(options.order, values, strict=True)
        ]
    offset = payload.get("o")
    if not isinstance(offset, int) or isinstance(offset, bool) or not 0 <= offset <= MAX_INT:
        raise invalid
    return offset


def _typed(prop: Prop, value: Any, invalid: Exception) -> Any:
    if prop.kind == "string":
        if not isinstance(value, str) or "\x00" in value:
            raise invalid
        return value
    if prop.kind == "bool":
        if not isinstance(value, bool):
            raise invalid
        return value
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise invalid
    text = str(value)
    kind = {"date": "date", "datetime": "datetime"}.get(prop.kind, "number")
    try:
        return literal_value(prop, Literal(kind, text))
    except Exception as exc:
        raise invalid from exc


def after_q(order: list[tuple[Prop, bool]], values: list[Any]) -> Q:
    """Rows after `values` in the order (k1, k2, ...): k1 > v1, or k1 = v1 and k2 > v2, ..."""
    result = Q(pk__in=[])
    equal = Q()
    for (prop, desc), value in zip(order, values, strict=True):
        result |= equal & Q(**{f"{prop.path}__{'lt' if desc else 'gt'}": value})
        equal &= Q(**{prop.path: value})
    return result


# --- reading rows -------------------------------------------------------------------------------


def _converter(prop: Prop, pii: bool, ieee754: bool) -> Callable[[Any], Any] | None:
    if prop.mask and not pii:
        mask = MASKS[prop.mask]
        return lambda v: mask(v) if v else v
    if prop.kind == "datetime":
        return lambda v: v.astimezone(UTC).isoformat().replace("+00:00", "Z") if v else v
    if prop.kind == "date":
        return lambda v: v.isoformat() if v else v
    if prop.kind == "decimal":
        return (lambda v: None if v is None else str(v)) if ieee754 else _decimal
    if prop.kind == "int64" and ieee754:
        return lambda v: None if v is None else str(v)
    return None


def _decimal(value: Decimal | None) -> float | int | None:
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)


@dataclass
class Page:
    rows: list[dict[str, Any]]
    next_token: list[Any] | int | None
    remaining_top: int | None


class Reader:
    """Turns value tuples into JSON-ready dicts of the selected properties."""

    def __init__(self, select: list[Prop], extra: list[Prop], pii: bool, ieee754: bool) -> None:
        self.select = select
        paths = [p.path for p in select]
        self.paths = paths + [p.path for p in extra if p.path not in paths]
        self.index = {path: i for i, path in enumerate(self.paths)}
        self.columns = [(p.name, self.index[p.path], _converter(p, pii, ieee754)) for p in select]

    def row(self, values: tuple[Any, ...]) -> dict[str, Any]:
        out = {}
        for name, i, convert in self.columns:
            value = values[i]
            out[name] = convert(value) if convert is not None and value is not None else value
        return out


def read_page(
    qs: QuerySet[Any], options: Options, page_size: int, pii: bool, ieee754: bool
) -> Page:
    """One page of rows after applying the options (filter already applied to `qs`)."""
    order = options.order
    reader = Reader(options.select, [prop for prop, _desc in order], pii, ieee754)
    qs = qs.order_by(*[f"-{p.path}" if desc else p.path for p, desc in order])
    limit = page_size if options.top is None else min(page_size, options.top)
    token = options.skiptoken
    offset = 0
    if isinstance(token, list):
        qs = qs.filter(after_q(order, token))
    elif isinstance(token, int):
        offset = token
    else:
        offset = options.skip
    if limit == 0:
        return Page([], None, None)
    values = list(qs.values_list(*reader.paths)[offset : offset + limit + 1])
    more = len(values) > limit
    values = values[:limit]
    remaining = None if options.top is None else options.top - len(values)
    next_token: list[Any] | int | None = None
    if more and (remaining is None or remaining > 0):
        if options.keyset:
            last = values[-1]
            next_token = [last[reader.index[p.path]] for p, _desc in order]
        else:
            next_token = offset + len(values)
    return Page([reader.row(v) for v in values], next_token, remaining)


def read_one(
    qs: QuerySet[Any], select: list[Prop], pii: bool, ieee754: bool
) -> dict[str, Any] | None:
    reader = Reader(select, [], pii, ieee754)
    values = qs.values_list(*reader.paths).first()
    return reader.row(values) if values is not None else None
