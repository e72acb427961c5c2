"""The import's fast paths give exactly what the slow paths give."""

from __future__ import annotations

import random

import pytest
from django.db import models

from crm.core.normalise import InvalidValueError
from crm.core.normalise import normalise_phone as slow_phone
from crm.customers.models import Contact
from crm.integrations.bulk import fast_clean
from crm.integrations.bulk import normalise_phone as fast_phone


def outcome(fn, value: str) -> str:
    try:
        return fn(value)
    except InvalidValueError:
        return "invalid"


def test_fast_phone_equals_libphonenumber_for_every_mobile_prefix() -> None:
    rnd = random.Random(7)
    samples = []
    for prefix in range(1000, 2000):  # every 4-digit start of an 11-digit number beginning 1
        rest = f"{rnd.randrange(10**7):07d}"
        digits = f"{prefix}{rest}"
        samples += [
            digits,
            f"+86 {digits[:3]} {digits[3:7]} {digits[7:]}",
            f"{digits[:3]}-{digits[3:]}",
        ]
    samples += [
        "010-12345678",
        "+1 650 253 0000",
        "12345",
        "0086 13800138000",
        "１３８００１３８０００",  # noqa: RUF001 - full-width digits, as typed on a phone
    ]
    for value in samples:
        assert outcome(fast_phone, value) == outcome(slow_phone, value), value


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "张三"),
        ("name", "x" * 201),
        ("title", ""),
        ("preferred_channel", "fax"),
        ("preferred_channel", "sms"),
    ],
)
def test_fast_clean_equals_field_clean(field: str, value: str) -> None:
    model_field = Contact._meta.get_field(field)
    assert isinstance(model_field, models.Field)
    try:
        expected = ("ok", model_field.clean(value, None))
    except Exception as exc:
        expected = ("error", str(exc))
    try:
        got = ("ok", fast_clean(model_field, value))
    except Exception as exc:
        got = ("error", str(exc))
    assert got == expected
