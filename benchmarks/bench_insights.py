"""End-to-end benchmark of the customer-intelligence recompute (issue 5), on SQLite.

1. Data, built once into ``benchmarks/.data-insights-<N>/`` (N = ``BENCH_CUSTOMERS``, default
   500,000) and reused while its ``.complete`` marker exists (``crm migrate`` is run again on
   reuse): ``crm migrate``, then raw ``sqlite3`` ``executemany`` into the models' tables (no
   Django, for speed) of one tenant "bench-insights" with N contacts, of whom ~60% bought:
   ~10 x N order lines (1 + Poisson(1.6) lines per order, ~6.4 orders per buyer, first
   purchases spread over two years, repeat purchases while "alive", a few cancelled orders)
   and ~N / 2 activities (calls, e-mails, meetings, visits, notes) over the last six months.
   Encrypted columns hold empty strings.
2. Measure: the real service ``crm.insights.services.insights_recompute`` for that tenant in a
   child process (``python -c``, ``django.setup()``, tenant context), as the nightly job runs it.
   Reported: the child's wall and CPU seconds (Django start-up included), the service's own
   seconds and its phases (``run.metrics["timings"]``: load, compute, prepare, store), the
   peak resident memory of the child (its own ``ru_maxrss``; ``getrusage(RUSAGE_CHILDREN)``
   after it exited is reported too, but that is the largest of every child so far), the run's
   counts, and the machine's load average before and after. Resident memory includes the
   SQLite page cache (64 MB) and memory-mapped database pages (up to 256 MB).
3. With ``BENCH_DEMO=1`` (or ``BENCH_DEMO_CONTACTS=<n>``) the same measurement also runs against
   the demo tenant of ``benchmarks/.data-<n>/`` built by ``bench_api.py`` (``crm migrate`` first;
   nothing is deleted there, but its insight rows are replaced).

Target (issue 5): under 60 s and under 4 GB peak memory on 2 cores.
Prints JSON and writes it to ``benchmarks/results/insights.json``.

Usage: ``.venv/bin/python benchmarks/bench_insights.py`` (``BENCH_CUSTOMERS=50000`` for a quick
run).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
CRM = [sys.executable, "-m", "crm.cli"]

CUSTOMERS = int(os.environ.get("BENCH_CUSTOMERS", "500000"))
DEMO_CONTACTS = int(
    os.environ.get("BENCH_DEMO_CONTACTS", "500000" if os.environ.get("BENCH_DEMO") else "0")
)
TENANT_SLUG = "bench-insights"
TARGET_SECONDS = 60.0
TARGET_RSS_MIB = 4096.0
BUYER_SHARE = 0.6
SPAN_DAYS = 730
AS_OF = np.datetime64("2026-06-30T12:00:00")
CATEGORIES = ("tea", "cups", "teapots", "snacks", "gifts", "books", "coffee", "accessories")
CHUNK = 200_000

# Runs in the child: the recompute exactly as the nightly job calls it, for one tenant.
RECOMPUTE = r"""
import time
started = time.perf_counter()
import json, resource, sys
from datetime import datetime
import django
django.setup()
from crm.core.context import tenant_context
from crm.insights.models import CustomerInsight
from crm.insights.services import insights_recompute
from crm.tenancy.models import Tenant

tenant = Tenant.objects.get(slug=sys.argv[1])
with tenant_context(tenant.pk):
    t0 = time.perf_counter()
    startup = t0 - started
    now = datetime.fromisoformat(sys.argv[2]) if len(sys.argv) > 2 else None
    run = insights_recompute(now=now)
    seconds = time.perf_counter() - t0
    stored = CustomerInsight.objects.count()
print(json.dumps({
    "status": run.status,
    "error": run.error,
    "service_seconds": seconds,
    "startup_seconds": startup,
    "after_seconds": time.perf_counter() - t0 - seconds,
    "timings": run.metrics.get("timings", {}),
    "customers": run.customers,
    "orders": run.orders,
    "order_lines": run.order_lines,
    "stored_rows": stored,
    "buyers": run.metrics.get("buyers"),
    "stages": run.metrics.get("stages"),
    "segmentation": run.metrics.get("segmentation"),
    "bgnbd": run.metrics.get("bgnbd"),
    "child_maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}))
"""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def crm_env(data_dir: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"CRM_DATABASE_URL", "CRM_REDIS_URL", "DJANGO_SETTINGS_MODULE"}
    }
    env.update(CRM_DATA_DIR=str(data_dir), DJANGO_SETTINGS_MODULE="crm.settings")
    return env


def migrate(data_dir: Path) -> None:
    subprocess.run(
        [*CRM, "migrate", "--no-input", "-v", "0"], env=crm_env(data_dir), cwd=ROOT, check=True
    )


def stamp(values: np.ndarray) -> list[str]:
    """datetime64 values as Django stores them in SQLite ("YYYY-MM-DD HH:MM:SS", UTC)."""
    text = np.datetime_as_string(values.astype("datetime64[s]"), unit="s")
    return [t.replace("T", " ") for t in text.tolist()]


def build_rows(db: sqlite3.Connection, n: int, seed: int = 5) -> dict[str, int]:
    """Insert the tenant, its contacts, orders, lines and activities (see module docstring)."""
    rng = np.random.default_rng(seed)
    now = "2026-06-30 12:00:00"
    cur = db.cursor()
    cur.execute(
        "INSERT INTO tenancy_tenant (name, slug, time_zone, currency, language, is_active,"
        " created_at) VALUES (?, ?, 'Asia/Shanghai', 'CNY', 'zh-hans', 1, ?)",
        ("Insights benchmark", TENANT_SLUG, now),
    )
    tenant = int(cur.lastrowid or 0)
    first_contact = (
        int(db.execute("SELECT coalesce(max(id), 0) FROM customers_contact").fetchone()[0]) + 1
    )
    contact_ids = np.arange(first_contact, first_contact + n, dtype=np.int64)
    channels = np.array(["", "", "", "email", "sms", "phone", "wechat"], dtype=object)
    channel = channels[rng.integers(0, len(channels), n)]
    contact_sql = (
        "INSERT INTO customers_contact (id, created_at, updated_at, name_key, pinyin_key,"
        " initials_key, name, title, email, email_index, phone, phone_index, id_number,"
        " id_number_index, wechat, city, preferred_channel, consent_email, consent_sms,"
        " consent_phone, consent_wechat, external_id, tenant_id)"
        " VALUES (?, ?, ?, ?, '', '', ?, '', '', '', '', '', '', '', '', '', ?, 0, 0, 0, 0, '', ?)"
    )
    for start in range(0, n, CHUNK):
        ids = contact_ids[start : start + CHUNK].tolist()
        chans = channel[start : start + CHUNK].tolist()
        cur.executemany(
            contact_sql,
            [
                (i, now, now, f"customer {i}", f"Customer {i}", c, tenant)
                for i, c in zip(ids, chans, strict=True)
            ],
        )
    log(f"  {n} contacts")

    # buyers: first purchase uniform over two years; repeat orders while alive
    buyers = contact_ids[rng.random(n) < BUYER_SHARE]
    nb = len(buyers)
    age = rng.integers(1, SPAN_DAYS, nb)  # days from first purchase to AS_OF
    lifetime = np.minimum(rng.exponential(500.0, nb), age)
    rate = rng.gamma(shape=1.5, scale=1 / 66.0, size=nb)  # orders per day while alive
    orders_per = 1 + rng.poisson(rate * lifetime)
    n_orders = int(orders_per.sum())
    owner = np.repeat(np.arange(nb), orders_per)
    first = np.zeros(n_orders, dtype=bool)
    first[np.concatenate(([0], np.cumsum(orders_per)[:-1]))] = True
    offset = np.where(first, 0.0, rng.random(n_orders) * lifetime[owner])
    seconds = rng.integers(8 * 3600, 22 * 3600, n_orders)
    when = (
        AS_OF
        - age[owner].astype("timedelta64[D]")
        + np.floor(offset).astype("timedelta64[D]")
        - np.timedelta64(12, "h")
        + seconds.astype("timedelta64[s]")
    )
    when = np.minimum(when, AS_OF - np.timedelta64(1, "h"))
    lines_per = 1 + rng.poisson(1.6, n_orders)
    n_lines = int(lines_per.sum())
    spend_scale = rng.lognormal(3.0, 0.6, nb)
    line_order = np.repeat(np.arange(n_orders), lines_per)
    amount = np.round(rng.gamma(4.0, spend_scale[owner[line_order]] / 4.0), 2)
    category = np.array(CATEGORIES, dtype=object)[
        np.minimum(rng.geometric(0.35, n_lines) - 1, len(CATEGORIES) - 1)
    ]
    totals = np.round(np.bincount(line_order, weights=amount, minlength=n_orders), 2)
    status = np.where(
        rng.random(n_orders) < 0.03,
        "cancelled",
        np.where(rng.random(n_orders) < 0.5, "paid", "shipped"),
    )
    first_order = int(db.execute("SELECT coalesce(max(id), 0) FROM sales_order").fetchone()[0]) + 1
    order_ids = np.arange(first_order, first_order + n_orders, dtype=np.int64)
    order_sql = (
        "INSERT INTO sales_order (id, created_at, updated_at, number, ordered_at, status, total,"
        " currency, contact_id, tenant_id) VALUES (?, ?, ?, ?, ?, ?, ?, 'CNY', ?, ?)"
    )
    for start in range(0, n_orders, CHUNK):
        part = slice(start, start + CHUNK)
        stamps = stamp(when[part])
        cur.executemany(
            order_sql,
            [
                (o, s, s, f"BI-{o}", s, st, t, c, tenant)
                for o, s, st, t, c in zip(
                    order_ids[part].tolist(),
                    stamps,
                    status[part].tolist(),
                    totals[part].tolist(),
                    buyers[owner[part]].tolist(),
                    strict=True,
                )
            ],
        )
    log(f"  {n_orders} orders")
    line_sql = (
        "INSERT INTO sales_orderline (created_at, updated_at, description, category, quantity,"
        " unit_price, amount, order_id, tenant_id) VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?)"
    )
    for start in range(0, n_lines, CHUNK):
        part = slice(start, start + CHUNK)
        cur.executemany(
            line_sql,
            [
                (now, now, cat, cat, a, a, o, tenant)
                for cat, a, o in zip(
                    category[part].tolist(),
                    amount[part].tolist(),
                    order_ids[line_order[part]].tolist(),
                    strict=True,
                )
            ],
        )
    log(f"  {n_lines} order lines")

    n_act = n // 2
    kinds = np.array(["call", "email", "meeting", "visit", "note"], dtype=object)
    act_contact = contact_ids[rng.integers(0, n, n_act)]
    act_at = AS_OF - rng.integers(0, 180 * 86400, n_act).astype("timedelta64[s]")
    act_kind = kinds[rng.integers(0, len(kinds), n_act)]
    act_sql = (
        "INSERT INTO activities_activity (created_at, updated_at, kind, subject, body, at,"
        " outcome, record_type, record_id, tenant_id) VALUES (?, ?, ?, 'Check-in', '', ?, '',"
        " 'contact', ?, ?)"
    )
    for start in range(0, n_act, CHUNK):
        part = slice(start, start + CHUNK)
        cur.executemany(
            act_sql,
            [
                (s, s, k, s, c, tenant)
                for s, k, c in zip(
                    stamp(act_at[part]),
                    act_kind[part].tolist(),
                    act_contact[part].tolist(),
                    strict=True,
                )
            ],
        )
    log(f"  {n_act} activities")
    db.commit()
    return {
        "contacts": n,
        "buyers": nb,
        "orders": n_orders,
        "order_lines": n_lines,
        "activities": n_act,
    }


def build_data(n: int) -> tuple[Path, dict[str, Any]]:
    data_dir = ROOT / "benchmarks" / f".data-insights-{n}"
    marker = data_dir / ".complete"
    if marker.exists():
        log(f"reusing {data_dir.relative_to(ROOT)} (crm migrate)")
        migrate(data_dir)
        return data_dir, json.loads(marker.read_text())
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    log(f"building {data_dir.relative_to(ROOT)}: crm migrate + {n} customers")
    started = time.perf_counter()
    migrate(data_dir)
    db = sqlite3.connect(data_dir / "crm.sqlite3")
    try:
        db.execute("PRAGMA synchronous=OFF")
        built = build_rows(db, n)
        db.execute("ANALYZE")
    finally:
        db.close()
    built["build_seconds"] = round(time.perf_counter() - started, 1)
    marker.write_text(json.dumps(built))
    log(f"  built in {built['build_seconds']} s")
    return data_dir, built


def measure(data_dir: Path, slug: str, now: str | None = None) -> dict[str, Any]:
    """One recompute in a fresh child process; its time, CPU and peak memory."""
    load_before = os.getloadavg()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", RECOMPUTE, slug, *([now] if now else [])],
        env=crm_env(data_dir),
        cwd=ROOT,
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    child = json.loads(done.stdout.strip().splitlines()[-1])
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    # RUSAGE_CHILDREN's maxrss is the largest of all children so far (crm migrate, an earlier
    # measurement): the child's own figure is the one of this recompute
    peak = float(child["child_maxrss_mib"])
    return {
        "wall_seconds": round(wall, 2),
        "cpu_seconds": round(cpu, 2),
        "peak_rss_mib": round(peak, 1),
        "children_maxrss_mib": round(after.ru_maxrss / 1024, 1),
        **child,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "within_targets": child["status"] == "succeeded"
        and child["service_seconds"] < TARGET_SECONDS
        and peak < TARGET_RSS_MIB,
    }


def main() -> None:
    result: dict[str, Any] = {
        "python": sys.version.split()[0],
        "cpu_count": os.cpu_count(),
        "targets": {"seconds": TARGET_SECONDS, "peak_rss_mib": TARGET_RSS_MIB},
    }
    data_dir, built = build_data(CUSTOMERS)
    # the synthetic data ends on AS_OF: the recompute runs as of then (the demo's, as of today)
    as_of = f"{AS_OF}+00:00"
    result["synthetic"] = {"data": built, "as_of": as_of, **measure(data_dir, TENANT_SLUG, as_of)}
    log(f"synthetic: {json.dumps(result['synthetic'])}")
    if DEMO_CONTACTS:
        demo_dir = ROOT / "benchmarks" / f".data-{DEMO_CONTACTS}"
        if (demo_dir / ".complete").exists():
            log(f"demo tenant of {demo_dir.relative_to(ROOT)} (crm migrate)")
            migrate(demo_dir)
            result["demo"] = {"contacts": DEMO_CONTACTS, **measure(demo_dir, "demo")}
        else:
            result["demo"] = {"skipped": f"{demo_dir.relative_to(ROOT)} not built (bench_api.py)"}
    text = json.dumps(result, indent=2, ensure_ascii=False)
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "insights.json").write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
