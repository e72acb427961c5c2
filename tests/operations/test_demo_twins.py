"""The demo's people entered twice are written the way a second person would write them, and
are still one person to the duplicate finder (same mailbox, same name keys, same company key)."""

from __future__ import annotations

import random

import pytest

from crm.core.mailbox import mailbox_key
from crm.core.normalise import company_key, name_tokens
from crm.operations.demo.generators import EN, ZH, Person
from crm.operations.demo.twins import Entered, Twins, other_legal_form


@pytest.mark.parametrize(
    "name",
    [
        "上海鑫源教育科技有限公司",
        "上海鑫源教育科技股份有限公司",
        "北京星辰科技集团有限公司",
        "Acme Trading Ltd",
        "Acme Trading Co., Ltd",
        "Sun Foods Pte Ltd",
        "Beacon Foods PLC",
    ],
)
def test_another_legal_form_is_the_same_company_key(name: str) -> None:
    other = other_legal_form(name)
    assert other != name
    assert company_key(other)[0] == company_key(name)[0]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("person", "email"),
    [
        (Person("张伟", ZH, "zhangwei", "zhangwei"), "zhangwei@example.cn"),
        (Person("Alice Lewis", EN, "alewis", "alicelewis"), "alewis@example.com"),
    ],
)
def test_a_twin_is_spelt_differently_but_is_one_mailbox_and_one_name(
    person: Person, email: str
) -> None:
    original = Entered(person, email, "+8613800138000", 3, None)
    twins = Twins(random.Random(1))
    names = set()
    for _ in range(20):
        twin = twins.again(original)
        names.add(twin.person.name)
        assert twin.person.name != person.name and twin.email != email
        assert sorted(name_tokens(twin.person.name)) == sorted(name_tokens(person.name))
        assert mailbox_key(twin.email) == mailbox_key(email)
        assert (twin.phone, twin.place) == (original.phone, original.place)
    if person.culture == ZH:
        assert names == {"张 伟", "Zhang Wei"}
