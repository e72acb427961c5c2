from __future__ import annotations

import pytest

from crm.core.normalise import InvalidValueError, normalise_email, normalise_phone, pinyin_keys


@pytest.mark.parametrize(
    "raw",
    ["13800138000", "138 0013 8000", "+86 138-0013-8000", "0086 13800138000", "(+86)13800138000"],
)
def test_chinese_mobile_numbers_in_any_format_become_one_e164(raw: str) -> None:
    assert normalise_phone(raw) == "+8613800138000"


def test_foreign_numbers_keep_their_country() -> None:
    assert normalise_phone("+44 20 7946 0958") == "+442079460958"


@pytest.mark.parametrize("raw", ["12345", "not a phone", "+86 000"])
def test_bad_phone_numbers_are_refused(raw: str) -> None:
    with pytest.raises(InvalidValueError):
        normalise_phone(raw)


def test_email_is_lower_cased_and_checked() -> None:
    assert normalise_email("  Zhang.Wei@Example.COM ") == "zhang.wei@example.com"
    with pytest.raises(InvalidValueError):
        normalise_email("no-at-sign")


def test_pinyin_keys() -> None:
    assert pinyin_keys("张三") == ("zhangsan", "zs")
    assert pinyin_keys("欧阳娜娜") == ("ouyangnana", "oynn")
    assert pinyin_keys("John Smith") == ("johnsmith", "js")
    assert pinyin_keys("") == ("", "")
