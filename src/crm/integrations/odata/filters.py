"""$filter: a tokenizer and a recursive-descent parser that yields a Django Q object.

The grammar (a subset of OData v4 common expressions, lowest precedence first):

    expression := and_expr ("or" and_expr)*
    and_expr   := unary ("and" unary)*
    unary      := "not" unary | comparison
    comparison := operand (("eq"|"ne"|"gt"|"ge"|"lt"|"le") operand)?
    operand    := "(" expression ")" | function "(" Property "," 'text' ")"
                | Property | literal
    function   := "contains" | "startswith" | "endswith"
    literal    := 'text' | 12 | -1.5 | 2024-05-01 | 2024-05-01T08:00:00Z | true | false | null

A comparison sets one property of the allow-list (see edm.py) against one literal of a matching
type. Anything else (an unknown name, a property compared with a property, another function,
arithmetic, lambda operators, a literal of the wrong type or out of range) raises ODataError 400.
Input size, nesting depth and the number of comparisons are bounded, so no filter can exhaust
the parser or the database's expression limits.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db.models import Q
from django.utils.translation import gettext as _

from crm.integrations.odata.edm import Prop
from crm.integrations.odata.errors import ODataError, bad_request

MAX_LENGTH = 4000
MAX_DEPTH = 40
MAX_COMPARISONS = 200
INT_RANGES = {"int32": 2**31 - 1, "int64": 2**63 - 1}
COMPARISONS = {"eq": "exact", "ne": "exact", "gt": "gt", "ge": "gte", "lt": "lt", "le": "lte"}
MIRROR = {"eq": "eq", "ne": "ne", "gt": "lt", "ge": "le", "lt": "gt", "le": "ge"}
FUNCTIONS = {"contains": "contains", "startswith": "startswith", "endswith": "endswith"}

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<string>'(?:[^']|'')*')
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,12})?)?(?:Z|[+ -]\d{2}:\d{2}))
  | (?P<date>\d{4}-\d{2}-\d{2})
  | (?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<punct>[(),])
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class Token:
    kind: str  # string, datetime, date, number, name, punct, end
    text: str
    at: int


def tokenize(text: str) -> list[Token]:
    tokens = []
    at = 0
    while at < len(text):
        match = _TOKEN.match(text, at)
        if match is None:
            raise bad_request(
                _("Unexpected character %(char)r at position %(at)d of $filter.")
                % {"char": text[at], "at": at + 1}
            )
        kind = match.lastgroup or ""
        if kind != "space":
            tokens.append(Token(kind, match.group(), at))
        at = match.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


# --- literals -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Literal:
    kind: str  # string, number, date, datetime, bool, null
    text: str


def parse_datetime(text: str) -> datetime:
    try:
        # A "+" sent unencoded in a URL arrives as a space: "…T08:00:00 08:00".
        value = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "+"))
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    except (ValueError, OverflowError) as exc:
        raise bad_request(_("%s is not a valid date and time.") % text) from exc


def parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise bad_request(_("%s is not a valid date.") % text) from exc


def literal_value(prop: Prop, literal: Literal) -> Any:
    """The literal as a value of the property's type, or ODataError 400."""
    kind = prop.kind
    mismatch = bad_request(
        _("%(prop)s is of type %(type)s and cannot be compared with %(value)s.")
        % {"prop": prop.name, "type": prop.edm_type, "value": literal.text}
    )
    if kind == "string":
        if literal.kind != "string":
            raise mismatch
        if "\x00" in literal.text:
            raise bad_request(_("Text in $filter must not contain null characters."))
        return literal.text
    if kind in INT_RANGES:
        if literal.kind != "number" or not re.fullmatch(r"-?\d+", literal.text):
            raise mismatch
        number = int(literal.text)
        if abs(number) > INT_RANGES[kind]:
            raise bad_request(_("The number %s is out of range.") % literal.text)
        return number
    if kind == "decimal":
        if literal.kind != "number":
            raise mismatch
        try:
            value = Decimal(literal.text)
        except InvalidOperation as exc:  # pragma: no cover - the tokenizer only lets numbers in
            raise mismatch from exc
        limit = Decimal(10) ** ((prop.precision or 28) - (prop.scale or 0))
        if not value.is_finite() or abs(value) >= limit:
            raise bad_request(_("The number %s is out of range.") % literal.text)
        return value.quantize(Decimal(1).scaleb(-(prop.scale or 0)))
    if kind == "bool":
        if literal.kind != "bool":
            raise mismatch
        return literal.text == "true"
    if kind == "date":
        if literal.kind != "date":
            raise mismatch
        return parse_date(literal.text)
    if kind == "datetime":
        if literal.kind == "date":
            day = parse_date(literal.text)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        if literal.kind != "datetime":
            raise mismatch
        return parse_datetime(literal.text)
    raise mismatch  # pragma: no cover - every EDM kind is handled above


# --- the parser ---------------------------------------------------------------------------------


class Parser:
    def __init__(self, text: str, props: Mapping[str, Prop]) -> None:
        self.tokens = tokenize(text)
        self.props = props
        self.position = 0
        self.depth = 0
        self.comparisons = 0

    # tokens

    @property
    def token(self) -> Token:
        return self.tokens[self.position]

    def _advance(self) -> Token:
        token = self.token
        if token.kind != "end":
            self.position += 1
        return token

    def _is(self, kind: str, text: str | None = None) -> bool:
        return self.token.kind == kind and (text is None or self.token.text == text)

    def _expect(self, kind: str, text: str) -> None:
        if not self._is(kind, text):
            raise self._unexpected(_("expected %s") % f"'{text}'")

    def _unexpected(self, wanted: str) -> ODataError:
        token = self.token
        found = _("the end") if token.kind == "end" else repr(token.text)
        return bad_request(
            _("Syntax error in $filter at position %(at)d: %(wanted)s, found %(found)s.")
            % {"at": token.at + 1, "wanted": wanted, "found": found},
            code="InvalidFilter",
        )

    # grammar

    def parse(self) -> Q:
        q = self._expression()
        if not self._is("end"):
            raise self._unexpected(_("expected 'and', 'or' or the end"))
        return q

    def _expression(self) -> Q:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise bad_request(_("$filter is nested too deeply."), code="InvalidFilter")
        q = self._and()
        while self._is("name", "or"):
            self._advance()
            q = q | self._and()
        self.depth -= 1
        return q

    def _and(self) -> Q:
        q = self._unary()
        while self._is("name", "and"):
            self._advance()
            q = q & self._unary()
        return q

    def _unary(self) -> Q:
        if self._is("name", "not"):
            self._advance()
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise bad_request(_("$filter is nested too deeply."), code="InvalidFilter")
            q = ~self._unary()
            self.depth -= 1
            return q
        return self._comparison()

    def _comparison(self) -> Q:
        left = self._operand()
        if self._is("name") and self.token.text in COMPARISONS:
            op = self._advance().text
            right = self._operand()
            return self._compare(left, op, right)
        if isinstance(left, Q):
            return left
        if isinstance(left, Prop) and left.kind == "bool":
            return self._count(Q(**{left.path: True}))
        raise self._unexpected(_("expected a comparison"))

    def _operand(self) -> Q | Prop | Literal:
        token = self.token
        if self._is("punct", "("):
            self._advance()
            q = self._expression()
            self._expect("punct", ")")
            self._advance()
            return q
        if token.kind in ("string", "number", "date", "datetime"):
            self._advance()
            text = token.text[1:-1].replace("''", "'") if token.kind == "string" else token.text
            return Literal(token.kind, text)
        if token.kind != "name":
            raise self._unexpected(_("expected a property, a value or '('"))
        self._advance()
        if token.text in ("true", "false"):
            return Literal("bool", token.text)
        if token.text == "null":
            return Literal("null", "null")
        if self._is("punct", "("):
            return self._function(token.text)
        return self._property(token.text)

    def _property(self, name: str) -> Prop:
        prop = self.props.get(name)
        if prop is None:
            raise bad_request(_("There is no property %s here.") % repr(name), code="InvalidFilter")
        if not prop.queryable:
            raise bad_request(
                _("%s cannot be filtered or sorted on (it is stored encrypted).") % prop.name,
                code="UnsupportedFilter",
            )
        return prop

    def _function(self, name: str) -> Q:
        if name not in FUNCTIONS:
            raise bad_request(
                _("The function %s is not supported in $filter.") % repr(name),
                code="UnsupportedFilter",
            )
        self._advance()  # (
        target = self._operand()
        self._expect("punct", ",")
        self._advance()
        argument = self._operand()
        self._expect("punct", ")")
        self._advance()
        if not isinstance(target, Prop) or target.kind != "string":
            raise bad_request(
                _("%s() takes a text property first.") % name, code="UnsupportedFilter"
            )
        if not isinstance(argument, Literal) or argument.kind != "string":
            raise bad_request(_("%s() takes a text value second.") % name, code="InvalidFilter")
        value = literal_value(target, argument)
        return self._count(Q(**{f"{target.path}__{FUNCTIONS[name]}": value}))

    def _compare(self, left: Q | Prop | Literal, op: str, right: Q | Prop | Literal) -> Q:
        if isinstance(left, Literal) and isinstance(right, Prop):
            left, right, op = right, left, MIRROR[op]
        if not isinstance(left, Prop) or not isinstance(right, Literal):
            raise bad_request(
                _("A comparison must set a property against a value."),
                code="UnsupportedFilter",
            )
        if right.kind == "null":
            if op not in ("eq", "ne"):
                raise bad_request(
                    _("null can only be compared with eq or ne."), code="InvalidFilter"
                )
            return self._count(Q(**{f"{left.path}__isnull": op == "eq"}))
        value = literal_value(left, right)
        q = Q(**{f"{left.path}__{COMPARISONS[op]}": value})
        return self._count(~q if op == "ne" else q)

    def _count(self, q: Q) -> Q:
        self.comparisons += 1
        if self.comparisons > MAX_COMPARISONS:
            raise bad_request(_("$filter has too many conditions."), code="InvalidFilter")
        return q


def filter_q(text: str, props: Mapping[str, Prop]) -> Q:
    """The Q object for a $filter expression over `props`, or ODataError 400."""
    if len(text) > MAX_LENGTH:
        raise bad_request(_("$filter is too long."), code="InvalidFilter")
    if not text.strip():
        raise bad_request(_("$filter is empty."), code="InvalidFilter")
    return Parser(text, props).parse()
