"""The duplicate scan on a generated tenant: planted duplicates are found, namesakes are not.

A few hundred contacts with planted duplicates of every kind the scan knows (same email, an
email alias, same phone in another format, same name and company, near-equal names in the same
company, a name in the other script or word order) among distractors: thirty 王伟 in Beijing and
sixty 李娜 in Shanghai with nothing else in common, a switchboard number shared by sixty people,
same email or phone under unrelated names, a deleted record. The expected queue is written as
rules over what was planted (all pairs inside each planted group, plus background colleagues
who share the name's pinyin and the company); the rules were checked against the scan as it was
before it was rewritten for speed, so the rewrite finds exactly the same pairs.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from itertools import combinations
from typing import Any

from crm.customers.models import Account, Contact
from crm.customers.services import account_create, contact_create, contact_delete
from crm.integrations import dedupe, services
from crm.integrations.models import DuplicateCandidate
from crm.integrations.selectors import duplicate_queue
from crm.sales.models import Lead
from crm.sales.services import lead_create

Pair = tuple[int, int]

# background names: two characters, none of them planted below
POOL = [
    a + b
    for a, b in zip(
        "赵钱孙周吴郑冯陈褚卫蒋沈韩杨朱秦尤许何吕施孔曹严华金魏陶姜谢邹喻柏水窦章云苏潘葛",
        "明亮刚强磊鑫波涛洋军平辉鹏飞宇杰斌超勇峰浩凯健俊帅晨旭阳光宁安康泰远航舟楠森林木",
        strict=False,
    )
]


def pairs(contacts: Iterable[Contact | Lead]) -> set[Pair]:
    ids = sorted(c.pk for c in contacts)
    return set(combinations(ids, 2))


class Planted:
    """Contacts created for the test, with the pairs the scan must report."""

    def __init__(self, admin: Any) -> None:
        self.admin = admin
        self.expected: set[Pair] = set()
        self.background: list[Contact] = []

    def contact(self, name: str, account: Account | None = None, **values: str) -> Contact:
        return contact_create(
            actor=self.admin,
            values={"name": name, **values},
            account_id=account.pk if account else None,
        )

    def group(self, *contacts: Contact) -> list[Contact]:
        self.expected |= pairs(contacts)
        return list(contacts)


def build(admin: Any) -> Planted:
    rnd = random.Random(7)
    p = Planted(admin)
    firms = [account_create(actor=admin, values={"name": f"公司{i}"}) for i in range(12)]

    # same email (the name in another script, with a middle dot, or identical)
    for i, (a, b) in enumerate(
        [
            ("张三丰", "Zhang Sanfeng"),
            ("欧阳修", "欧阳修"),
            ("司马光", "司马 光"),
            ("诸葛亮", "诸葛亮"),
        ]
    ):
        email = f"same{i}@example.com"
        p.group(p.contact(a, email=email), p.contact(b, email=email.upper()))
    # an email alias: +tag, and Gmail with dots / googlemail
    p.group(
        p.contact("Amy Stone", email="amy.stone@example.com"),
        p.contact("Amy Stone", email="amy.stone+news@example.com"),
    )
    p.group(
        p.contact("Bob Lake", email="bob.lake@gmail.com"),
        p.contact("Bob Lake", email="boblake+crm@googlemail.com"),
        p.contact("Bob  Lake", email="b.o.b.lake@gmail.com"),
    )
    # the same phone written three ways
    for i, (a, b) in enumerate(
        [("上官婉儿", "上官婉儿"), ("慕容复", "Murong Fu"), ("令狐冲", "令狐 冲")]
    ):
        p.group(
            p.contact(a, phone=f"138-0013-80{i:02d}"),
            p.contact(b, phone=f"+86 1380013 80{i:02d}"),
        )
    # same email and phone under unrelated names: both keys outweigh the names
    p.group(
        p.contact("东方不败", email="both@example.com", phone="13700137000"),
        p.contact("Robert Johnson", email="both@example.com", phone="137 0013 7000"),
    )
    # same name, same company; near-equal names in the same company
    p.group(p.contact("独孤求败", firms[0]), p.contact("独孤求败", firms[0]))
    p.group(p.contact("王伟", firms[1]), p.contact("汪伟", firms[1]), p.contact("王 伟", firms[1]))
    p.group(p.contact("Wei Wang", firms[2]), p.contact("Wang Wei", firms[2]))
    p.group(p.contact("San Zhang", firms[3]), p.contact("张三", firms[3]))

    # --- distractors: nothing in the queue -----------------------------------------------------
    for _ in range(30):
        p.contact("王伟", city="北京")
    # near-equal spellings without a shared key are never compared
    p.contact("Jonathan Smith", firms[4])
    p.contact("Jonathon Smith", firms[4])
    # a shared email or phone under unrelated names is not enough
    p.contact("钟无艳", email="shared@example.com")
    p.contact("Peter Parker", email="shared@example.com")
    p.contact("公孙策", phone="13600136000")
    p.contact("Mary Jane", phone="136 0013 6000")
    # a deleted duplicate
    kept = p.contact("黄药师", email="gone@example.com")
    contact_delete(actor=admin, contact=p.contact("黄药师", email="gone@example.com"))
    assert kept.pk

    # sixty 李娜 (a block over BLOCK_CAP): only colleagues, or people sharing a phone, pair up
    li_na = [p.contact("李娜", city="上海") for _ in range(54)]
    p.group(*(p.contact("李娜", firms[5], city="上海") for _ in range(3)))
    p.group(
        p.contact("李娜", city="上海", phone="13500135000"),
        p.contact("李娜", city="上海", phone="135-0013-5000"),
    )
    p.contact("李娜", firms[6])
    assert len(li_na) + 6 > dedupe.BLOCK_CAP

    # a switchboard number shared by sixty: narrowed to one company, the first BLOCK_CAP of it
    operators = [p.contact(f"Operator {i:02d}", firms[7], phone="010 8888 6666") for i in range(55)]
    p.group(*operators[: dedupe.BLOCK_CAP])
    for i in range(5):
        p.contact(f"Switch {i}", phone="+86 10 8888 6666")

    # background: a small pool of names over a dozen companies; colleagues with the same name
    # (same pinyin) are duplicates, everybody else is not
    for i in range(200):
        firm = rnd.choice([None, *firms[8:]])
        p.background.append(
            p.contact(
                rnd.choice(POOL),
                firm,
                email=f"bg{i}@example.com",
                city=rnd.choice(["北京", "上海", ""]),
            )
        )
    by_key: dict[tuple[str, int], list[Contact]] = {}
    for c in p.background:
        if c.account_id is not None:
            by_key.setdefault((c.pinyin_key, c.account_id), []).append(c)
    for group in by_key.values():
        p.group(*group)
    return p


def scan(admin: Any, capture: Any) -> tuple[set[Pair], int]:
    """The open pairs in the queue after a scan, and the number of pairs the scan reported."""
    with capture(execute=True):
        job = services.duplicate_scan_start(actor=admin, record_type="contact")
    job.refresh_from_db()
    assert job.status == "done"
    return {(c.left_id, c.right_id) for c in duplicate_queue(actor=admin)}, job.pairs_found


def test_scan_finds_exactly_the_planted_duplicates(
    world, django_capture_on_commit_callbacks
) -> None:
    admin = world.admin
    planted = build(admin)
    assert Contact.objects.count() > 350
    found, reported = scan(admin, django_capture_on_commit_callbacks)
    assert reported == len(found)
    assert len(planted.expected) > 1225  # the switchboard alone gives 50 * 49 / 2
    assert found - planted.expected == set()
    assert planted.expected - found == set()
    # a second scan adds nothing and keeps the reviewed pairs as they are
    first = DuplicateCandidate.objects.order_by("id").first()
    assert first is not None
    services.duplicate_dismiss(actor=admin, candidate=first)
    again, reported = scan(admin, django_capture_on_commit_callbacks)
    assert again == found - {(first.left_id, first.right_id)}
    assert reported == len(found)  # the dismissed pair is still found, not queued again
    assert DuplicateCandidate.objects.count() == len(found)
    first.refresh_from_db()
    assert first.status == "dismissed"


def test_lead_scan_folds_company_text_and_ignores_namesakes(
    world, django_capture_on_commit_callbacks
) -> None:
    admin = world.admin
    expected: set[Pair] = set()

    def lead(name: str, **values: str) -> Lead:
        return lead_create(actor=admin, values={"name": name, **values})

    for _ in range(30):
        lead("王伟", region="北京")
    expected |= pairs([lead("赵敏", company="Acme Ltd"), lead("赵 敏", company=" ACME LTD ")])
    expected |= pairs(
        [lead("周芷若", email="zzr@example.com"), lead("Zhou Zhiruo", email="zzr@example.com")]
    )
    expected |= pairs([lead("张无忌", phone="13100131000"), lead("张无忌", phone="131 0013 1000")])
    expected |= pairs(
        [lead("Tom Hill", email="tom@example.com"), lead("Tom Hill", email="tom+x@example.com")]
    )
    # the company by its key, as the public capture matches it: legal form and script aside
    expected |= pairs(
        [lead("王芳", company="阿里巴巴有限公司"), lead("Wang Fang", company="Alibaba Group Ltd.")]
    )
    lead("王芳", company="腾讯科技有限公司")  # the same name at another company
    lead("赵敏", company="Other Ltd")  # same name, another company
    lead("小昭", phone="13200132000")
    lead("Jane Roe", phone="132 0013 2000")  # same phone, unrelated name
    with django_capture_on_commit_callbacks(execute=True):
        job = services.duplicate_scan_start(actor=admin, record_type="lead")
    job.refresh_from_db()
    found = {(c.left_id, c.right_id) for c in duplicate_queue(actor=admin, record_type="lead")}
    assert found == expected
    assert job.pairs_found == len(expected) and job.scanned == Lead.objects.count()
