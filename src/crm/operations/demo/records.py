"""The rows of one demo tenant: accounts, contacts, leads, opportunities with their stage history,
activities, tasks and two years of orders, generated from a seeded random and bulk loaded.

Sizes follow `Scale` (every table in proportion to the number of contacts). The shapes are meant
to look like a real sales team's data: customers buy again at their own pace and some stop,
November and June sell more, February less; opportunities move forward through the stages at
believable speeds and some are lost on the way; some tasks are overdue and some due today.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from crm.activities.models import Activity, Task
from crm.core import crypto
from crm.core.company_keys import account_company_keys
from crm.core.mailbox import stored_email_alias
from crm.customers.models import Account, Contact
from crm.operations.demo import vocab
from crm.operations.demo.bulk import Inserter, Progress, TableWriter
from crm.operations.demo.generators import (
    EN,
    ZH,
    Companies,
    Company,
    Emails,
    NameKeys,
    People,
    Phones,
    Places,
    wechat_id,
)
from crm.operations.demo.twins import Entered, Twins, other_legal_form
from crm.sales.models import Lead, Opportunity, Order, OrderLine, StageChange

DAY = 86400.0
HOUR = 3600.0
BASE_CONTACTS = 5000
# Per 5,000 contacts (the default demo): the issue's ~2,000 accounts, ~3,000 leads, ~1,500
# opportunities; orders come out at about two per contact from the purchase model below.
PER_BASE = {"accounts": 2000, "leads": 3000, "opportunities": 1500}

# Month multipliers of order volume (China: Spring Festival dip in February, 618 in June,
# Singles' Day in November, year-end buying in December).
MONTH_SEASON = (1.05, 0.6, 0.95, 0.95, 1.0, 1.25, 0.9, 0.9, 1.0, 0.85, 1.55, 1.3)
WEEKDAY_SEASON = (1.0, 1.05, 1.05, 1.0, 0.95, 0.45, 0.35)  # B2B: quiet weekends

# Median days in each open stage, and the chance of moving on (else lost) from it.
STAGE_DWELL_DAYS = (10.0, 16.0, 22.0, 14.0)
STAGE_ADVANCE = (0.8, 0.75, 0.7, 0.75)

LEAD_SOURCE_VALUE = {
    "referral": 1.0,
    "partner": 0.85,
    "event": 0.7,
    "webform": 0.6,
    "ads": 0.4,
    "cold": 0.2,
}
LEAD_WEIGHTS = {
    "source": 30.0,
    "completeness": 25.0,
    "engagement": 20.0,
    "recency": 15.0,
    "contact_count": 10.0,
}


@dataclass(frozen=True)
class Scale:
    contacts: int

    def of(self, name: str) -> int:
        return max(1, round(PER_BASE[name] * self.contacts / BASE_CONTACTS))


@dataclass(frozen=True)
class TenantStyle:
    """What makes a tenant's data Chinese or English."""

    language: str  # ZH or EN: labels (cities, industries, subjects)
    time_zone: str
    currency: str
    currency_per_cny: float  # amounts are drawn in CNY and divided by this
    abroad_share: float  # share of customers outside China
    english_in_china: float  # share of companies in China with English names


@dataclass(frozen=True)
class Owner:
    membership_id: int
    team_id: int | None
    weight: float


@dataclass
class StageInfo:
    ids: list[int]  # open stages, in order
    probabilities: list[int]
    won_id: int
    lost_id: int


@dataclass
class ProductInfo:
    id: int
    name: str
    category: str
    cents: int  # unit price in the tenant's currency, in cents
    max_quantity: int


@dataclass
class TenantData:
    """Generates and loads the rows of one tenant (call inside its tenant context)."""

    tenant_id: int
    style: TenantStyle
    scale: Scale
    owners: Sequence[Owner]
    team_ids: Sequence[int]
    stages: StageInfo
    pipeline_id: int
    products: Sequence[ProductInfo]
    tag_ids: Sequence[int]
    seed: str
    progress: Progress
    now: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        # Demo data, not secrets: a seeded generator is what makes the demo reproducible.
        self.rng = random.Random(self.seed)  # noqa: S311  # nosec B311
        self.inserter = Inserter()
        self.keys = NameKeys()
        self.people = People(self.rng)
        self.places = Places(self.rng, self.style.abroad_share)
        self.companies = Companies(self.rng)
        self.phones = Phones(self.rng)
        self.emails = Emails(self.rng)
        self.zone = ZoneInfo(self.style.time_zone)
        self.zh = self.style.language == ZH
        cumulative = 0.0
        self._owner_cum: list[float] = []
        for owner in self.owners:
            cumulative += owner.weight
            self._owner_cum.append(cumulative)
        self._team_of = {o.membership_id: o.team_id for o in self.owners}
        local_now = datetime.fromtimestamp(self.now, self.zone)
        offset = local_now.utcoffset()
        self.utc_offset = offset.total_seconds() if offset is not None else 0.0
        midnight = local_now.replace(hour=0, minute=0, second=0, microsecond=0)
        self.today_start = midnight.timestamp()
        # Per-day order intensity over the last ~3 years, for thinning the purchase process.
        self._season_start = self.now - 1100 * DAY
        self._season = []
        for day in range(1102):
            moment = datetime.fromtimestamp(self._season_start + day * DAY, self.zone)
            self._season.append(MONTH_SEASON[moment.month - 1] * WEEKDAY_SEASON[moment.weekday()])
        self._season_max = max(self._season)
        self._order_seq = 0
        self.rows = 0
        # What later tables need of earlier ones.
        self.accounts: list[tuple[int, Company, int]] = []  # (id, company, owner)
        self.account_created: list[float] = []
        self.account_contacts: dict[int, list[int]] = {}  # account index -> contact indexes
        self.contacts: list[tuple[int, int, int]] = []  # (id, account index or -1, owner)
        self.contact_created: list[float] = []
        self.converted_leads: list[int] = []

    # --- helpers ---------------------------------------------------------------------------------

    def owner(self) -> int:
        return self.rng.choices(self.owners, cum_weights=self._owner_cum)[0].membership_id

    def between(self, start: float, end: float) -> float:
        return start + (end - start) * self.rng.random() if end > start else start

    def office(self, ts: float) -> float:
        """A moment in office hours (09:00-18:30, tenant time) on the day of `ts`."""
        local = ts + self.utc_offset
        day = local - local % DAY
        return day + self.between(9 * HOUR, 18.5 * HOUR) - self.utc_offset

    def office_past(self, ts: float) -> float:
        return min(self.office(ts), self.now)

    def label(self, pair: tuple[str, str]) -> str:
        return pair[0] if self.zh else pair[1]

    def city_label(self, company: Company) -> str:
        city = company.city
        return city.zh if self.zh and city.country == "CN" else city.en

    def region_label(self, company: Company) -> str:
        return company.city.region_zh if self.zh else company.city.region_en

    def money(self, cny: float) -> Decimal:
        """An amount drawn in CNY, in the tenant's currency, rounded to a believable step."""
        value = cny / self.style.currency_per_cny
        step = 100 if value >= 10_000 else 10 if value >= 500 else 1
        return Decimal(max(step, round(value / step) * step))

    def local_date(self, ts: float) -> date:
        return datetime.fromtimestamp(ts, self.zone).date()

    def company(self) -> Company:
        city = self.places.city()
        english = not self.zh or self.rng.random() < self.style.english_in_china
        return self.companies.company(city, english=english)

    def writers(self) -> dict[str, TableWriter]:
        self.inserter.start()

        def table(model: Any, fields: Sequence[str], label: str, *parents: str) -> TableWriter:
            return TableWriter(
                model,
                fields,
                self.progress,
                label=label,
                parents=[w[name] for name in parents],
                inserter=self.inserter,
            )

        # Parents are flushed before their children, so foreign keys hold at every commit.
        w: dict[str, TableWriter] = {}
        w["accounts"] = table(Account, ACCOUNT_FIELDS, "accounts")
        w["account_tags"] = table(
            Account.tags.through, tag_link("account"), "account tags", "accounts"
        )
        w["contacts"] = table(Contact, CONTACT_FIELDS, "contacts", "accounts")
        w["contact_tags"] = table(
            Contact.tags.through, tag_link("contact"), "contact tags", "contacts"
        )
        w["leads"] = table(Lead, LEAD_FIELDS, "leads", "contacts")
        w["opportunities"] = table(Opportunity, OPPORTUNITY_FIELDS, "opportunities", "leads")
        w["stage_changes"] = table(
            StageChange, STAGE_CHANGE_FIELDS, "stage changes", "opportunities"
        )
        w["orders"] = table(Order, ORDER_FIELDS, "orders", "contacts", "opportunities")
        w["order_lines"] = table(OrderLine, ORDER_LINE_FIELDS, "order lines", "orders")
        w["activities"] = table(Activity, ACTIVITY_FIELDS, "activities")
        w["tasks"] = table(Task, TASK_FIELDS, "tasks")
        return w

    # --- the load --------------------------------------------------------------------------------

    def load(self, contacts: int) -> dict[str, int]:
        w = self.writers()
        phase = self.progress.phase
        steps = (
            ("accounts", self.load_accounts),
            ("contacts, their activities and orders", lambda w: self.load_contacts(w, contacts)),
            ("leads with activities and tasks", self.load_leads),
            ("opportunities with stage history", self.load_opportunities),
        )
        for name, step in steps:
            with phase(name):
                step(w)
                for writer in w.values():
                    writer.flush()
        self.inserter.finish()
        for writer in w.values():
            writer.reset_sequence()
        return {name: writer.written for name, writer in w.items()}

    def load_accounts(self, w: dict[str, TableWriter]) -> None:
        rng = self.rng
        sizes_cum = list(_accumulate(vocab.COMPANY_SIZE_WEIGHTS))
        sources_cum = list(_accumulate(vocab.SOURCE_WEIGHTS))
        tid = self.tenant_id
        for _ in range(self.scale.of("accounts")):
            company = self.company()
            pk = w["accounts"].new_id()
            owner = self.owner()
            created = self.now - self.between(20 * DAY, 1100 * DAY)
            name_key, pinyin_key, initials_key = self.keys(company.name)
            industry = company.industry.zh if self.zh else company.industry.en
            row = (
                pk,
                tid,
                created,
                self.between(created, self.now),
                company.name,
                name_key,
                pinyin_key,
                initials_key,
                industry,
                rng.choices(vocab.COMPANY_SIZES, cum_weights=sizes_cum)[0],
                self.region_label(company),
                self.city_label(company),
                rng.choices(vocab.SOURCES, cum_weights=sources_cum)[0],
                f"https://www.{company.domain}",
                self.phones.landline(company.city),
                owner,
            )
            website, phone = row[-3], row[-2]
            w["accounts"].add((*row, *account_company_keys(company.name, phone, website)))
            if self.tag_ids and rng.random() < 0.08:
                tag_pk = w["account_tags"].new_id()
                w["account_tags"].add((tag_pk, pk, rng.choice(self.tag_ids)))
            self.accounts.append((pk, company, owner))
            self.account_created.append(created)

    def load_contacts(self, w: dict[str, TableWriter], count: int) -> None:
        rng = self.rng
        tid = self.tenant_id
        n_accounts = len(self.accounts)
        channels = (
            (("wechat", "phone", "email", "sms"), (40, 70, 90, 100))
            if self.zh
            else (("email", "phone", "sms", "wechat"), (60, 88, 97, 100))
        )
        twins = Twins(rng)  # people entered twice (crm.operations.demo.twins)
        for index in range(count):
            pk = w["contacts"].new_id()
            twin = twins.pick()
            if twin is not None:
                account_index = twin.place
                _acc_pk, company, owner = self.accounts[account_index]
                account_pk: int | None = _acc_pk
                since = self.account_created[account_index]
                created = since + (self.now - DAY - since) * rng.random()
                self.account_contacts.setdefault(account_index, []).append(index)
            elif rng.random() < 0.92:
                account_index = min(n_accounts - 1, int(n_accounts * rng.random() ** 1.25))
                _acc_pk, company, owner = self.accounts[account_index]
                account_pk = _acc_pk
                if rng.random() < 0.1:
                    owner = self.owner()
                # Most people are entered soon after their company, a few much later.
                since = self.account_created[account_index]
                created = since + (self.now - DAY - since) * rng.random() ** 2
                self.account_contacts.setdefault(account_index, []).append(index)
            else:
                account_index = -1
                company = self.company()
                account_pk = None
                owner = self.owner()
                created = self.now - self.between(DAY, 900 * DAY)
            if twin is not None:
                again = twins.again(twin)
                person, email, phone = again.person, again.email, again.phone
                culture = person.culture
            else:
                culture = (
                    company.culture if rng.random() < 0.9 else (EN if company.culture == ZH else ZH)
                )
                person = self.people.person(culture)
                country = company.city.country
                email = self.emails.email(person, company if account_pk else None, country)
                email = email if rng.random() < 0.92 else ""
                phone_country = (
                    country if culture == company.culture else ("CN" if culture == ZH else "US")
                )
                phone = self.phones.mobile(phone_country) if rng.random() < 0.88 else ""
                if account_index >= 0:  # a twin is entered at the same account
                    twins.remember(Entered(person, email, phone, account_index, None))
            wechat = wechat_id(rng, person)
            name_key, pinyin_key, initials_key = self.keys(person.name)
            last_activity = self.contact_activities(w, pk, owner, created)
            if rng.random() < 0.12:
                self.task(w, "contact", pk, owner, created, closed=False)
            w["contacts"].add(
                (
                    pk,
                    tid,
                    created,
                    max(created, last_activity or created),
                    account_pk,
                    person.name,
                    name_key,
                    pinyin_key,
                    initials_key,
                    self.people.title(culture) if rng.random() < 0.85 else "",
                    crypto.encrypt(email) if email else "",
                    crypto.blind_index("email", email) if email else "",
                    stored_email_alias(email) if email else None,
                    crypto.encrypt(phone) if phone else "",
                    crypto.blind_index("phone", phone) if phone else "",
                    wechat,
                    self.city_label(company),
                    rng.choices(channels[0], cum_weights=channels[1])[0],
                    bool(email) and rng.random() < 0.6,
                    bool(phone) and rng.random() < 0.4,
                    bool(phone) and rng.random() < 0.5,
                    bool(wechat) and rng.random() < 0.7,
                    owner,
                    last_activity if last_activity else None,
                )
            )
            if self.tag_ids and rng.random() < 0.06:
                tag_pk = w["contact_tags"].new_id()
                w["contact_tags"].add((tag_pk, pk, rng.choice(self.tag_ids)))
            self.contacts.append((pk, account_index, owner))
            self.contact_created.append(created)
            self.purchases(w, pk, account_pk, owner, created)

    # --- activities and tasks ----------------------------------------------------------------

    def activity(
        self,
        w: dict[str, TableWriter],
        record_type: str,
        record_id: int,
        owner: int,
        at: float,
        kind: str = "",
    ) -> None:
        rng = self.rng
        if not kind:
            kind = rng.choices(ACTIVITY_KINDS, cum_weights=ACTIVITY_KIND_CUM)[0]
        subject = self.label(rng.choice(vocab.ACTIVITY_SUBJECTS[kind]))
        outcome = self.label(rng.choice(vocab.ACTIVITY_OUTCOMES))
        duration = None
        if kind in ("call", "meeting", "visit"):
            duration = (
                rng.choice((5, 10, 15, 20, 30))
                if kind == "call"
                else rng.choice((30, 45, 60, 90, 120))
            )
        body = f"{subject}：{outcome}。" if self.zh else f"{subject}: {outcome.lower()}."  # noqa: RUF001
        pk = w["activities"].new_id()
        moment = self.office_past(at)
        w["activities"].add(
            (pk, self.tenant_id, moment, moment, kind, subject, body, moment, outcome,
             duration, record_type, record_id, owner)
        )  # fmt: skip

    def contact_activities(
        self, w: dict[str, TableWriter], contact_pk: int, owner: int, created: float
    ) -> float | None:
        count = self.rng.choice((0, 1, 1, 2, 2, 3))
        last: float | None = None
        for _ in range(count):
            at = self.between(created, self.now)
            self.activity(w, "contact", contact_pk, owner, at)
            last = at if last is None or at > last else last
        return last

    def task(
        self,
        w: dict[str, TableWriter],
        record_type: str,
        record_id: int,
        owner: int,
        created: float,
        *,
        closed: bool,
    ) -> None:
        """A task: done if its record is closed; otherwise due today, overdue, done or upcoming."""
        rng = self.rng
        roll = 0.5 if closed else rng.random()
        status = "open"
        completed: float | None = None
        if roll < 0.1:  # due today
            due = self.today_start + self.between(9 * HOUR, 18 * HOUR)
        elif roll < 0.18:  # overdue
            due = self.office(self.now - self.between(DAY, 14 * DAY))
        elif roll < 0.55:  # in the past and done (or dropped)
            due = self.office(self.now - self.between(DAY, 600 * DAY))
            status = "done" if rng.random() < 0.93 else "cancelled"
            completed = due - self.between(0, 2 * DAY) if status == "done" else None
        else:  # upcoming
            due = self.office(self.now + self.between(DAY, 21 * DAY))
        created = min(created, due - DAY)
        reminder = due - 30 * 60
        # Reminders of the past count as sent, so starting the worker does not mail them all.
        sent = reminder if (reminder < self.now or status != "open") else None
        pk = w["tasks"].new_id()
        w["tasks"].add(
            (pk, self.tenant_id, created, completed or created,
             self.label(rng.choice(vocab.TASK_TITLES)), "", due, status, owner,
             reminder, sent if sent else None, completed if completed else None,
             record_type, record_id)
        )  # fmt: skip

    # --- orders ------------------------------------------------------------------------------

    def _season_at(self, ts: float) -> float:
        index = int((ts - self._season_start) // DAY)
        return self._season[min(max(index, 0), len(self._season) - 1)]

    def purchases(
        self,
        w: dict[str, TableWriter],
        contact_pk: int,
        account_pk: int | None,
        owner: int,
        created: float,
    ) -> None:
        """Orders of one contact: a Pareto/NBD-like buyer (own rate, may stop), seasonal."""
        rng = self.rng
        if rng.random() >= (0.62 if account_pk else 0.4):
            return
        start = max(created, self.now - 730 * DAY)
        # Heterogeneous rates and drop-out chances as in BG/NBD (about two orders per contact).
        rate = rng.gammavariate(0.6, 1 / 26)  # orders per day
        stop = rng.betavariate(0.8, 2.4)  # chance to stop buying after each order
        favourite = rng.randrange(len(self.products))
        t = start + self.between(0, 20 * DAY)
        bound = rate * self._season_max
        first = True
        while t < self.now:
            if first or rng.random() < self._season_at(t) / self._season_max:
                self.order(w, contact_pk, account_pk, owner, t, favourite)
                if not first and rng.random() < stop:
                    return
                first = False
            if bound <= 0:
                return
            t += rng.expovariate(bound) * DAY

    def order(
        self,
        w: dict[str, TableWriter],
        contact_pk: int | None,
        account_pk: int | None,
        owner: int,
        at: float,
        favourite: int,
        *,
        opportunity_pk: int | None = None,
        amount: Decimal | None = None,
        description: str = "",
    ) -> None:
        rng = self.rng
        pk = w["orders"].new_id()
        self._order_seq += 1
        moment = at
        number = f"SO{self.local_date(at):%y%m}{self._order_seq:07d}"
        lines: list[tuple[Any, ...]] = []
        total = Decimal(0)
        if amount is not None:
            product = self.products[favourite]
            line_pk = w["order_lines"].new_id()
            lines.append(
                (line_pk, self.tenant_id, moment, moment, pk, product.id,
                 description[:200], product.category, Decimal(1), amount, amount)
            )  # fmt: skip
            total = amount
        else:
            n_lines = 1 if rng.random() < 0.5 else 2 if rng.random() < 0.6 else 3
            for line_no in range(n_lines):
                product = self.products[
                    favourite
                    if line_no == 0 and rng.random() < 0.7
                    else rng.randrange(len(self.products))
                ]
                quantity = 1 + int(rng.random() ** 2 * product.max_quantity)
                discount = rng.choice((100, 100, 100, 95, 90, 85))
                cents = product.cents * discount // 100
                unit = Decimal(cents).scaleb(-2)
                line_amount = Decimal(cents * quantity).scaleb(-2)
                total += line_amount
                line_pk = w["order_lines"].new_id()
                lines.append(
                    (line_pk, self.tenant_id, moment, moment, pk, product.id, product.name,
                     product.category, Decimal(quantity), unit, line_amount)
                )  # fmt: skip
        age = self.now - at
        if age < 3 * DAY:
            status = "pending" if rng.random() < 0.5 else "paid"
        else:
            roll = rng.random()
            status = (
                "shipped" if roll < 0.55 else "paid" if roll < 0.93 else
                "cancelled" if roll < 0.97 else "refunded"
            )  # fmt: skip
        w["orders"].add(
            (pk, self.tenant_id, moment, moment, number, contact_pk, account_pk, opportunity_pk,
             moment, status, total, self.style.currency, owner)
        )  # fmt: skip
        for line in lines:
            w["order_lines"].add(line)

    # --- leads -------------------------------------------------------------------------------

    def load_leads(self, w: dict[str, TableWriter]) -> None:
        rng = self.rng
        tid = self.tenant_id
        sources_cum = list(_accumulate(vocab.SOURCE_WEIGHTS))
        twins = Twins(rng)  # people entered twice (crm.operations.demo.twins)
        for _ in range(self.scale.of("leads")):
            pk = w["leads"].new_id()
            created = self.now - 730 * DAY * rng.random() ** 1.7 - self.between(0, 6 * HOUR)
            age_days = (self.now - created) / DAY
            status = rng.choices(LEAD_STATUSES, cum_weights=_lead_status_cum(age_days))[0]
            twin = twins.pick()
            if twin is not None and twin.company is not None:
                again = twins.again(twin)
                person, email, phone = again.person, again.email, again.phone
                company, company_name = twin.company, other_legal_form(twin.company.name)
            else:
                company = self.company()
                company_name = company.name
                person = self.people.person(company.culture)
                has_email = rng.random() < 0.85
                has_phone = rng.random() < 0.8
                email = (
                    self.emails.email(person, company, company.city.country) if has_email else ""
                )
                phone = self.phones.mobile(company.city.country) if has_phone else ""
                twins.remember(Entered(person, email, phone, -1, company))
            culture = company.culture
            has_email, has_phone = bool(email), bool(phone)
            title = self.people.title(culture) if rng.random() < 0.7 else ""
            has_company = rng.random() < 0.9
            source = rng.choices(vocab.SOURCES, cum_weights=sources_cum)[0]
            contact_count = 0 if status == "new" else rng.randint(1, 8)
            last_interaction: float | None = None
            if status != "new":
                last_interaction = self.between(created, min(self.now, created + 45 * DAY))
            score, reasons = lead_score(
                source=source,
                filled=(has_email, has_phone, has_company, bool(title), True),
                inquiries=rng.randint(1, 4),
                days_since=(self.now - (last_interaction or created)) / DAY,
                contact_count=contact_count,
                noise=rng.gauss(0, 6),
            )
            priority = "high" if score >= 70 else "medium" if score >= 40 else "low"
            owner: int | None = self.owner()
            team = self._team_of.get(owner) if owner else None
            if status == "new" and rng.random() < 0.4:
                owner = None
                team = rng.choice(self.team_ids) if self.team_ids else None
            sla = {"high": 4 * HOUR, "medium": 24 * HOUR, "low": 72 * HOUR}[priority]
            converted_contact = converted_account = None
            converted_at: float | None = None
            if status == "converted" and self.contacts:
                c_pk, c_account, _c_owner = self.contacts[rng.randrange(len(self.contacts))]
                converted_contact = c_pk
                converted_account = self.accounts[c_account][0] if c_account >= 0 else None
                converted_at = min(self.now, created + self.between(DAY, 40 * DAY))
                self.converted_leads.append(pk)
            name_key, pinyin_key, initials_key = self.keys(person.name)
            if last_interaction is not None and owner is not None:
                for _i in range(rng.randint(1, 3)):
                    kind = rng.choice(("call", "email", "call", "meeting"))
                    self.activity(
                        w, "lead", pk, owner, self.between(created, last_interaction), kind
                    )
            if status in ("new", "working") and owner is not None and rng.random() < 0.5:
                self.task(w, "lead", pk, owner, created, closed=False)
            w["leads"].add(
                (
                    pk,
                    tid,
                    created,
                    last_interaction or created,
                    person.name,
                    name_key,
                    pinyin_key,
                    initials_key,
                    company_name if has_company else "",
                    title,
                    crypto.encrypt(email) if email else "",
                    crypto.blind_index("email", email) if email else "",
                    stored_email_alias(email) if email else None,
                    crypto.encrypt(phone) if phone else "",
                    crypto.blind_index("phone", phone) if phone else "",
                    source,
                    self.region_label(company),
                    status,
                    score,
                    reasons,
                    priority,
                    owner,
                    team,
                    created + sla,
                    last_interaction if last_interaction else None,
                    contact_count,
                    rng.random() < 0.6,
                    "",
                    converted_contact,
                    converted_account,
                    converted_at if converted_at else None,
                )
            )

    # --- opportunities -----------------------------------------------------------------------

    def load_opportunities(self, w: dict[str, TableWriter]) -> None:
        rng = self.rng
        tid = self.tenant_id
        stages = self.stages
        n_accounts = len(self.accounts)
        for _ in range(self.scale.of("opportunities")):
            pk = w["opportunities"].new_id()
            account_index = min(n_accounts - 1, int(n_accounts * rng.random() ** 1.4))
            account_pk, company, owner = self.accounts[account_index]
            members = self.account_contacts.get(account_index)
            contact_pk = self.contacts[rng.choice(members)][0] if members else None
            solution = rng.choice(vocab.SOLUTIONS)
            amount = self.money(solution.median * 1000 * rng.lognormvariate(0, 0.55))
            name = (
                f"{company.short} · {solution.zh}"
                if self.zh
                else f"{company.short} – {solution.en}"  # noqa: RUF001
            )
            # Skewed to recent months, so a good share of deals is still open.
            created = self.office_past(self.now - 720 * DAY * rng.random() ** 1.5 - HOUR)
            created = max(created, self.account_created[account_index])
            # Walk the stages: dwell, then move on or lose the deal, until today.
            t = created
            stage_index = 0
            path: list[tuple[int | None, int, float]] = [(None, stages.ids[0], t)]
            closed_at: float | None = None
            final = stages.ids[0]
            while True:
                dwell = STAGE_DWELL_DAYS[stage_index] * DAY * rng.lognormvariate(0, 0.6)
                if t + dwell > self.now:
                    break
                t = max(self.office(t + dwell), t + HOUR)
                if t > self.now:
                    break
                current = stages.ids[stage_index]
                if rng.random() >= STAGE_ADVANCE[stage_index]:
                    path.append((current, stages.lost_id, t))
                    final, closed_at = stages.lost_id, t
                    break
                if stage_index + 1 == len(stages.ids):
                    path.append((current, stages.won_id, t))
                    final, closed_at = stages.won_id, t
                    break
                stage_index += 1
                path.append((current, stages.ids[stage_index], t))
                final = stages.ids[stage_index]
            if closed_at is None:
                probability = stages.probabilities[stage_index]
                remaining = sum(STAGE_DWELL_DAYS[stage_index:]) * DAY
                expected = self.local_date(max(path[-1][2] + remaining, self.now + 3 * DAY))
            else:
                probability = 100 if final == stages.won_id else 0
                expected = self.local_date(closed_at)
            stage_entered = path[-1][2]
            w["opportunities"].add(
                (pk, tid, created, stage_entered, name, account_pk, contact_pk,
                 rng.choice(self.converted_leads) if self.converted_leads and rng.random() < 0.2
                 else None,
                 self.pipeline_id, final, amount, self.style.currency, probability, expected,
                 owner, stage_entered, closed_at if closed_at else None)
            )  # fmt: skip
            for from_stage, to_stage, at in path:
                change_pk = w["stage_changes"].new_id()
                moment = at
                w["stage_changes"].add(
                    (
                        change_pk,
                        tid,
                        moment,
                        moment,
                        pk,
                        from_stage,
                        to_stage,
                        moment,
                        owner,
                        amount,
                    )
                )
            # One or two touches per stage visited: calls early, meetings and visits later.
            for step, (_from, _to, at) in enumerate(path):
                end = path[step + 1][2] if step + 1 < len(path) else (closed_at or self.now)
                if _to == stages.lost_id or _to == stages.won_id:
                    continue
                for _i in range(rng.choice((1, 1, 2))):
                    kind = ("call", "email", "meeting", "visit")[min(step, 3)]
                    self.activity(w, "opportunity", pk, owner, self.between(at, end), kind)
            if closed_at is None or rng.random() < 0.5:
                self.task(w, "opportunity", pk, owner, created, closed=closed_at is not None)
            if final == stages.won_id and closed_at is not None:
                at = min(self.now - HOUR, closed_at + self.between(0, 5 * DAY))
                self.order(
                    w, contact_pk, account_pk, owner, at, rng.randrange(len(self.products)),
                    opportunity_pk=pk, amount=amount, description=name,
                )  # fmt: skip


# --- columns, in the order of the row tuples (each row starts with its id) ------------------------

ACCOUNT_FIELDS = (
    "tenant_id", "created_at", "updated_at", "name", "name_key", "pinyin_key", "initials_key",
    "industry", "size", "region", "city", "source", "website", "phone", "owner_id",
    "core_name_key", "phone_key", "website_key",
)  # fmt: skip
CONTACT_FIELDS = (
    "tenant_id", "created_at", "updated_at", "account_id", "name", "name_key", "pinyin_key",
    "initials_key", "title", "email", "email_index", "email_alias_index", "phone", "phone_index",
    "wechat", "city",
    "preferred_channel", "consent_email", "consent_sms", "consent_phone", "consent_wechat",
    "owner_id", "last_activity_at",
)  # fmt: skip
LEAD_FIELDS = (
    "tenant_id", "created_at", "updated_at", "name", "name_key", "pinyin_key", "initials_key",
    "company", "title", "email", "email_index", "email_alias_index", "phone", "phone_index",
    "source", "region",
    "status", "score", "score_reasons", "priority", "owner_id", "team_id",
    "first_response_due_at", "last_interaction_at", "contact_count", "consent", "notes",
    "converted_contact_id", "converted_account_id", "converted_at",
)  # fmt: skip
OPPORTUNITY_FIELDS = (
    "tenant_id", "created_at", "updated_at", "name", "account_id", "contact_id", "lead_id",
    "pipeline_id", "stage_id", "amount", "currency", "probability", "expected_close_date",
    "owner_id", "stage_entered_at", "closed_at",
)  # fmt: skip
STAGE_CHANGE_FIELDS = (
    "tenant_id", "created_at", "updated_at", "opportunity_id", "from_stage_id", "to_stage_id",
    "at", "by_id", "amount",
)  # fmt: skip
ORDER_FIELDS = (
    "tenant_id", "created_at", "updated_at", "number", "contact_id", "account_id",
    "opportunity_id", "ordered_at", "status", "total", "currency", "owner_id",
)  # fmt: skip
ORDER_LINE_FIELDS = (
    "tenant_id", "created_at", "updated_at", "order_id", "product_id", "description",
    "category", "quantity", "unit_price", "amount",
)  # fmt: skip
ACTIVITY_FIELDS = (
    "tenant_id", "created_at", "updated_at", "kind", "subject", "body", "at", "outcome",
    "duration_minutes", "record_type", "record_id", "owner_id",
)  # fmt: skip
TASK_FIELDS = (
    "tenant_id", "created_at", "updated_at", "title", "notes", "due_at", "status",
    "assignee_id", "reminder_at", "reminder_sent_at", "completed_at", "record_type", "record_id",
)  # fmt: skip

ACTIVITY_KINDS = tuple(vocab.ACTIVITY_KIND_WEIGHTS)


def tag_link(owner: str) -> tuple[str, str]:
    return (f"{owner}_id", "tag_id")


ACTIVITY_KIND_CUM: list[float] = []
LEAD_STATUSES = ("new", "working", "qualified", "unqualified", "converted")


def _accumulate(weights: Sequence[float]) -> list[float]:
    total = 0.0
    out = []
    for weight in weights:
        total += weight
        out.append(total)
    return out


ACTIVITY_KIND_CUM.extend(_accumulate(list(vocab.ACTIVITY_KIND_WEIGHTS.values())))


def _lead_status_cum(age_days: float) -> list[float]:
    """Young leads are mostly new or being worked; old ones are settled one way or the other."""
    if age_days < 7:
        weights = (60, 35, 0, 5, 0)
    elif age_days < 45:
        weights = (15, 45, 20, 12, 8)
    else:
        weights = (3, 12, 15, 40, 30)
    return _accumulate(weights)


def lead_score(
    *,
    source: str,
    filled: tuple[bool, ...],
    inquiries: int,
    days_since: float,
    contact_count: int,
    noise: float,
) -> tuple[int, list[dict[str, Any]]]:
    """A rules score 0-100 with its three largest reasons, in the lead-scoring reason shape."""
    components = {
        "source": LEAD_SOURCE_VALUE.get(source, 0.5),
        "completeness": sum(filled) / len(filled),
        "engagement": min(1.0, inquiries / 3.0),
        "recency": math.pow(0.5, max(days_since, 0.0) / 14.0),
        "contact_count": min(1.0, contact_count / 5.0),
    }
    values: dict[str, float | str] = {
        "source": source,
        "completeness": components["completeness"],
        "engagement": float(inquiries),
        "recency": round(days_since, 1),
        "contact_count": float(contact_count),
    }
    total = sum(LEAD_WEIGHTS[k] * v for k, v in components.items())
    score = int(min(100, max(0, round(total + noise))))
    impacts = {k: LEAD_WEIGHTS[k] * (v - 0.5) for k, v in components.items()}
    top = sorted(impacts, key=lambda k: abs(impacts[k]), reverse=True)[:3]
    reasons = [
        {
            "code": k,
            "impact": round(impacts[k], 1),
            "value": round(v, 2) if isinstance(v := values[k], float) else v,
        }
        for k in top
    ]
    return score, reasons
