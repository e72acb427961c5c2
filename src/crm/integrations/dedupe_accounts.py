"""Duplicate accounts: the same company entered twice under a longer or shorter name.

People are matched on email and phone (crm.integrations.dedupe); companies rarely carry those,
but their names are formal: "北京星辰科技有限公司", "星辰科技(北京)有限公司" and "星辰科技" name
one company, as do "Acme, Inc." and "ACME Corporation". An account's keys, which it stores
(crm.core.company_keys), are:

* its *core name*: the name without legal form (有限公司, Co., Ltd., Inc. ...), bracketed
  parts and a leading province or city;
* its phone, digits only (a leading 86 / 0086 dropped);
* its website's domain (www. and the path dropped), unless the site is a shared platform
  (a shop on tmall.com, a page on weibo.com) that says nothing about who runs it.

Records sharing a key form a block; pairs are scored by `score_accounts`. A core name or a
website counts only within one city: Chinese company names are registered per region, so
"星辰科技" in 北京 and in 深圳 are likely two companies, and a tenant with many accounts holds many
such namesakes; one website in two cities is one company's branches (北京分公司, 上海分公司), which
are kept as accounts of their own on purpose. Such a pair needs a phone in common.

Accounts are far fewer than contacts, so the scan reads each account once and keeps the keys
of all of them in memory (about 400 bytes per account: 80 MB for 200,000).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext as _
from rapidfuzz import fuzz

from crm.core.company_keys import company_core, phone_digits, website_domain
from crm.customers.models import Account
from crm.integrations.dedupe import BLOCK_CAP, CHUNK, MIN_SCORE, best_matches, chunked

#: accounts read per key by the check of a new account (a core name common across cities)
CHECK_CANDIDATES = 200


@dataclass(frozen=True)
class Company:
    pk: int
    name: str
    core: str
    phone: str
    domain: str
    city: str

    @classmethod
    def of(cls, row: dict[str, Any]) -> Company:
        """A company typed in (name, city, phone, website): its keys computed."""
        return cls(
            row["id"],
            row["name"],
            company_core(row["name"]),
            phone_digits(row.get("phone") or ""),
            website_domain(row.get("website") or ""),
            (row.get("city") or "").strip(),
        )

    @classmethod
    def stored(cls, row: dict[str, Any]) -> Company:
        """An account on record, with the keys it stores (AccountScanner.columns)."""
        return cls(
            row["id"],
            row["name"],
            row["core_name_key"],
            row["phone_key"],
            row["website_key"],
            (row["city"] or "").strip(),
        )

    def evidence(self) -> tuple[tuple[str, str], ...]:
        keys: list[tuple[str, str]] = []
        if self.core:
            keys.append(("core", self.core))
        if self.phone:
            keys.append(("phone", self.phone))
        if self.domain:
            keys.append(("site", self.domain))
        return tuple(keys)


def score_accounts(a: Company, b: Company, *, explain: bool = True) -> tuple[int, list[str]]:
    """0..100 and the reasons: same website or phone is strong; the same core name is strong
    within one city (or where a city is not known) and no evidence across two; a website
    shared across two cities is a company's branches unless the phone is the same too.

    `explain=False` leaves the reasons out: a scan scores a million pairs and keeps 10,000,
    and translating the reasons of every pair took as long as the rest of the scan."""
    same_site = bool(a.domain) and a.domain == b.domain
    same_phone = bool(a.phone) and a.phone == b.phone
    same_core = bool(a.core) and a.core == b.core
    similar = round(fuzz.ratio(a.core, b.core)) if a.core and b.core else 0
    cities_differ = bool(a.city) and bool(b.city) and a.city != b.city
    strong = 90 if same_site else 0
    if same_phone:
        strong = 95 if strong else 85
    if strong and cities_differ and not same_phone:
        # one website, two cities: the branches of one company (北京分公司, 上海分公司) are
        # kept as two accounts on purpose; a phone in common would say otherwise
        score = MIN_SCORE - 5
    elif strong:
        # a company keeps its website and switchboard when it renames: unlike names lower the
        # score less than for people, where a shared mailbox or phone is common
        score = strong + (5 if similar >= 85 else 0) - (15 if similar < 40 else 0)
    elif same_core and not cities_differ:
        score = 85
    else:
        score = min(similar, MIN_SCORE - 10)
    score = max(0, min(100, score))
    if not explain:
        return score, []
    reasons: list[str] = []
    if same_site:
        reasons.append(_("same website"))
    if same_phone:
        reasons.append(_("same phone"))
    names = {"a": a.name, "b": b.name}
    if same_core:
        reasons.append(_("same name apart from legal form or region: %(a)s / %(b)s") % names)
    elif similar >= 85:
        reasons.append(_("similar names: %(a)s / %(b)s (%(s)s%%)") % {**names, "s": similar})
    if a.city and a.city == b.city:
        reasons.append(_("same city"))
    return score, reasons


def _city_blocks(members: list[tuple[int, str]]) -> Iterator[list[int]]:
    """The ids of one city together with those whose city is not known, city by city."""
    unknown = [pk for pk, city in members if not city]
    by_city: dict[str, list[int]] = defaultdict(list)
    for pk, city in members:
        if city:
            by_city[city].append(pk)
    for same_city in list(by_city.values()) or [[]]:
        block = same_city + unknown
        if 2 <= len(block) <= BLOCK_CAP:
            yield block


class AccountScanner:
    """Accounts: blocks of records sharing a core name, a phone or a website domain.

    The same interface as crm.integrations.dedupe.PeopleScanner: blocks of (id, evidence,
    company) members, the records of candidate pairs loaded by id, and a score per pair.
    """

    record_type = "account"
    # the keys each account stores (crm.customers.services.apply_company_keys): a scan reads
    # them rather than computing them again for every account
    columns = ("id", "name", "city", "core_name_key", "phone_key", "website_key")

    def __init__(self) -> None:
        # every live account's keys, read once by blocks(): the pairs are scored from here
        self.companies: dict[int, Company] = {}

    def base(self) -> QuerySet[Any]:
        return Account.objects.filter(deleted_at__isnull=True)

    def blocks(self) -> Iterator[list[tuple[int, tuple[Hashable, ...], Any]]]:
        phones: dict[str, list[int]] = defaultdict(list)
        # core names and websites: {key: [(id, city)]}
        per_city: dict[tuple[str, str], list[tuple[int, str]]] = defaultdict(list)
        rows = self.base().order_by("id").values(*self.columns)
        for row in rows.iterator(chunk_size=10_000):
            company = Company.stored(row)
            self.companies[company.pk] = company
            for kind, value in company.evidence():
                if kind == "phone":
                    phones[value].append(company.pk)
                else:
                    per_city[(kind, value)].append((company.pk, company.city))
        for phone, ids in phones.items():
            # a number shared by very many accounts (a group's switchboard) is left out
            if 2 <= len(ids) <= BLOCK_CAP:
                yield [(pk, (("phone", phone),), None) for pk in ids]
        for key, members in per_city.items():
            # one name or one website in two cities is no evidence (see score_accounts): a
            # block per city, each with the accounts whose city is not known
            for block in _city_blocks(members):
                yield [(pk, (key,), None) for pk in block]

    def load(self, ids: Iterable[int]) -> dict[int, Company]:
        wanted = sorted(set(ids))
        if self.companies:  # during a scan
            return {pk: self.companies[pk] for pk in wanted if pk in self.companies}
        return {
            row["id"]: Company.stored(row)
            for chunk in chunked(wanted, CHUNK)
            for row in self.base().filter(pk__in=chunk).values(*self.columns)
        }

    def score(self, a: Company, b: Company) -> tuple[int, list[str]]:
        return score_accounts(a, b)

    def quick_score(self, a: Company, b: Company) -> int:
        return score_accounts(a, b, explain=False)[0]

    def matches(self, values: dict[str, Any], limit: int) -> list[tuple[int, int, list[str]]]:
        """Existing accounts that an account with `values` would duplicate.

        Only an account sharing the core name, the phone or the website can score
        MIN_SCORE (see score_accounts), so the candidates are those found by the stored
        keys' indexes: three lookups, whatever the tenant's size."""
        typed = ("name", "city", "phone", "website")
        probe = Company.of({"id": 0, **{k: str(values.get(k) or "") for k in typed}})
        keys = (
            ("core_name_key", probe.core),
            ("phone_key", probe.phone),
            ("website_key", probe.domain),
        )
        ids: set[int] = set()
        for column, value in keys:
            if value:
                found = self.base().filter(**{column: value}).values_list("id", flat=True)
                ids.update(found[:CHECK_CANDIDATES])
        return best_matches(probe, self.load(ids), score_accounts, limit)
