"""Bilingual generators: people, companies, cities, phone numbers, e-mail and WeChat ids.

Everything draws from one seeded `random.Random`, so a seed gives the same data every time.
Phone numbers are produced in E.164 (what the services store after `normalise_phone`) from
number plans that libphonenumber accepts; e-mails are lower-case, as `normalise_email` leaves them.
"""

from __future__ import annotations

import itertools
import random
import string
from dataclasses import dataclass
from types import SimpleNamespace

from crm.core.normalise import InvalidValueError, name_key, normalise_phone, pinyin_keys
from crm.customers.services import apply_name_keys
from crm.operations.demo import vocab
from crm.operations.demo.vocab import City, Industry

ZH = "zh"
EN = "en"


def _cumulative(weights: tuple[int, ...] | list[float]) -> list[float]:
    return list(itertools.accumulate(weights))


class NameKeys:
    """Search keys per distinct name, computed once with the services' own function."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[str, str, str]] = {}

    def __call__(self, name: str) -> tuple[str, str, str]:
        found = self._cache.get(name)
        if found is None:
            holder = SimpleNamespace()
            apply_name_keys(holder, name)
            found = (holder.name_key, holder.pinyin_key, holder.initials_key)
            self._cache[name] = found
        return found


@dataclass(frozen=True)
class Person:
    name: str
    culture: str
    local: str  # the usual e-mail local part for this name (ASCII)
    handle: str  # a WeChat-style handle base (ASCII)


@dataclass(frozen=True)
class Company:
    name: str
    short: str  # the name without legal suffix and city, for opportunity names
    culture: str
    city: City
    industry: Industry
    domain: str


class People:
    """Chinese and English personal names from finite pools, with ASCII e-mail parts."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self._surname_cum = _cumulative(
            [1.0 / (rank + 4) for rank in range(len(vocab.CN_SURNAMES))]
        )
        self._pinyin: dict[str, str] = {}

    def _py(self, text: str) -> str:
        found = self._pinyin.get(text)
        if found is None:
            found = pinyin_keys(text)[0] or "user"
            self._pinyin[text] = found
        return found

    def chinese(self) -> Person:
        rng = self.rng
        surname = rng.choices(vocab.CN_SURNAMES, cum_weights=self._surname_cum)[0]
        given = rng.choice(vocab.CN_GIVEN)
        sur_py, given_py = self._py(surname), self._py(given)
        pattern = rng.randrange(4)
        if pattern == 0:
            local = f"{sur_py}{given_py}"
        elif pattern == 1:
            local = f"{given_py}.{sur_py}"
        elif pattern == 2:
            local = f"{sur_py}.{given_py}"
        else:
            local = f"{given_py[0]}{sur_py}"
        return Person(surname + given, ZH, local, f"{sur_py}{given_py}")

    def english(self) -> Person:
        first = self.rng.choice(vocab.EN_FIRST)
        last = self.rng.choice(vocab.EN_LAST)
        first_a = name_key(first).replace(" ", "")
        last_a = name_key(last).replace(" ", "")
        local = f"{first_a}.{last_a}" if self.rng.random() < 0.7 else f"{first_a[0]}{last_a}"
        return Person(f"{first} {last}", EN, local, f"{first_a}{last_a}")

    def person(self, culture: str) -> Person:
        return self.chinese() if culture == ZH else self.english()

    def title(self, culture: str) -> str:
        return self.rng.choice(vocab.CN_TITLES if culture == ZH else vocab.EN_TITLES)


class Places:
    """Cities weighted by size: Chinese cities for a Chinese tenant, plus a share abroad."""

    def __init__(self, rng: random.Random, abroad_share: float, china_share: float = 1.0) -> None:
        self.rng = rng
        self.abroad_share = abroad_share
        self.china_share = china_share
        self._cn_cum = _cumulative(vocab.CN_CITY_WEIGHTS)
        self._intl_cum = _cumulative(vocab.INTL_CITY_WEIGHTS)

    def city(self) -> City:
        if self.rng.random() < self.abroad_share:
            return self.rng.choices(vocab.INTL_CITIES, cum_weights=self._intl_cum)[0]
        return self.rng.choices(vocab.CN_CITIES, cum_weights=self._cn_cum)[0]


class Companies:
    """Company names: 北京星辰科技有限公司 in China, Acme Trading Ltd abroad."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self._brand_py: dict[str, str] = {}

    def company(self, city: City, *, english: bool = False) -> Company:
        rng = self.rng
        industry = rng.choice(vocab.INDUSTRIES)
        if city.country == "CN" and not english:
            brand = rng.choice(vocab.CN_BRANDS)
            suffix = rng.choice(vocab.CN_COMPANY_SUFFIXES)
            short = f"{brand}{industry.cn_word}"
            py = self._brand_py.get(brand)
            if py is None:
                py = pinyin_keys(brand)[0]
                self._brand_py[brand] = py
            tld = rng.choice((".com", ".cn", ".com.cn"))
            return Company(
                f"{city.zh}{short}{suffix}",
                short,
                ZH,
                city,
                industry,
                f"{py}{industry.domain}{tld}",
            )
        brand = rng.choice(vocab.EN_BRANDS)
        suffix = rng.choice(vocab.EN_COMPANY_SUFFIXES.get(city.country, ("Ltd",)))
        short = f"{brand} {industry.en_word}"
        tld = {"GB": ".co.uk", "SG": ".com.sg", "CN": ".com.cn"}.get(city.country, ".com")
        domain = f"{brand.lower()}{industry.domain}{tld}"
        return Company(f"{short} {suffix}", short, EN, city, industry, domain)


class Phones:
    """Mobile numbers in E.164: 138xxxxxxxx in China, +1 / +44 / +65 abroad."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[str] = set()

    def _candidate(self, country: str) -> str:
        rng = self.rng
        if country == "US":
            area = rng.choice(vocab.US_AREA_CODES)
            exchange = rng.randrange(200, 1000)
            if exchange % 100 == 11 or exchange == 555:
                exchange = 321
            return f"+1{area}{exchange}{rng.randrange(10000):04d}"
        if country == "GB":
            return f"+447{rng.choice('45789')}{rng.randrange(10**8):08d}"
        if country == "SG":
            return f"+65{rng.choice('89')}{rng.randrange(10**7):07d}"
        return f"+86{rng.choice(vocab.CN_MOBILE_PREFIXES)}{rng.randrange(10**8):08d}"

    def mobile(self, country: str) -> str:
        for _attempt in range(50):
            number = self._candidate(country)
            if number in self.used:
                continue
            if country != "CN" and not self.is_valid(number):
                # CN prefixes are valid by construction (a test checks them); the plans abroad
                # have holes, so those numbers are checked one by one.
                continue
            self.used.add(number)
            return number
        raise RuntimeError(f"could not draw a free phone number in {country}")

    @staticmethod
    def is_valid(number: str) -> bool:
        try:
            return normalise_phone(number) == number
        except InvalidValueError:
            return False

    def landline(self, city: City) -> str:
        """A switchboard number (not personal data, so not encrypted)."""
        digits = self.rng.randrange(10**7, 10**8)
        if city.country == "CN":
            return f"+86 {city.landline} {digits // 10000:04d} {digits % 10000:04d}"
        code = {"US": 1, "GB": 44, "SG": 65}.get(city.country, 1)
        return f"+{code} {city.landline} {digits}"


class Emails:
    """Unique lower-case addresses at the company's domain or a free mail service."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[str] = set()

    def email(self, person: Person, company: Company | None, country: str) -> str:
        rng = self.rng
        if company is not None and rng.random() < 0.8:
            domain = company.domain
        else:
            domain = rng.choice(vocab.FREE_MAIL["CN" if country == "CN" else ""])
        local = person.local
        address = f"{local}@{domain}"
        while address in self.used:
            address = f"{local}{rng.randrange(1, 10000)}@{domain}"
        self.used.add(address)
        return address


def wechat_id(rng: random.Random, person: Person) -> str:
    roll = rng.random()
    share = 0.85 if person.culture == ZH else 0.25
    if roll >= share:
        return ""
    if roll < share * 0.6:
        return f"{person.handle}{rng.randrange(10, 10000)}"[:20]
    tail = "".join(rng.choices(string.ascii_lowercase + string.digits, k=12))
    return f"wxid_{tail}"
