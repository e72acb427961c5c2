"""Reading one spreadsheet cell into a typed value, with a clear message when it cannot be read.

Pure functions, no Django models: text (with the formula and length guards), booleans, numbers,
dates and times in the formats people type (ISO, 2024/3/5, 2024年3月5日, 20240305, Excel serial
numbers, "Mar 5, 2024", day/month/year with a chosen order) and choices by code or label.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from decimal import Decimal, InvalidOperation

from django.utils.translation import gettext as _

# Excel's own limit for one cell; longer cells are refused row by row.
MAX_CELL_CHARS = 32_767
EXCEL_EPOCH = datetime(1899, 12, 30)
FORMULA_START = "="
NEUTRALISED = ("=", "+", "-", "@", "\t", "\r")

Cell = str | int | float | bool | datetime | date | time | None


class CellError(ValueError):
    """A cell that cannot be read; the message is shown to the user next to the field."""


def as_text(value: Cell) -> str:
    """The text of a cell: XLSX numbers lose a spurious .0 (13800138000.0 -> 13800138000)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return repr(value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value)


def clean_text(value: Cell) -> str:
    """Trimmed text; refuses formulas, null characters and cells over Excel's limit."""
    text = as_text(value).strip()
    if not text:
        return ""
    if text[0] == "'" and text[1:2] in NEUTRALISED:
        text = text[1:]  # our exports' guard against formula injection, read back
    if len(text) > MAX_CELL_CHARS:
        raise CellError(
            _("This cell has %(n)s characters; a cell can hold at most %(max)s.")
            % {"n": f"{len(text):,}", "max": f"{MAX_CELL_CHARS:,}"}
        )
    if "\x00" in text:
        raise CellError(_("This cell contains a null character."))
    if text.startswith(FORMULA_START):
        raise CellError(
            _("Formulas are not imported (the cell starts with “=”); paste its value instead.")
        )
    return text


_TRUE = {"1", "true", "t", "yes", "y", "是", "对", "真", "有", "√", "✓", "✔", "x", "on", "同意"}
_FALSE = {"0", "false", "f", "no", "n", "否", "错", "假", "无", "×", "off", "不同意", "-"}  # noqa: RUF001


def parse_bool(value: Cell) -> bool | None:
    if isinstance(value, bool):
        return value
    text = clean_text(value).lower()
    if not text:
        return None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise CellError(_("Enter yes or no (是/否, true/false, 1/0)."))


_MONEY_NOISE = re.compile(r"[\s,_¥￥$€£]|元|rmb|cny|usd|eur", re.IGNORECASE)


def parse_decimal(value: Cell) -> Decimal | None:
    if isinstance(value, bool):
        raise CellError(_("Enter a number."))
    if isinstance(value, int | float):
        return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    text = unicodedata.normalize("NFKC", clean_text(value))
    if not text:
        return None
    negative = text.startswith("(") and text.endswith(")")
    text = _MONEY_NOISE.sub("", text.strip("()"))
    try:
        number = Decimal(text)
    except InvalidOperation as exc:
        raise CellError(_("Enter a number.")) from exc
    if not number.is_finite():
        raise CellError(_("Enter a number."))
    return -number if negative else number


def parse_int(value: Cell) -> int | None:
    number = parse_decimal(value)
    if number is None:
        return None
    if number != number.to_integral_value():
        raise CellError(_("Enter a whole number."))
    return int(number)


# --- dates and times ----------------------------------------------------------------------------

_MONTHS = {
    name: i + 1
    for i, names in enumerate(
        [
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ]
    )
    for name in names
}
_TIME = (
    r"(?:[ T]+(?P<h>\d{1,2})(?:[:时点](?P<mi>\d{1,2})"
    r"(?:[:分](?P<s>\d{1,2})(?:\.(?P<f>\d{1,6}))?秒?)?分?)?\s*(?P<tz>Z|[+-]\d{2}:?\d{2})?)?"
)
_YMD = re.compile(
    r"^(?P<y>\d{4})\s*[-/.年]\s*(?P<m>\d{1,2})\s*[-/.月]\s*(?P<d>\d{1,2})\s*日?" + _TIME + r"$"
)
_COMPACT = re.compile(r"^(?P<y>(?:19|20)\d{2})(?P<m>\d{2})(?P<d>\d{2})$")
_XY_YEAR = re.compile(r"^(?P<a>\d{1,2})[-/.](?P<b>\d{1,2})[-/.](?P<y>\d{4})" + _TIME + r"$")
_MONTH_NAME_FIRST = re.compile(
    r"^(?P<mon>[a-z]{3,9})\.?\s+(?P<d>\d{1,2})(?:st|nd|rd|th)?,?\s+(?P<y>\d{4})" + _TIME + r"$"
)
_DAY_FIRST_NAME = re.compile(
    r"^(?P<d>\d{1,2})(?:st|nd|rd|th)?[\s-]+(?P<mon>[a-z]{3,9})\.?[\s-]+(?P<y>\d{4})" + _TIME + r"$"
)
_SERIAL = re.compile(r"^\d{1,7}(?:\.\d+)?$")

DATE_ORDERS = ("dmy", "mdy", "")


def _tz_of(text: str | None) -> tzinfo | None:
    if not text:
        return None
    if text == "Z":
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    return timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))


def _build(y: int, m: int, d: int, match: re.Match[str] | None) -> datetime:
    hour = minute = second = micro = 0
    tz = None
    if match is not None and match.groupdict().get("h") is not None:
        hour = int(match["h"])
        minute = int(match["mi"] or 0)
        second = int(match["s"] or 0)
        micro = int((match["f"] or "0").ljust(6, "0"))
        tz = _tz_of(match["tz"])
    try:
        return datetime(y, m, d, hour, minute, second, micro, tzinfo=tz)
    except ValueError as exc:
        raise CellError(_("This is not a real date.")) from exc


def parse_datetime_naive_or_aware(value: Cell, *, date_order: str = "") -> datetime | None:
    """A datetime (naive unless the cell names its offset) from any of the accepted formats."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _from_serial(float(value))
    text = unicodedata.normalize("NFKC", clean_text(value)).strip().lower()
    if not text:
        return None
    if m := _COMPACT.match(text):
        return _build(int(m["y"]), int(m["m"]), int(m["d"]), None)
    if _SERIAL.match(text):
        return _from_serial(float(text))
    if m := _YMD.match(text):
        return _build(int(m["y"]), int(m["m"]), int(m["d"]), m)
    if m := _XY_YEAR.match(text):
        a, b = int(m["a"]), int(m["b"])
        if date_order == "dmy" or (not date_order and a > 12 >= b):
            return _build(int(m["y"]), b, a, m)
        if date_order == "mdy" or (not date_order and b > 12 >= a):
            return _build(int(m["y"]), a, b, m)
        if a == b:
            return _build(int(m["y"]), a, b, m)
        raise CellError(
            _(
                "“%(text)s” could be read day-first or month-first: choose the date order "
                "in the import options."
            )
            % {"text": text}
        )
    for pattern in (_MONTH_NAME_FIRST, _DAY_FIRST_NAME):
        if (m := pattern.match(text)) and m["mon"] in _MONTHS:
            return _build(int(m["y"]), _MONTHS[m["mon"]], int(m["d"]), m)
    raise CellError(_("Enter a date such as 2024-03-05, 2024/3/5, 2024年3月5日 or 20240305."))


def _from_serial(serial: float) -> datetime:
    # Excel serial day numbers (1900 date system); 60 is Excel's fictitious 1900-02-29.
    if not 1 <= serial < 2_958_466:
        raise CellError(_("This is not a real date."))
    return EXCEL_EPOCH + timedelta(days=serial)


def parse_datetime(value: Cell, *, tz: tzinfo, date_order: str = "") -> datetime | None:
    """An aware datetime; times without an offset are read in the tenant's time zone."""
    found = parse_datetime_naive_or_aware(value, date_order=date_order)
    if found is None:
        return None
    if found.tzinfo is None:
        found = found.replace(tzinfo=tz)
    return found.astimezone(UTC)


def parse_date(value: Cell, *, date_order: str = "") -> date | None:
    found = parse_datetime_naive_or_aware(value, date_order=date_order)
    return None if found is None else found.date()


def parse_choice(value: Cell, lookup: Mapping[str, str]) -> str | None:
    """A choice by its code or any of its labels (English or Chinese), case-insensitively."""
    text = clean_text(value)
    if not text:
        return None
    found = lookup.get(text.lower())
    if found is None:
        raise CellError(
            _("Choose one of: %(options)s.") % {"options": ", ".join(sorted(set(lookup.values())))}
        )
    return found


# --- headers ------------------------------------------------------------------------------------

_HEADER_NOISE = re.compile(r"[\s_\-–—:：()（）\[\]【】/\\.*#'\"]+")  # noqa: RUF001


def header_key(header: str) -> str:
    """A header folded for matching: full-width to half-width, case, spaces and punctuation."""
    return _HEADER_NOISE.sub("", unicodedata.normalize("NFKC", str(header)).lower())
