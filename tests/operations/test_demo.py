"""`crm demo` on a real SQLite file: personal data encrypted at rest, still found by exact lookup
and pinyin; two tenants that do not see each other; every role has a login; `crm check` green.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from crm.tenancy.models import Role
from tests.operations.datadir import CRM, REPO, crm_env, migrated_data_dir

CONTACTS = 300

# Runs in a child process against the demo database; prints what the test checks, as JSON.
PROBE = r"""
import json
import django

django.setup()

import phonenumbers
from crm.activities.models import Task
from crm.core.context import tenant_context
from crm.core.normalise import normalise_phone, pinyin_keys
from crm.customers.models import Account, Contact
from crm.insights.models import CustomerInsight
from crm.customers.selectors import contact_list
from crm.customers.services import apply_company_keys, personal_data_indexes
from crm.sales.models import Lead, Opportunity, Order, StageChange
from crm.tenancy.models import Membership, Tenant
from django.db.models import Count
from django.utils import timezone

def other_format(e164):
    parsed = phonenumbers.parse(e164)
    if parsed.country_code == 86:  # 138 0013 8000, as people type it in China
        digits = str(parsed.national_number)
        return f"{digits[:3]} {digits[3:7]} {digits[7:]}"
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)

def found(actor, search, pk):
    qs = contact_list(actor=actor, search=search)
    return qs.filter(pk=pk).exists()

out = {}
demo, demo2 = Tenant.objects.get(slug="demo"), Tenant.objects.get(slug="demo2")
out["tenants"] = {t.slug: [t.name, t.language, t.time_zone, t.currency] for t in (demo, demo2)}
with tenant_context(demo.pk):
    admin = Membership.objects.select_related("user").get(user__username="admin")
    contacts = list(Contact.objects.order_by("id"))
    out["contacts"] = [[c.pk, c.name, c.email, c.phone] for c in contacts]
    out["roles"] = sorted(
        set(Membership.objects.values_list("role", flat=True))
    )
    out["users"] = sorted(Membership.objects.values_list("user__username", flat=True))
    out["insights"] = sorted(set(CustomerInsight.objects.values_list("stage", flat=True)))
    out["insight_rows"] = CustomerInsight.objects.count()
    out["bad_phones"] = [
        c.phone for c in contacts if c.phone and normalise_phone(c.phone) != c.phone
    ]
    # the demo writes rows in bulk: its blind indexes must be those the services compute
    leads = list(Lead.objects.exclude(email_index=""))
    out["keys_unlike_services"] = [
        r.pk
        for r in [*contacts, *leads]
        if r.email
        and personal_data_indexes({"email": r.email})
        != {"email_index": r.email_index, "email_alias_index": r.email_alias_index}
    ]
    out["aliases"] = sum(1 for r in [*contacts, *leads] if r.email_alias_index)
    out["company_keys_unlike_services"] = []
    for account in Account.objects.all():
        stored = (account.core_name_key, account.phone_key, account.website_key)
        apply_company_keys(account)
        computed = (account.core_name_key, account.phone_key, account.website_key)
        if stored != computed or not all(stored):
            out["company_keys_unlike_services"].append(account.pk)
    with_email = [c for c in contacts if c.email][:25]
    out["email_found"] = [found(admin, f"  {c.email.upper()} ", c.pk) for c in with_email]
    with_phone = [c for c in contacts if c.phone][:25]
    out["phone_formats"] = [other_format(c.phone) for c in with_phone[:5]]
    out["phone_found"] = [found(admin, other_format(c.phone), c.pk) for c in with_phone]
    out["plus86_found"] = [
        found(admin, "+86 " + c.phone[3:], c.pk) for c in with_phone if c.phone.startswith("+86")
    ]
    chinese = [c for c in contacts if any("\u4e00" <= ch <= "\u9fff" for ch in c.name)][:10]
    out["pinyin"] = [
        [c.name, full, initials, found(admin, full, c.pk), found(admin, initials, c.pk)]
        for c in chinese
        for full, initials in [pinyin_keys(c.name)]
    ]
    out["counts"] = {
        "accounts": Account.objects.count(),
        "contacts": len(contacts),
        "leads": Lead.objects.count(),
        "opportunities": Opportunity.objects.count(),
        "stage_changes": StageChange.objects.count(),
        "orders": Order.objects.count(),
        "won": Opportunity.objects.filter(stage__is_won=True).count(),
        "lost": Opportunity.objects.filter(stage__is_lost=True).count(),
        "open": Opportunity.objects.filter(stage__is_won=False, stage__is_lost=False).count(),
        "repeat_buyers": Order.objects.values("contact").annotate(n=Count("id"))
        .filter(n__gte=3).count(),
    }
    now = timezone.localtime()
    today = now.date()
    open_tasks = Task.objects.filter(status="open")
    out["tasks"] = {
        "overdue": open_tasks.filter(due_at__lt=now).count(),
        "due_today": sum(1 for t in open_tasks if timezone.localtime(t.due_at).date() == today),
    }
    demo_ids = {c.pk for c in contacts}
with tenant_context(demo2.pk):
    admin2 = Membership.objects.get(user__username="globex-admin")
    seen = set(contact_list(actor=admin2).values_list("id", flat=True))
    out["demo2_contacts"] = len(seen)
    out["demo2_sees_demo"] = len(seen & demo_ids)
    out["demo2_email_hits"] = sum(
        contact_list(actor=admin2, search=c.email).count() for c in with_email
    )
print(json.dumps(out, ensure_ascii=False))
"""


def run(data_dir: Path, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*args],
        env=crm_env(data_dir),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    data_dir = migrated_data_dir(tmp_path_factory.mktemp("demo") / "data")
    loaded = run(data_dir, *CRM, "demo", "--contacts", str(CONTACTS), "--seed", "7")
    assert loaded.returncode == 0, loaded.stderr
    probe = run(data_dir, sys.executable, "-c", PROBE)
    assert probe.returncode == 0, probe.stderr
    return {"dir": data_dir, "load": loaded, "probe": json.loads(probe.stdout.splitlines()[-1])}


@pytest.mark.slow
def test_raw_database_files_hold_no_email_or_phone_in_clear_text(demo: dict[str, Any]) -> None:
    contacts = demo["probe"]["contacts"]
    emails = [email for _pk, _name, email, _phone in contacts if email]
    phones = [phone for _pk, _name, _email, phone in contacts if phone]
    assert len(emails) > CONTACTS * 0.8 and len(phones) > CONTACTS * 0.8
    # The database file, its write-ahead log and the job queue, as they lie on disk.
    raw = b"".join(
        path.read_bytes()
        for path in sorted(demo["dir"].iterdir())
        if path.is_file() and ".sqlite3" in path.name
    )
    assert len(raw) > 100_000
    leaked = [e for e in emails if e.encode() in raw or e.split("@")[0].encode() + b"@" in raw]
    leaked += [p for p in phones if p.encode() in raw or p[-10:].encode() in raw]
    assert leaked == []
    # ... while names, which are not encrypted, are there: the scan does read the data.
    assert contacts[0][1].encode() in raw


@pytest.mark.slow
def test_exact_lookup_by_email_and_by_phone_in_another_format(demo: dict[str, Any]) -> None:
    probe = demo["probe"]
    assert probe["bad_phones"] == []
    assert probe["keys_unlike_services"] == []
    assert probe["company_keys_unlike_services"] == []  # and every demo account has all three
    assert probe["aliases"] > 0  # first.last@gmail.com: the mailbox key of firstlast@gmail.com
    assert probe["email_found"] == [True] * 25
    assert probe["phone_found"] == [True] * 25
    assert any(" " in shown for shown in probe["phone_formats"])
    assert probe["plus86_found"] and all(probe["plus86_found"])


@pytest.mark.slow
def test_pinyin_and_initials_find_chinese_named_contacts(demo: dict[str, Any]) -> None:
    pinyin = demo["probe"]["pinyin"]
    assert len(pinyin) == 10
    for name, full, initials, by_full, by_initials in pinyin:
        assert full.isascii() and len(initials) == len(name)
        assert by_full and by_initials, name


@pytest.mark.slow
def test_two_tenants_that_do_not_see_each_other(demo: dict[str, Any]) -> None:
    probe = demo["probe"]
    assert probe["tenants"] == {
        "demo": ["星辰演示公司", "zh-hans", "Asia/Shanghai", "CNY"],
        "demo2": ["Globex Demo", "en", "Europe/London", "GBP"],
    }
    assert probe["demo2_contacts"] >= 50
    assert probe["demo2_sees_demo"] == 0
    assert probe["demo2_email_hits"] == 0


@pytest.mark.slow
def test_every_role_has_a_login_and_the_logins_are_printed(demo: dict[str, Any]) -> None:
    probe = demo["probe"]
    assert probe["roles"] == sorted(Role.values)
    expected = {"admin", "manager", "marketing", "service", "viewer"}
    expected |= {f"sales{i}" for i in range(1, 7)}
    assert set(probe["users"]) == expected
    printed = demo["load"].stdout
    assert "demo1234" in printed
    for username in [*expected, "globex-admin", "globex-sales"]:
        assert username in printed


@pytest.mark.slow
def test_tables_scale_with_contacts_and_hold_a_believable_history(demo: dict[str, Any]) -> None:
    counts = demo["probe"]["counts"]
    assert counts["contacts"] == CONTACTS
    assert counts["accounts"] == 120 and counts["leads"] == 180
    assert counts["opportunities"] == 90
    # Every opportunity starts with an entry into its first stage, and most moved on.
    assert counts["stage_changes"] > 2 * counts["opportunities"]
    assert counts["won"] > 0 and counts["lost"] > 0 and counts["open"] > 0
    # About two orders per contact, with repeat buyers for RFM / CLV.
    assert CONTACTS * 1.2 < counts["orders"] < CONTACTS * 3
    assert counts["repeat_buyers"] >= 20
    tasks = demo["probe"]["tasks"]
    assert tasks["overdue"] > 0 and tasks["due_today"] > 0
    # Progress goes to stderr, with a rate.
    assert "rows/s" in demo["load"].stderr
    # Customer 360, at-risk and segments have something to show from the start.
    assert demo["probe"]["insight_rows"] == CONTACTS
    assert {"active", "at_risk", "lost"} <= set(demo["probe"]["insights"])


@pytest.mark.slow
def test_check_passes_and_if_empty_leaves_a_loaded_demo_alone(demo: dict[str, Any]) -> None:
    checked = run(demo["dir"], *CRM, "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "audit chain of demo:" in checked.stdout and "intact" in checked.stdout
    assert "BROKEN" not in checked.stdout

    again = run(demo["dir"], *CRM, "demo", "--if-empty")
    assert again.returncode == 0, again.stderr
    assert "nothing to do" in again.stdout
    refused = run(demo["dir"], *CRM, "demo")
    assert refused.returncode != 0
    assert "exist already" in refused.stderr
