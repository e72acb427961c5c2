"""The duplicate finder: blocking on normalised keys, then scoring pairs with rapidfuzz.

Blocking keeps the work near-linear: only records that share a key are compared.
* exact keys: email and phone blind indexes (phones were stored in E.164, so any format
  matches), full pinyin of the name (张三 and "Zhang San" share `zhangsan`);
* keys collected while streaming: email aliases (`a+tag@x.com`, dots in Gmail addresses, by the
  mailbox key stored with them, `email_alias_index`) and Latin names written family-name-last
  ("San Zhang" also blocks as `zhangsan`).
A block larger than BLOCK_CAP (a shared switchboard number, a very common name) is narrowed to
records of the same company, so a scan never compares everyone with everyone.

Each candidate pair gets a score (0-100) and the reasons behind it; pairs scoring at least
MIN_SCORE go to the review queue (DuplicateCandidate), except pairs already dismissed or merged.

Cost (500,000 contacts on SQLite, see benchmarks/bench_dedupe.py): one pass over every record
along the pinyin index, which yields the pinyin blocks (no email is decrypted); the email
and phone keys held twice, counted over their indexes alone; inside each block only records that
share an email, alias, phone or company are paired (score_pair gives nothing else MIN_SCORE),
so namesakes are never loaded or compared. Memory holds one block, the email aliases and the
Latin two-word names, never the pairs of a block.
"""

from __future__ import annotations

import heapq
import time
from collections import defaultdict
from collections.abc import Callable, Container, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import combinations, groupby
from operator import itemgetter
from typing import Any

from django.db.models import Count, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from rapidfuzz import fuzz

from crm.core import crypto
from crm.core.mailbox import mailbox_key
from crm.core.normalise import company_key
from crm.customers.models import Contact
from crm.integrations.models import (
    CandidateStatus,
    DuplicateCandidate,
    DuplicateScan,
    JobStatus,
)
from crm.sales.models import Lead

BLOCK_CAP = 50
MIN_SCORE = 70
_LOW_64 = (1 << 64) - 1  # a pair of ids is held as one integer: left << 64 | right
#: new pairs one scan adds to the review queue, best first (the next scan adds the rest)
MAX_NEW_PAIRS = 10_000
CHUNK = 900
#: namesakes of a new lead whose companies the capture check compares (matches_for)
LEAD_NAMESAKES = 5_000


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
    company: Any  # account id (contacts) or company key (leads): PeopleScanner.company
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

Evidence = tuple[Hashable, ...]
Member = tuple[int, Evidence, Any]  # (id, evidence keys, company as stored)
Pair = tuple[int, int]


class PeopleScanner:
    """Contacts or leads: email / phone blind indexes, pinyin names, email aliases.

    A pair can only reach MIN_SCORE with a second key in common: the email (or its alias), the
    phone or the company (see score_pair). Each record's *evidence* is the set of those keys, so
    inside a block only records sharing evidence are paired and scored; namesakes with nothing
    else in common are never loaded or compared.

    One pass over every record in (pinyin, id) order, along the pinyin index, yields the pinyin
    blocks and collects the aliases' mailbox keys; the email and phone blocks come from
    their indexes (only keys held twice); the alias and reversed-name blocks from what the pass
    collected. Memory holds one block at a time, the aliases and the Latin two-word names.
    """

    record_type = "contact"
    company_field = "account_id"

    def __init__(self) -> None:
        # ids whose email alias differs from their email index: {id: alias index or ""}
        self.aliases: dict[int, str] = {}
        self.alias_groups: dict[str, list[int]] = defaultdict(list)
        self.reversed_names: dict[str, list[int]] = defaultdict(list)
        # members of the alias and reversed-name groups, seen during the pass
        self.seen: dict[int, Member] = {}

    def company(self, stored: Any) -> Any:
        """What "same company" compares: a contact's account id as is, a lead's company text by
        its key (阿里巴巴有限公司 = Alibaba Group Ltd.), the key the public capture matches on."""
        return company_key(stored)[0] if isinstance(stored, str) else stored

    def every(self) -> QuerySet[Any]:
        """All records of the tenant, deleted ones too (index-only key counts)."""
        return Contact.objects.all()

    def base(self) -> QuerySet[Any]:
        return self.every().filter(deleted_at__isnull=True)

    def person(self, row: dict[str, Any]) -> Person:
        company = self.company(row.get(self.company_field))
        return Person(
            row["id"],
            row["name"],
            row["name_key"],
            row["pinyin_key"],
            row["email_index"],
            row["phone_index"],
            # the mailbox: the stored key of an alias, a plain address's own index
            row["email_alias_index"] or row["email_index"],
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
        "email_alias_index",
        "city",
    )

    @property
    def evidence_columns(self) -> tuple[str, ...]:
        return ("email_index", "phone_index", self.company_field)

    def member(self, pk: int, values: Sequence[Any]) -> Member:
        """(id, evidence, company as stored). The evidence is a superset of score_pair's rule:
        keys a pair must share to score MIN_SCORE or more."""
        email_index, phone_index, company = values
        keys: list[Hashable] = []
        if email_index:
            keys.append(("mail", email_index))
        alias = self.aliases.get(pk)
        if alias and alias != email_index:
            keys.append(("mail", alias))
        if phone_index:
            keys.append(("phone", phone_index))
        folded = self.company(company)
        if folded not in (None, ""):
            keys.append(("company", folded))
        return (pk, tuple(keys), company)

    def load(self, ids: Iterable[int]) -> dict[int, Person]:
        out = {}
        cols = (*self.columns, self.company_field)
        for chunk in chunked(sorted(set(ids)), CHUNK):
            for row in self.base().filter(pk__in=chunk).values(*cols):
                out[row["id"]] = self.person(row)
        return out

    def load_members(self, ids: Iterable[int]) -> dict[int, Member]:
        out = {}
        for chunk in chunked(sorted(set(ids)), CHUNK):
            rows = self.base().filter(pk__in=chunk).values_list("id", *self.evidence_columns)
            for row in _raw(rows):
                out[row[0]] = self.member(row[0], row[1:])
        return out

    def sized(self, members: list[Member]) -> Iterator[list[Member]]:
        """A group of records sharing a key as blocks: whole up to BLOCK_CAP; above, narrowed
        to each company's first BLOCK_CAP records by id."""
        if len(members) < 2:
            return
        if len(members) <= BLOCK_CAP:
            yield members
            return
        by_company: dict[Any, list[Member]] = defaultdict(list)
        for member in members:
            if member[2] not in (None, ""):
                by_company[member[2]].append(member)
        yield from (same[:BLOCK_CAP] for same in by_company.values() if len(same) > 1)

    def exact_blocks(self, column: str) -> Iterator[list[Member]]:
        """Records sharing `column`: the keys held at least twice are counted over the index
        alone (deleted records too, so a superset), then their live records read in order."""
        held_twice = (
            self.every()
            .exclude(**{column: ""})
            .values(column)
            .annotate(n=Count("id"))
            .filter(n__gte=2)
            .values(column)
        )
        rows = (
            self.base()
            .filter(**{f"{column}__in": held_twice})
            .order_by(column, "id")
            .values_list(column, "id", *self.evidence_columns)
        )
        for _key, group in groupby(_raw(rows), key=itemgetter(0)):
            yield from self.sized([self.member(row[1], row[2:]) for row in group])

    def pass_blocks(self) -> Iterator[list[Member]]:
        """The pass over every record: pinyin blocks, and on the way email aliases (the stored
        mailbox keys: no email is decrypted) and Latin names written the other way round."""
        rows = (
            self.base()
            .order_by("pinyin_key", "id")
            .values_list(
                "pinyin_key",
                "id",
                "email_index",
                "phone_index",
                self.company_field,
                "email_alias_index",
                "name_key",
            )
        )
        for pinyin, group in groupby(_raw(rows), key=itemgetter(0)):
            members = []
            for _pinyin, pk, email_index, phone_index, company, mailbox, name_key in group:
                grouped = False
                if mailbox:
                    self.aliases[pk] = mailbox
                    self.alias_groups[mailbox].append(pk)
                    grouped = True
                parts = name_key.split()
                if len(parts) == 2 and name_key.isascii():
                    self.reversed_names[parts[1] + parts[0]].append(pk)
                    grouped = True
                member = self.member(pk, (email_index, phone_index, company))
                if grouped:
                    self.seen[pk] = member
                members.append(member)
            if pinyin:
                yield from self.sized(members)

    def streamed_blocks(self) -> Iterator[list[Member]]:
        """Email aliases and reversed Latin names: each key's records plus the records whose
        email index / pinyin is that key, the first BLOCK_CAP by id."""
        for groups, column in (
            (self.alias_groups, "email_index"),
            (self.reversed_names, "pinyin_key"),
        ):
            for chunk in chunked(sorted(groups), CHUNK):
                rows = self.base().filter(**{f"{column}__in": chunk}).values_list(column, "id")
                for key, pk in _raw(rows):
                    groups[key].append(pk)
            blocks = [sorted(set(ids))[:BLOCK_CAP] for ids in groups.values()]
            groups.clear()
            blocks = [ids for ids in blocks if len(ids) > 1]
            for batch in chunked(blocks, 500):
                missing = {pk for ids in batch for pk in ids if pk not in self.seen}
                loaded = self.load_members(missing)
                for ids in batch:
                    members = [self.seen.get(pk) or loaded.get(pk) for pk in ids]
                    yield [m for m in members if m is not None]
        self.seen.clear()

    def score(self, a: Person, b: Person) -> tuple[int, list[str]]:
        return score_pair(a, b)

    def blocks(self) -> Iterator[list[Member]]:
        yield from self.pass_blocks()  # first: it finds the aliases the evidence needs
        yield from self.exact_blocks("email_index")
        yield from self.exact_blocks("phone_index")
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
        "email_alias_index",
        "region",
    )

    def every(self) -> QuerySet[Any]:
        return Lead.objects.all()

    def person(self, row: dict[str, Any]) -> Person:
        return super().person({**row, "city": row.get("region", "")})


def _account_scanner() -> Any:
    """Names, phones and websites of companies: crm.integrations.dedupe_accounts (which builds
    on this module, hence imported here)."""
    from crm.integrations.dedupe_accounts import AccountScanner

    return AccountScanner()


SCANNERS: dict[str, Callable[[], Any]] = {
    "contact": PeopleScanner,
    "lead": LeadScanner,
    "account": _account_scanner,
}


def _raw(rows: QuerySet[Any]) -> Iterator[tuple[Any, ...]]:
    """A values_list query's rows, streamed (a server-side cursor where the database has one)."""
    return rows.iterator(chunk_size=10_000)


def chunked(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def block_pairs(block: list[Member]) -> Iterator[Pair]:
    """Pairs of a block that share evidence (every other pair of the block scores too low)."""
    if len(block) < 2:
        return
    sharing: dict[Hashable, list[int]] = defaultdict(list)
    for pk, keys, _company in block:
        for key in keys:
            sharing[key].append(pk)
    for ids in sharing.values():
        if len(ids) > 1:
            yield from combinations(sorted(set(ids)), 2)


def find_pairs(
    scanner: Any, known: Container[Pair] = (), most: int | None = None
) -> tuple[dict[Pair, tuple[int, list[str]]], int]:
    """Pairs at or above MIN_SCORE: ({(left, right): (score, reasons)}, how many there are).

    Every pair in `known` is returned; of the others, the `most` best (by score, then by the
    smaller ids), so that memory stays bounded however many pairs a tenant holds. Candidates
    are held as one integer per pair. A scanner with a `quick_score` (a score without reasons)
    is asked for the reasons of the returned pairs only.
    """
    candidates: set[int] = set()
    for block in scanner.blocks():
        candidates.update(left << 64 | right for left, right in block_pairs(block))
    quick = getattr(scanner, "quick_score", None)
    found: dict[Pair, tuple[int, list[str]]] = {}
    best: list[tuple[int, int, int, list[str]]] = []  # min-heap: (score, -left, -right, reasons)
    total = 0
    for packed in chunked(sorted(candidates), 20_000):
        chunk = [(p >> 64, p & _LOW_64) for p in packed]
        people = scanner.load(pk for pair in chunk for pk in pair)
        for left, right in chunk:
            a, b = people.get(left), people.get(right)
            if a is None or b is None:
                continue
            score, reasons = (quick(a, b), []) if quick else scanner.score(a, b)
            if score < MIN_SCORE:
                continue
            total += 1
            if (left, right) in known or most is None:
                found[(left, right)] = (score, reasons)
                continue
            heapq.heappush(best, (score, -left, -right, reasons))
            if len(best) > most:
                heapq.heappop(best)
    for score, left, right, reasons in best:
        found[(-left, -right)] = (score, reasons)
    if quick:
        for chunk in chunked(list(found), 20_000):
            records = scanner.load(pk for pair in chunk for pk in pair)
            for pair in chunk:
                found[pair] = scanner.score(records[pair[0]], records[pair[1]])
    return found, total


def scan_run(scan_id: int) -> DuplicateScan:
    """Run a scan: find pairs, add new ones to the queue, refresh open ones."""
    scan = DuplicateScan.objects.get(pk=scan_id)
    started = time.monotonic()
    DuplicateScan.objects.filter(pk=scan.pk).update(
        status=JobStatus.RUNNING, started_at=timezone.now()
    )
    scanner = SCANNERS[scan.record_type]()
    known = {
        (left, right): (pk, status)
        for pk, left, right, status in DuplicateCandidate.objects.filter(
            record_type=scan.record_type
        ).values_list("id", "left_id", "right_id", "status")
    }
    found, total = find_pairs(scanner, known, MAX_NEW_PAIRS)
    new = []
    refreshed = []
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
            refreshed.append(
                DuplicateCandidate(
                    pk=existing[0],
                    tenant_id=scan.tenant_id,
                    score=score,
                    reasons=reasons,
                    scan=scan,
                )
            )
    message = ""
    new_pairs = total - sum(1 for pair in found if pair in known)
    if new_pairs > len(new):
        # a queue nobody can work through helps nobody: the likeliest first, the rest next time
        message = _(
            "%(found)s new pairs found; the %(queued)s likeliest were added to the queue. "
            "Scan again after reviewing them to add the next ones."
        ) % {"found": new_pairs, "queued": len(new)}
    DuplicateCandidate.objects.bulk_update(refreshed, ["score", "reasons", "scan"], batch_size=500)
    DuplicateCandidate.objects.bulk_create(new, batch_size=1000, ignore_conflicts=True)
    scanned = scanner.base().count()
    DuplicateScan.objects.filter(pk=scan.pk).update(
        status=JobStatus.DONE,
        finished_at=timezone.now(),
        scanned=scanned,
        pairs_found=total,
        seconds=round(time.monotonic() - started, 3),
        message=message,
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
    if record_type == "account":
        return scanner.matches(values, limit)
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
    alias_index = mailbox_key(str(values.get("email", "")))
    company = scanner.company(values.get(scanner.company_field))
    # The scan's blocks, as lookups: the email, the email without its +tag (a@x.com stored,
    # a+crm@x.com given), the mailbox of an alias on record (a+news@x.com stored, a@x.com or
    # a+crm@x.com given), the phone, the name's pinyin in either order (Meimei Han / Han
    # Meimei) and, for a contact, the people of the same account (王 伟 / 王伟 at one firm,
    # where a common name gives more namesakes than a lookup keeps).
    lookups = [
        ("email_index", email_index),
        ("email_index", alias_index),
        ("email_alias_index", alias_index),
        ("phone_index", phone_index),
        *(("pinyin_key", key) for key in sorted(name_variants(holder.name_key, holder.pinyin_key))),
    ]
    if record_type == "contact" and company:
        lookups.append((scanner.company_field, company))
    # one indexed lookup per key: SQLite answers them ORed together by reading every row
    # (150 ms in a tenant of 500,000 contacts, on every New contact form)
    ids: set[int] = set()
    for column, key in dict.fromkeys(lookups):
        if key:
            ids.update(scanner.base().filter(**{column: key}).values_list("id", flat=True)[:200])
    if record_type == "lead" and company:
        # a lead's company is free text with no index: the namesakes' companies are read and
        # compared by key, so the 王芳 at 阿里巴巴集团 is found among a thousand other 王芳s
        namesakes = scanner.base().filter(
            pinyin_key__in=sorted(name_variants(holder.name_key, holder.pinyin_key))
        )
        for pk, stored in namesakes.values_list("id", "company")[:LEAD_NAMESAKES]:
            if scanner.company(stored) == company:
                ids.add(pk)
    probe = Person(
        0,
        str(values.get("name", "")),
        holder.name_key,
        holder.pinyin_key,
        email_index,
        phone_index,
        alias_index,
        company,
        str(values.get("city", "")),
    )
    return best_matches(probe, scanner.load(ids), score_pair, limit)


def best_matches(
    probe: Any,
    records: dict[int, Any],
    score: Callable[[Any, Any], tuple[int, list[str]]],
    limit: int,
) -> list[tuple[int, int, list[str]]]:
    """(id, score, reasons) of the records scoring MIN_SCORE or more against `probe`, best first."""
    out = []
    for pk, record in records.items():
        points, reasons = score(probe, record)
        if points >= MIN_SCORE:
            out.append((pk, points, reasons))
    return sorted(out, key=lambda t: -t[1])[:limit]
