"""Keys of a company's identity: its core name, phone digits and website domain.

北京星辰科技有限公司, 星辰科技(北京)有限公司 and 星辰科技 share the core name 星辰科技;
+86 10 8888 1234 and 010-8888 1234 the phone key 1088881234; https://www.acme.com/about and
acme.com the domain acme.com. Each account stores them (`core_name_key`, `phone_key`,
`website_key`, filled by crm.customers.services.apply_company_keys): the duplicate scan of
accounts (crm.integrations.dedupe_accounts) blocks on the stored keys, and the check of a new
account is three index lookups. A change to these functions changes what the stored keys
mean: ship it with a data migration that fills them again (as customers 0005 does, with
`account_company_keys`).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from urllib.parse import urlsplit


def _words(text: str) -> list[str]:
    return text.split()


# ASCII, full-width and lenticular brackets
_BRACKETED = re.compile("[(\uff08\\[\u3010][^)\uff09\\]\u3011]*[)\uff09\\]\u3011]")
_NOT_WORD = re.compile(r"[^0-9a-z\u3400-\u9fff]+")
# longest first: 股份有限公司 before 有限公司 before 公司
_ZH_FORMS = (
    "股份有限公司",
    "有限责任公司",
    "集团有限公司",
    "有限公司",
    "股份公司",
    "集团公司",
    "控股",
    "集团",
    "公司",
)
_LATIN_FORMS = frozenset(
    _words(
        "co company corp corporation inc incorporated ltd limited llc plc gmbh ag sa bv pte "
        "group holding holdings"
    )
)
_REGIONS = tuple(
    sorted(
        _words(
            "北京 上海 天津 重庆 广州 深圳 杭州 南京 苏州 成都 武汉 西安 长沙 郑州 青岛 厦门 "
            "宁波 无锡 合肥 福州 济南 大连 沈阳 哈尔滨 长春 昆明 南昌 南宁 贵阳 太原 石家庄 "
            "兰州 海口 乌鲁木齐 呼和浩特 银川 西宁 拉萨 东莞 佛山 珠海 中山 温州 "
            "广东 浙江 江苏 山东 河南 河北 湖北 湖南 四川 福建 安徽 江西 辽宁 吉林 黑龙江 "
            "陕西 山西 云南 贵州 广西 海南 甘肃 青海 宁夏 新疆 西藏 内蒙古 香港 澳门 台湾"
        ),
        key=len,
        reverse=True,
    )
)
# a leading province or city, with 市 or 省 when written (no region is the start of another)
_REGION_PREFIX = re.compile("(?:" + "|".join(map(re.escape, _REGIONS)) + ")[市省]?")
#: websites that host many companies' pages: the same domain is no evidence there
SHARED_SITES = frozenset(
    _words(
        "taobao.com tmall.com jd.com 1688.com alibaba.com weibo.com weixin.qq.com qq.com "
        "douyin.com xiaohongshu.com linkedin.com facebook.com github.com wix.com "
        "wordpress.com blogspot.com sites.google.com"
    )
)


@lru_cache(maxsize=65536)  # an import names the same few thousand companies on every row
def company_core(name: str) -> str:
    """The distinctive part of a company name.

    北京星辰科技有限公司 → 星辰科技, Acme, Inc. → acme."""
    text = unicodedata.normalize("NFKC", name).lower()
    text = _BRACKETED.sub(" ", text)
    words = [w for w in _NOT_WORD.split(text) if w]
    while len(words) > 1 and words[-1] in _LATIN_FORMS:
        words.pop()
    core = "".join(words)
    for _round in range(3):  # 北京星辰科技集团有限公司: region, then two forms
        before = core
        for form in _ZH_FORMS:
            if core.endswith(form) and len(core) - len(form) >= 2:
                core = core[: -len(form)]
                break
        region = _REGION_PREFIX.match(core)
        if region and len(core) - region.end() >= 2:
            core = core[region.end() :]
        if core == before:
            break
    return core


@lru_cache(maxsize=65536)
def company_region(name: str) -> str:
    """The province or city a company name starts with or puts in brackets, or "".

    北京星辰科技有限公司 and 星辰科技(北京)有限公司 → 北京; 星辰科技, Acme, Inc. → ""."""
    text = unicodedata.normalize("NFKC", name).lower()
    for part in (text, *(found.group(0)[1:-1] for found in _BRACKETED.finditer(text))):
        region = _REGION_PREFIX.match(part.strip())
        if region:
            return region.group(0).rstrip("市省")
    return ""


def phone_digits(phone: str) -> str:
    """Digits of a phone without the country code 86 and the trunk 0: the same number written
    any way."""
    digits = "".join(ch for ch in unicodedata.normalize("NFKC", phone) if ch.isdigit())
    for prefix in ("0086", "86"):
        if digits.startswith(prefix) and len(digits) - len(prefix) >= 7:
            digits = digits[len(prefix) :]
            break
    digits = digits.lstrip("0")  # 010 8888 1234 and +86 10 8888 1234
    return digits if len(digits) >= 7 else ""


def website_domain(website: str) -> str:
    """www.acme.com/about, https://acme.com → acme.com; "" for a shared platform or no site."""
    text = website.strip().lower()
    if not text:
        return ""
    host = urlsplit(text if "//" in text else f"//{text}").hostname or ""
    host = host.removeprefix("www.").rstrip(".")
    if "." not in host or host in SHARED_SITES:
        return ""
    if any(host.endswith("." + shared) for shared in SHARED_SITES):
        return ""
    return host


def account_company_keys(name: str, phone: str, website: str) -> tuple[str, str, str]:
    """(core name, phone digits, website domain) as an account stores them."""
    return company_core(name)[:200], phone_digits(phone)[:40], website_domain(website)[:200]
