from __future__ import annotations

import pytest

from crm.core.normalise import (
    InvalidValueError,
    company_key,
    normalise_email,
    normalise_phone,
    pinyin_keys,
)


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


def _pypinyin_keys(value: str) -> tuple[str, str]:
    """What pypinyin alone gives for a name: the reference for the per-character shortcut."""
    from pypinyin import Style, lazy_pinyin

    from crm.core.normalise import name_key

    readings = lazy_pinyin(name_key(value), style=Style.NORMAL, errors="ignore")
    cleaned = ("".join(ch for ch in r.lower() if ch.isalnum()) for r in readings)
    syllables = [s for s in cleaned if s]
    return "".join(syllables), "".join(s[0] for s in syllables)


def test_pinyin_shortcut_reads_names_exactly_as_pypinyin() -> None:
    import random

    rnd = random.Random(7)
    surnames = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾单解区乐朴"
    given = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚华建国志红玉梅林文斌宇浩凯鹏飞庆行长重"
    common = "的一是不了人我在有他这为之大来以个中上们到说国和地也子时道出而要于就下得可你年生自会"
    names = [s + g for s in surnames for g in given]
    names += ["".join(rnd.choice(common) for _ in range(rnd.randint(2, 6))) for _ in range(3000)]
    # phrases pypinyin reads as a whole, and a name longer than the shortcut takes
    names += ["重庆", "单雄信", "长孙无忌", "银行家", "朝阳区", "曾国藩", "中华人民共和国成立了"]
    differ = [n for n in names if pinyin_keys.__wrapped__(n) != _pypinyin_keys(n)]
    assert differ == []
    assert pinyin_keys("重庆") == ("chongqing", "cq")


@pytest.mark.parametrize(
    ("name", "same_as"),
    [
        ("阿里巴巴有限公司", "Alibaba Group Ltd."),
        ("阿里巴巴集团", "阿里巴巴"),
        ("腾讯控股有限公司", "腾讯"),
        ("Tencent Holdings Ltd.", "TENCENT"),
        ("星辰科技股份公司", "星辰科技"),
        ("Acme Incorporated", "Acme BV"),
    ],
)
def test_company_key_drops_legal_forms_in_both_scripts(name: str, same_as: str) -> None:
    assert company_key(name)[0] == company_key(same_as)[0] != ""
