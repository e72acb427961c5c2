"""The duplicate finder: blocking on normalised keys, then scoring pairs with rapidfuzz.

Blocking keeps the work near-linear: only records that share a key are compared.
* exact keys grouped by the database over their indexes: email and phone blind indexes (phones
  were stored in E.164, so any format matches), full pinyin of the name (张三 and "Zhang San"
  share `zhangsan`);
* keys computed while streaming: email aliases (`a+tag@x.com`, dots in Gmail addresses) and
  Latin names written family-name-last ("San Zhang" also blocks as `zhangsan`).
A block larger than BLOCK_CAP (a shared switchboard number, a very common name) is narrowed to
records of the same company, so a scan never compares everyone with everyone.

Each candidate pair gets a score (0-100) and the reasons behind it; pairs scoring at least
MIN_SCORE go to the review queue (DuplicateCandidate), except pairs already dismissed or merged.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from rapidfuzz import fuzz

from crm.core import crypto
from crm.customers.models import Account, Contact
from crm.integrations.models import (
    CandidateStatus,
    DuplicateCandidate,
    DuplicateScan,
    JobStatus,
)
from crm.sales.models import Lead

BLOCK_CAP = 50
MIN_SCORE = 70
CHUNK = 900
_GMAIL = {"gmail.com", "googlemail.com"}


def email_canonical(email: str) -> str:
    """a+tag@x.com -> a@x.com; dots ignored for Gmail. Empty when there is no alias to fold."""
    local, _at, domain = email.strip().lower().partition("@")
    if not domain:
        return ""
    folded = local.split("+", 1)[0]
    if domain in _GMAIL:
        folded = folded.replace(".", "")
        domain = "gmail.com"
    return f"{folded}@{domain}" if folded else ""


def name_variants(name_key: str, pinyin_key: str) -> set[str]:
    """Keys a name blocks on: its full pinyin, and for two-word Latin names the reversed order."""
    keys = {pinyin_key} if pinyin_key else set()
    parts = name_key.split()
    if len(parts) == 2 and name_key.isascii():
        keys.add(parts[1] + parts[0])
    return keys


@dataclass(frozen=True)
class Person:
    pk: int
    name: str
    name_key: str
    pinyin_key: str
    email_index: str
    phone_index: str
    email_alias: str
    company: Any  # account id (contacts) or folded company text (leads)
    city: str


def name_similarity(a: Person, b: Person) -> int:
    """Best of pinyin (both scripts), folded names and word order: 0..100."""
    scores = [0.0]
    if a.pinyin_key and b.pinyin_key:
        scores.append(fuzz.ratio(a.pinyin_key, b.pinyin_key))
    for x in name_variants(a.name_key, a.pinyin_key):
        for y in name_variants(b.name_key, b.pinyin_key):
            scores.append(fuzz.ratio(x, y))
    if a.name_key and b.name_key:
        scores.append(fuzz.token_sort_ratio(a.name_key, b.name_key))
    return round(max(scores))


def score_pair(a: Person, b: Person) -> tuple[int, list[str]]:
    reasons: list[str] = []
    strong = 0
    if a.email_index and a.email_index == b.email_index:
        strong = max(strong, 90)
        reasons.append(_("same email"))
    elif a.email_alias and a.email_alias == b.email_alias:
        strong = max(strong, 85)
        reasons.append(_("same email apart from a +tag or dots"))
    if a.phone_index and a.phone_index == b.phone_index:
        strong = 95 if strong else 85
        reasons.append(_("same phone"))
    similar = name_similarity(a, b)
    if similar >= 85:
        reasons.append(
            _("similar names: %(a)s / %(b)s (%(s)s%%)") % {"a": a.name, "b": b.name, "s": similar}
        )
    same_company = a.company not in (None, "") and a.company == b.company
    if same_company:
        reasons.append(_("same company"))
    if strong:
        score = strong + (5 if similar >= 85 else 0) - (25 if similar < 40 else 0)
    elif similar >= 90 and same_company:
        score = 75 + (similar - 90) // 2
    else:
        # A name alone, even in the same city, is no evidence: common Chinese names repeat by the
        # thousand (99,728 contacts gave 56,957 such pairs). A second key — email, phone or
        # company — must match too before a pair reaches the review queue.
        score = min(similar, MIN_SCORE - 10)
        if similar >= 95 and a.city and a.city == b.city:
            reasons.append(_("same city"))
    return max(0, min(100, score)), reasons


# --- scanners -----------------------------------------------------------------------------------


class PeopleScanner:
    """Contacts or leads: email / phone blind indexes, pinyin names, email aliases."""

    record_type = "contact"

    def base(self) -> QuerySet[Any]:
        return Contact.objects.filter(deleted_at__isnull=True)

    company_field = "account_id"

    def person(self, row: dict[str, Any]) -> Person:
        email = row.get("email") or ""
        alias = email_canonical(email)
        alias_index = crypto.blind_index("email", alias) if alias and alias != email else ""
        company = row.get(self.company_field)
        if isinstance(company, str):
            company = company.strip().lower()
        return Person(
            row["id"],
            row["name"],
            row["name_key"],
            row["pinyin_key"],
            row["email_index"],
            row["phone_index"],
            alias_index or (row["email_index"] if alias == email else ""),
            company,
            row.get("city") or "",
        )

    columns: tuple[str, ...] = (
        "id",
        "name",
        "name_key",
        "pinyin_key",
        "email_index",
        "phone_index",
        "email",
        "city",
    )

    def load(self, ids: Iterable[int]) -> dict[int, Person]:
        out = {}
        cols = (*self.columns, self.company_field)
        for chunk in _chunks(sorted(set(ids)), CHUNK):
            for row in self.base().filter(pk__in=chunk).values(*cols):
                out[row["id"]] = self.person(row)
        return out

    def exact_blocks(self, column: str) -> Iterable[list[int]]:
        """Groups of ids sharing `column`, grouped by the database; big groups by company."""
        base = self.base().exclude(**{column: ""})
        groups = base.values(column).annotate(n=Count("id")).filter(n__gte=2)
        small = [g[column] for g in groups if g["n"] <= BLOCK_CAP]
        big = [g[column] for g in groups if g["n"] > BLOCK_CAP]
        for chunk in _chunks(small, CHUNK):
            members: dict[str, list[int]] = defaultdict(list)
            for key, pk in base.filter(**{f"{column}__in": chunk}).values_list(column, "id"):
                members[key].append(pk)
            yield from members.values()
        for key in big:
            by_company: dict[Any, list[int]] = defaultdict(list)
            for pk, company in base.filter(**{column: key}).values_list("id", self.company_field):
                if company not in (None, ""):
                    by_company[company].append(pk)
            yield from (ids[:BLOCK_CAP] for ids in by_company.values() if len(ids) > 1)

    def streamed_blocks(self) -> Iterable[list[int]]:
        """Email aliases and reversed Latin names, found while streaming every record once."""
        alias_groups: dict[str, list[int]] = defaultdict(list)
        reversed_names: dict[str, list[int]] = defaultdict(list)
        rows = self.base().values_list("id", "email", "name_key").order_by()
        for pk, email, key in rows.iterator(chunk_size=5000):
            if email and ("+" in email or email.split("@")[-1] in _GMAIL):
                alias = email_canonical(email)
                if alias:
                    alias_groups[crypto.blind_index("email", alias)].append(pk)
            parts = key.split()
            if len(parts) == 2 and key.isascii():
                reversed_names[parts[1] + parts[0]].append(pk)
        # an alias matches the plain address too: look the folded forms up in the index
        for chunk in _chunks(sorted(alias_groups), CHUNK):
            for index, pk in (
                self.base().filter(email_index__in=chunk).values_list("email_index", "id")
            ):
                alias_groups[index].append(pk)
        yield from (
            sorted(set(ids))[:BLOCK_CAP] for ids in alias_groups.values() if len(set(ids)) > 1
        )
        for chunk in _chunks(sorted(reversed_names), CHUNK):
            for key, pk in self.base().filter(pinyin_key__in=chunk).values_list("pinyin_key", "id"):
                reversed_names[key].append(pk)
        yield from (
            sorted(set(ids))[:BLOCK_CAP] for ids in reversed_names.values() if len(set(ids)) > 1
        )

    def blocks(self) -> Iterable[list[int]]:
        yield from self.exact_blocks("email_index")
        yield from self.exact_blocks("phone_index")
        yield from self.exact_blocks("pinyin_key")
        yield from self.streamed_blocks()


class LeadScanner(PeopleScanner):
    record_type = "lead"
    company_field = "company"
    columns = (
        "id",
        "name",
        "name_key",
        "pinyin_key",
        "email_index",
        "phone_index",
        "email",
        "region",
    )

    def base(self) -> QuerySet[Any]:
        return Lead.objects.filter(deleted_at__isnull=True)

    def person(self, row: dict[str, Any]) -> Person:
        return super().person({**row, "city": row.get("region", "")})


class AccountScanner(PeopleScanner):
    record_type = "account"
    company_field = "id"
    columns = ("id", "name", "name_key", "pinyin_key", "city")

    def base(self) -> QuerySet[Any]:
        return Account.objects.filter(deleted_at__isnull=True)

    def person(self, row: dict[str, Any]) -> Person:
        return Person(
            row["id"],
            row["name"],
            row["name_key"],
            row["pinyin_key"],
            "",
            "",
            "",
            None,
            row.get("city") or "",
        )

    def blocks(self) -> Iterable[list[int]]:
        yield from self.exact_blocks("name_key")
        yield from self.exact_blocks("pinyin_key")

    def exact_blocks(self, column: str) -> Iterable[list[int]]:
        base = self.base().exclude(**{column: ""})
        groups = base.values(column).annotate(n=Count("id")).filter(n__gte=2, n__lte=BLOCK_CAP)
        keys = [g[column] for g in groups]
        for chunk in _chunks(keys, CHUNK):
            members: dict[str, list[int]] = defaultdict(list)
            for key, pk in base.filter(**{f"{column}__in": chunk}).values_list(column, "id"):
                members[key].append(pk)
            yield from members.values()


SCANNERS: dict[str, Callable[[], PeopleScanner]] = {
    "contact": PeopleScanner,
    "lead": LeadScanner,
    "account": AccountScanner,
}


def _chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def find_pairs(scanner: PeopleScanner) -> dict[tuple[int, int], tuple[int, list[str]]]:
    """Every scored pair at or above MIN_SCORE: {(left, right): (score, reasons)}."""
    pairs: set[tuple[int, int]] = set()
    for block in scanner.blocks():
        ids = sorted(set(block))
        for i, left in enumerate(ids):
            for right in ids[i + 1 :]:
                pairs.add((left, right))
    found: dict[tuple[int, int], tuple[int, list[str]]] = {}
    ordered = sorted(pairs)
    for chunk in _chunks(ordered, 2000):
        people = scanner.load(pk for pair in chunk for pk in pair)
        for left, right in chunk:
            a, b = people.get(left), people.get(right)
            if a is None or b is None:
                continue
            score, reasons = score_pair(a, b)
            if score >= MIN_SCORE:
                found[(left, right)] = (score, reasons)
    return found


def scan_run(scan_id: int) -> DuplicateScan:
    """Run a scan: find pairs, add new ones to the queue, refresh open ones."""
    scan = DuplicateScan.objects.get(pk=scan_id)
    started = time.monotonic()
    DuplicateScan.objects.filter(pk=scan.pk).update(
        status=JobStatus.RUNNING, started_at=timezone.now()
    )
    scanner = SCANNERS[scan.record_type]()
    found = find_pairs(scanner)
    known = {
        (left, right): (pk, status)
        for pk, left, right, status in DuplicateCandidate.objects.filter(
            record_type=scan.record_type
        ).values_list("id", "left_id", "right_id", "status")
    }
    new = []
    for (left, right), (score, reasons) in found.items():
        existing = known.get((left, right))
        if existing is None:
            new.append(
                DuplicateCandidate(
                    tenant_id=scan.tenant_id,
                    record_type=scan.record_type,
                    left_id=left,
                    right_id=right,
                    score=score,
                    reasons=reasons,
                    scan=scan,
                )
            )
        elif existing[1] == CandidateStatus.OPEN:
            DuplicateCandidate.objects.filter(pk=existing[0]).update(
                score=score, reasons=reasons, scan=scan
            )
    DuplicateCandidate.objects.bulk_create(new, batch_size=1000, ignore_conflicts=True)
    scanned = scanner.base().count()
    DuplicateScan.objects.filter(pk=scan.pk).update(
        status=JobStatus.DONE,
        finished_at=timezone.now(),
        scanned=scanned,
        pairs_found=len(found),
        seconds=round(time.monotonic() - started, 3),
    )
    scan.refresh_from_db()
    return scan


def matches_for(
    values: dict[str, Any], *, record_type: str = "contact", limit: int = 10
) -> list[tuple[int, int, list[str]]]:
    """Existing records that a new record with `values` would duplicate: (id, score, reasons).

    The same keys and scoring as the scan, for capture forms, the API and import previews.
    """
    from crm.core.normalise import InvalidValueError, normalise_email, normalise_phone
    from crm.customers.services import apply_name_keys

    scanner = SCANNERS[record_type]()
    holder: Any = type("Holder", (), {})()
    apply_name_keys(holder, str(values.get("name", "")))
    email_index = phone_index = ""
    try:
        if values.get("email"):
            email_index = crypto.blind_index("email", normalise_email(str(values["email"])))
        if values.get("phone"):
            phone_index = crypto.blind_index("phone", normalise_phone(str(values["phone"])))
    except InvalidValueError:
        pass
    q = Q(pk__in=[])
    if email_index:
        q |= Q(email_index=email_index)
    if phone_index:
        q |= Q(phone_index=phone_index)
    if holder.pinyin_key:
        q |= Q(pinyin_key=holder.pinyin_key)
    ids = list(scanner.base().filter(q).values_list("id", flat=True)[:200])
    alias = email_canonical(str(values.get("email", "")))
    probe = Person(
        0,
        str(values.get("name", "")),
        holder.name_key,
        holder.pinyin_key,
        email_index,
        phone_index,
        crypto.blind_index("email", alias) if alias else "",
        values.get(scanner.company_field),
        str(values.get("city", "")),
    )
    out = []
    for pk, person in scanner.load(ids).items():
        score, reasons = score_pair(probe, person)
        if score >= MIN_SCORE:
            out.append((pk, score, reasons))
    return sorted(out, key=lambda t: -t[1])[:limit]
