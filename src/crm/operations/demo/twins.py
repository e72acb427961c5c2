"""People entered twice, as happens in every CRM: the duplicate finder's work in the demo.

About one contact or lead in 250 is a second record of someone entered a little earlier: the
name written another way (张 伟 for 张伟, "Smith John" for "John Smith"), the email with a +tag
(zhangwei+crm@x.com), the same phone and, for a lead, the company with another legal form
(…科技集团 for …科技有限公司). Without them the demo's duplicate review queue would be empty;
with them a scan of the demo finds pairs a person recognises as one customer.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, replace

from crm.core.normalise import pinyin_keys
from crm.operations.demo.generators import ZH, Company, Person

TWIN_SHARE = 0.004
EMAIL_TAGS = ("crm", "news", "wechat", "expo")
_CN_FORMS = ("股份有限公司", "集团有限公司", "有限公司", "集团")
# a longer form before its ending (Co., Ltd and Pte Ltd before Ltd); the first two replace others
_EN_FORMS = ("Co., Ltd", "Inc", "Pte Ltd", "Ltd", "LLC", "Corp", "Group", "PLC", "Holdings")


@dataclass(frozen=True)
class Entered:
    """What was written down about a person, to write it down again."""

    person: Person
    email: str
    phone: str
    place: int  # the account's index (contacts), -1 for a lead
    company: Company | None


class Twins:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.recent: deque[Entered] = deque(maxlen=64)

    def remember(self, entry: Entered) -> None:
        if entry.email or entry.phone:
            self.recent.append(entry)

    def pick(self) -> Entered | None:
        """Someone entered earlier, to be entered again now (TWIN_SHARE of the time)."""
        if not self.recent or self.rng.random() >= TWIN_SHARE:
            return None
        return self.rng.choice(self.recent)

    def again(self, entry: Entered) -> Entered:
        """The same person written down by someone else: name spelt another way, +tag email."""
        person = entry.person
        if person.culture == ZH and len(person.name) >= 2:
            surname, given = person.name[0], person.name[1:]
            if self.rng.random() < 0.5:
                name = f"{surname} {given}"
            else:  # in pinyin, as on a business card: 张伟 -> Zhang Wei
                name = f"{pinyin_keys(surname)[0].title()} {pinyin_keys(given)[0].title()}"
        else:
            name = " ".join(reversed(person.name.split()))
        email = entry.email
        if email:
            local, _at, domain = email.partition("@")
            email = f"{local}+{self.rng.choice(EMAIL_TAGS)}@{domain}"
        return replace(entry, person=replace(person, name=name), email=email)


def other_legal_form(company_name: str) -> str:
    """The company's name with another legal form: what a second form-filler would type."""
    for forms, joiner in ((_CN_FORMS, ""), (_EN_FORMS, " ")):
        form = next((f for f in forms if company_name.endswith(f)), None)
        if form is not None:
            other = next(f for f in forms if not f.endswith(form) and not form.endswith(f))
            return company_name[: -len(form)].rstrip() + joiner + other
    return company_name
