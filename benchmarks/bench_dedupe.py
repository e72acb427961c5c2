"""Duplicate scan of the BENCH_CONTACTS-contact demo tenant (default 500,000) on SQLite.

The scan writes its queue, so it runs on a copy of the cached benchmark database
`benchmarks/.data-N/` (built by `bench_api.py`; never written here): copied to a temporary
directory and deleted afterwards, or, with BENCH_DEDUPE_DATA=<dir>, a copy you made yourself
(`cp -r benchmarks/.data-500000 /tmp/dedupe-500k`), which is kept and reused.

1. `dedupe.scan_run` of every contact of the demo tenant (empty queue): wall and CPU seconds
   (the machine may be shared: the load average is reported too), pairs found, pairs queued.
2. The same scan again (the queue is full: open pairs are refreshed, none added).
3. A scan of the tenant's leads (names, emails, phones, company keys).
4. A scan of the tenant's accounts (core company names, phones, websites). The demo gives many
   accounts of one city the same company name and website, so this scan finds hundreds of
   thousands of pairs and queues the best MAX_NEW_PAIRS: the case of a queue capped while memory
   stays bounded.
5. The check of a new account (`dedupe.matches_for`, as the New account form and
   `POST /api/v1/duplicates/check` run it) for 200 random accounts typed another way (name in
   upper case, phone with spaces, website without scheme and www): median and p95 milliseconds,
   and how many found the account they were typed from.

Peak resident memory (`ru_maxrss`) of the process is reported after the contact scans and after
the account scan; the target is a scan under 120 s. BENCH_DEDUPE_PROFILE=<file> writes cProfile
stats of the first scan.

Prints JSON and writes benchmarks/results/dedupe.json.
"""

from __future__ import annotations

import cProfile
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_api import crm_env as api_env

N = int(os.environ.get("BENCH_CONTACTS", "500000"))
ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "dedupe.json"
CRM = str(Path(sys.executable).with_name("crm"))


def log(message: str) -> None:
    print(f"[bench_dedupe] {message}", file=sys.stderr, flush=True)


def crm_env(data_dir: Path) -> dict[str, str]:
    return {**api_env(data_dir), "CRM_LOG_LEVEL": "ERROR"}


def prepare() -> tuple[Path, bool]:
    """The writable data directory and whether it is a temporary copy to delete."""
    own = os.environ.get("BENCH_DEDUPE_DATA")
    if own:
        return Path(own), False
    cached = ROOT / "benchmarks" / f".data-{N}"
    if not (cached / ".complete").exists():
        raise SystemExit(f"{cached} is missing: build it with BENCH_CONTACTS={N} bench_api.py")
    copy = Path(tempfile.mkdtemp(prefix="crm-bench-dedupe-")) / "data"
    log(f"copying {cached} to {copy}")
    shutil.copytree(cached, copy)
    return copy, True


def run(data_dir: Path) -> dict[str, Any]:
    env = crm_env(data_dir)
    subprocess.run([CRM, "migrate", "--no-input", "-v", "0"], env=env, check=True)
    os.environ.update(env)
    import django

    django.setup()
    from crm.core.context import tenant_context
    from crm.customers.models import Account, Contact
    from crm.integrations import dedupe
    from crm.integrations.models import DuplicateCandidate, DuplicateScan
    from crm.sales.models import Lead
    from crm.tenancy.models import Membership, Tenant

    tenant = Tenant.objects.order_by("id").first()
    if tenant is None:
        raise SystemExit("no tenant in the benchmark database")
    out: dict[str, Any] = {"tenant": tenant.slug}
    with tenant_context(tenant.pk):
        admin = Membership.objects.filter(role="admin").order_by("id").first()
        out["contacts"] = Contact.objects.filter(deleted_at__isnull=True).count()
        DuplicateCandidate.objects.filter(record_type="contact").delete()
        for label in ("first_scan", "second_scan"):
            scan = DuplicateScan.objects.create(record_type="contact", created_by=admin)
            profile_to = os.environ.get("BENCH_DEDUPE_PROFILE") if label == "first_scan" else None
            profiler = cProfile.Profile() if profile_to else None
            log(f"{label}: scanning {out['contacts']} contacts")
            started, cpu = time.perf_counter(), time.process_time()
            if profiler:
                profiler.enable()
            scan = dedupe.scan_run(scan.pk)
            seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
            if profiler and profile_to:
                profiler.disable()
                profiler.dump_stats(profile_to)
            out[label] = {
                "seconds": round(seconds, 1),
                "cpu_seconds": round(cpu, 1),
                "scanned": scan.scanned,
                "pairs_found": scan.pairs_found,
                "queue": DuplicateCandidate.objects.filter(record_type="contact").count(),
            }
            log(f"{label}: {out[label]}")
        out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)

        def fresh_scan(record_type: str, records: int) -> dict[str, Any]:
            """A scan of every record of the kind, on an empty queue: time, pairs, queue."""
            DuplicateCandidate.objects.filter(record_type=record_type).delete()
            log(f"{record_type}_scan: scanning {records} {record_type}s")
            scan = DuplicateScan.objects.create(record_type=record_type, created_by=admin)
            started, cpu = time.perf_counter(), time.process_time()
            scan = dedupe.scan_run(scan.pk)
            result = {
                f"{record_type}s": records,
                "seconds": round(time.perf_counter() - started, 1),
                "cpu_seconds": round(time.process_time() - cpu, 1),
                "pairs_found": scan.pairs_found,
                "queue": DuplicateCandidate.objects.filter(record_type=record_type).count(),
            }
            log(f"{record_type}_scan: {result}")
            return result

        out["lead_scan"] = fresh_scan("lead", Lead.objects.filter(deleted_at__isnull=True).count())
        accounts = Account.objects.filter(deleted_at__isnull=True).count()
        out["account_scan"] = {**fresh_scan("account", accounts), "queue_cap": dedupe.MAX_NEW_PAIRS}
        out["account_check"] = account_checks(Account, dedupe.matches_for)
    out["peak_rss_mb_after_account_scan"] = round(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
    )
    return out


def account_checks(account_model: Any, matches_for: Any, count: int = 200) -> dict[str, Any]:
    """The check of a new account for `count` random accounts, each typed another way."""
    ids = list(account_model.objects.filter(deleted_at__isnull=True).values_list("id", flat=True))
    sample = random.Random(7).sample(ids, min(count, len(ids)))
    columns = ("id", "name", "city", "phone", "website")
    rows = account_model.objects.filter(pk__in=sample).order_by("pk").values(*columns)
    times, found_itself = [], 0
    for row in rows:
        typed = {
            "name": row["name"].upper(),
            "city": row["city"],
            "phone": (row["phone"] or "").replace("-", " "),
            "website": (row["website"] or "").replace("https://", "").replace("www.", ""),
        }
        started = time.perf_counter()
        found = matches_for(typed, record_type="account")
        times.append((time.perf_counter() - started) * 1000)
        found_itself += any(pk == row["id"] for pk, _score, _reasons in found)
    times.sort()
    result = {
        "checks": len(times),
        "median_ms": round(statistics.median(times), 1),
        "p95_ms": round(times[int(len(times) * 0.95)], 1),
        "found_the_account_typed": found_itself,
    }
    log(f"account_check: {result}")
    return result


def main() -> None:
    data_dir, temporary = prepare()
    try:
        result = run(data_dir)
    finally:
        if temporary:
            shutil.rmtree(data_dir.parent, ignore_errors=True)
    result.update(
        {
            "benchmark": "dedupe",
            "bench_contacts": N,
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "targets": {"scan_seconds": 120},
            "python": sys.version.split()[0],
        }
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
