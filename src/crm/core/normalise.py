"""Normalised forms of emails, phones and names: the keys of blind indexes and search."""

from __future__ import annotations

import re
import unicodedata
from functools import cache, lru_cache

import phonenumbers
from pypinyin import Style, lazy_pinyin
from pypinyin.constants import PHRASES_DICT

DEFAULT_PHONE_REGION = "CN"
_HAN = re.compile(r"[\u3400-\u9fff]")
_NON_KEY = re.compile(r"[^0-9a-z\u3400-\u9fff]+")


class InvalidValueError(ValueError):
    pass


def normalise_email(value: str) -> str:
    email = value.strip().lower()
    if email.count("@") != 1 or not email.split("@")[0] or "." not in email.split("@")[1]:
        raise InvalidValueError("Enter a valid email address.")
    return email


GMAIL_DOMAINS = frozenset({"gmail.com", "googlemail.com"})


def email_canonical(email: str) -> str:
    """a+tag@x.com -> a@x.com; dots ignored for Gmail. Empty when there is no alias to fold."""
    local, _at, domain = email.strip().lower().partition("@")
    if not domain:
        return ""
    folded = local.split("+", 1)[0]
    if domain in GMAIL_DOMAINS:
        folded = folded.replace(".", "")
        domain = "gmail.com"
    return f"{folded}@{domain}" if folded else ""


def normalise_phone(value: str, region: str = DEFAULT_PHONE_REGION) -> str:
    """E.164 form (+8613800138000); numbers without a country code are read in `region`."""
    try:
        parsed = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidValueError("Enter a valid phone number.") from exc
    if not phonenumbers.is_possible_number(parsed) or not phonenumbers.is_valid_number(parsed):
        raise InvalidValueError("Enter a valid phone number.")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def normalise_id_number(value: str) -> str:
    return re.sub(r"[\s-]+", "", value).upper()


@lru_cache(maxsize=65536)
def name_key(value: str) -> str:
    """Lower-case, accents and punctuation folded: the key for prefix search on names.

    Cached: an import names the same few thousand companies on every row."""
    folded = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode()
    if _HAN.search(value):
        folded = value
    return _NON_KEY.sub(" ", folded.lower()).strip()


@lru_cache(maxsize=65536)
def pinyin_keys(value: str) -> tuple[str, str]:
    """(full pinyin, initials) of a name: 张三 → (zhangsan, zs), John Smith → (johnsmith, js).

    Stored next to the name so that `zhangsan` or `zs` finds 张三 with an index range scan.
    """
    key = name_key(value)
    if not key:
        return "", ""
    if _HAN.search(key):
        syllables = _per_character(key)
        if syllables is None:
            syllables = [
                s for s in lazy_pinyin(key, style=Style.NORMAL, errors="ignore") if s.strip()
            ]
            syllables = [_NON_KEY.sub("", s.lower()) for s in syllables]
    else:
        syllables = key.split()
    syllables = [s for s in syllables if s]
    return "".join(syllables), "".join(s[0] for s in syllables)


# legal forms, as crm.core.company_keys drops them from account names (longest first)
_COMPANY_NOISE = re.compile(
    r"\b(co|company|ltd|limited|pte|inc|incorporated|llc|gmbh|corp|corporation|group|holding"
    r"|holdings|plc|sa|ag|bv)\b|(有限责任公司|股份有限公司|有限公司|股份公司|集团|控股|公司)"
)


def name_tokens(value: str) -> list[str]:
    """Pinyin syllables of a Chinese name, lower-case words of any other."""
    key = name_key(value)
    if _HAN.search(key):
        return [
            s.lower() for s in lazy_pinyin(key, style=Style.NORMAL, errors="ignore") if s.strip()
        ]
    return key.split()  # (a key without Han characters is ASCII words or empty)


@lru_cache(maxsize=65536)
def company_key(value: str) -> tuple[str, str]:
    """(joined, spaced) pinyin of a company name without its legal form, so that
    阿里巴巴有限公司, 阿里巴巴集团 and Alibaba Group Ltd. all give ("alibaba", ...).

    One key for the public capture's duplicate check (crm.sales.capture) and the lead
    duplicate scan (crm.integrations.dedupe): both call the same companies the same."""
    tokens = name_tokens(_COMPANY_NOISE.sub(" ", name_key(value)))
    return "".join(tokens), " ".join(tokens)


_SHORT_NAME = 8


def _per_character(key: str) -> list[str] | None:
    """The readings of a short all-Han key character by character, or None to ask pypinyin.

    pypinyin reads a text phrase by phrase: a run of characters found in its phrase
    dictionary takes the phrase's reading (e.g. 重庆 → chongqing, not zhongqing). When no run of
    two or more characters of the key is a known phrase, its answer is each character's own
    reading, which is cached here: an import of 500,000 names then costs a few dictionary
    lookups per name instead of a segmentation each (equality with pypinyin is tested).
    """
    if len(key) > _SHORT_NAME or not all("\u3400" <= ch <= "\u9fff" for ch in key):
        return None
    for start in range(len(key) - 1):
        for end in range(start + 2, len(key) + 1):
            if key[start:end] in PHRASES_DICT:
                return None
    return [reading for ch in key if (reading := _character_reading(ch))]


@cache  # bounded by the CJK characters: ~28,000 entries at most
def _character_reading(char: str) -> str:
    readings = lazy_pinyin(char, style=Style.NORMAL, errors="ignore")
    return "".join(_NON_KEY.sub("", s.lower()) for s in readings if s.strip())
