"""Duplicate scan, export and import of BENCH_CONTACTS contacts (default 500,000) on SQLite.

1. The existing tenant is the demo tenant of the benchmark database that ``bench_api.py``
   builds once (``benchmarks/.data-<N>/``: ``crm demo --contacts N``, ~N contacts with their
   accounts, leads, deals and orders). It is copied (SQLite backup) into a scratch directory:
   the cached database is never changed.
2. A CSV export of all the tenant's contacts with personal data (rows/s). (The duplicate scan
   of the same contacts is ``bench_dedupe.py``.)
3. BENCH_CONTACTS new contacts are imported from CSV into that tenant by ``crm import_run`` in
   a child process: validation, normalisation, encryption, blind indexes, name keys and the
   duplicate check against the existing contacts. Measured: rows/s, the child's peak memory
   (VmHWM, and at each quarter of the rows), and the same for an import of a tenth of the rows
   in batches of the same size. Memory is bounded by the batch size and the import's page
   cache, not by the file: it climbs while that cache fills, then stays.
4. The rows the import stored from the file's first BENCH_COMPARED_ROWS rows (default
   200,000; all of them when smaller) are inserted with plain sqlite3 executemany, as many
   rows per transaction as the import's batches, into a copy of the database taken before
   step 3 (same table, indexes and existing rows; the page cache and mmap settings of the
   import's connection): the fastest the database itself takes those rows. The ratio is the
   import's rows/s over those same first rows (from the moment its committed position passed them)
   over executemany rows/s. (Comparing a part keeps the whole script within its share of
   ``make bench``; the import itself always runs to the end.)

Prints JSON and writes benchmarks/results/import.json.
"""

from __future__ import annotations

import csv
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_api import build_data, crm_env, log

N = int(os.environ.get("BENCH_CONTACTS", "500000"))
# The executemany baseline takes the rows stored from the file's first COMPARED rows; the
# import's rate over those same rows (the time its position reached COMPARED) is compared.
COMPARED = min(N, int(os.environ.get("BENCH_COMPARED_ROWS", "200000")))
ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results" / "import.json"
CRM = str(Path(sys.executable).with_name("crm"))
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡"
    "余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯"
    "龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
GIVEN = (
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华建国志红玉梅林文斌宇浩凯鹏飞鑫"
    "波辉婷雪琳晨欣怡佳瑶子涵博思雨萱俊"
)
LATIN_FIRST = ["James", "Mary", "John", "Linda", "David", "Susan", "Wei", "Li", "Anna", "Peter"]
LATIN_LAST = [
    "Smith",
    "Brown",
    "Wang",
    "Chen",
    "Miller",
    "Davis",
    "Garcia",
    "Lee",
    "Walker",
    "Hall",
]


def write_csv(path: Path, count: int, tag: str, seed: int) -> None:
    rnd = random.Random(seed)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["外部编号", "姓名", "邮箱", "手机", "公司", "城市", "职位"])
        for i in range(count):
            if rnd.random() < 0.8:
                name = rnd.choice(SURNAMES) + "".join(
                    rnd.choice(GIVEN) for _ in range(rnd.choice((1, 2)))
                )
            else:
                name = f"{rnd.choice(LATIN_FIRST)} {rnd.choice(LATIN_LAST)}"
            phone = f"1{rnd.choice('3589')}{rnd.randrange(10**9):09d}"
            writer.writerow(
                [
                    f"{tag}{i}",
                    name,
                    f"{tag}{i}@example.com",
                    phone,
                    f"公司{rnd.randrange(2000)}",
                    rnd.choice(["上海", "北京", "深圳", "杭州", ""]),
                    rnd.choice(["经理", "总监", "", "Engineer"]),
                ]
            )


def contact_count() -> int:
    from crm.customers.models import Contact

    return Contact.objects.filter(deleted_at__isnull=True).count()


def child_import(
    env: dict[str, str], job_id: int, db: Path, rows: int, mark: int = 0
) -> tuple[float, int, float, dict[str, dict[str, float]]]:
    """Run `crm import_run` as a child: (seconds, its peak RSS in kB, seconds to row `mark`,
    its peak memory in MB by the time a quarter, half, three quarters and all of `rows` were in).

    Of each peak, `rss` is the whole resident set (with the pages of the database file that
    SQLite maps into memory, which the kernel can drop at will) and `anon` the process's own
    memory (Python objects and SQLite's page cache, both bounded by the batch size and
    IMPORT_CACHE_KIB).

    The peak is the child's own VmHWM, polled from /proc: ``ru_maxrss`` from wait4 would also
    count this (bigger) parent process, whose high-water mark Linux carries into a child
    started by fork/vfork + exec. Times and shares of the rows go by the job's recorded
    position (committed batch by batch).
    """
    from django.db import connection

    connection.close()  # the child must see every row this process wrote
    started = time.perf_counter()
    child = subprocess.Popen(
        [CRM, "import_run", "--job", str(job_id)], env=env, stdout=subprocess.DEVNULL
    )
    status_file = Path(f"/proc/{child.pid}/status")
    watch = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    peak_kb, anon_kb, mark_seconds = 0, 0, 0.0
    quarters = {"25%": rows // 4, "50%": rows // 2, "75%": rows * 3 // 4}
    peak_at: dict[str, dict[str, float]] = {}
    while child.poll() is None:
        try:
            for line in status_file.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak_kb = max(peak_kb, int(line.split()[1]))
                elif line.startswith("RssAnon:"):
                    anon_kb = max(anon_kb, int(line.split()[1]))
        except (FileNotFoundError, ProcessLookupError):
            pass
        row = watch.execute(
            "SELECT position FROM integrations_importjob WHERE id = ?", [job_id]
        ).fetchone()
        position = row[0] if row else 0
        if mark and not mark_seconds and position >= mark:
            mark_seconds = time.perf_counter() - started
        for label, at in quarters.items():
            if label not in peak_at and position >= at:
                peak_at[label] = {"rss": round(peak_kb / 1024, 1), "anon": round(anon_kb / 1024, 1)}
        time.sleep(0.1)
    watch.close()
    seconds = time.perf_counter() - started
    if child.returncode != 0:
        raise SystemExit(f"import_run failed with status {child.returncode}")
    peak_at["100%"] = {"rss": round(peak_kb / 1024, 1), "anon": round(anon_kb / 1024, 1)}
    return seconds, peak_kb, mark_seconds or seconds, peak_at


def copy_database(source: Path, target: Path) -> None:
    """The cached benchmark data into a scratch directory; the database by SQLite's backup."""
    target.mkdir(parents=True, exist_ok=True)
    for name in ("field_keys.json", "secret_key"):
        shutil.copy2(source / name, target / name)
    src = sqlite3.connect(source / "crm.sqlite3")
    dst = sqlite3.connect(target / "crm.sqlite3")
    with dst:
        src.backup(dst)
    dst.execute("PRAGMA journal_mode=WAL")
    src.close()
    dst.close()
    os.sync()  # the copy's writeback must not slow down what is measured next


def executemany_rate(
    db: Path, columns: list[str], rows: list[tuple[Any, ...]], batch: int, cache_kib: int
) -> float:
    raw = sqlite3.connect(db)
    raw.executescript(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA temp_store=MEMORY;"
        f" PRAGMA mmap_size=268435456; PRAGMA cache_size=-{int(cache_kib)};"
    )
    marks = ", ".join("?" * len(columns))
    insert = f"INSERT INTO customers_contact ({', '.join(columns)}) VALUES ({marks})"  # nosec B608 - names from PRAGMA table_info
    started = time.perf_counter()
    for start in range(0, len(rows), batch):
        with raw:
            raw.executemany(insert, rows[start : start + batch])
    rate = len(rows) / (time.perf_counter() - started)
    raw.close()
    return rate


def main() -> None:
    bench_started = time.perf_counter()
    load_at_start = os.getloadavg()[0]
    cached, _built = build_data(N)
    data = Path(tempfile.mkdtemp(prefix="crm-bench-import-"))
    log(f"copying {cached.name} to {data}")
    copy_database(cached, data)
    env = {
        **crm_env(data),
        "CRM_LOG_LEVEL": "ERROR",
        "CRM_IMPORT_MAX_BYTES": str(2 * 1024**3),
    }
    os.environ.update(env)

    import django

    django.setup()
    from django.db import connection

    from crm.core.context import tenant_context
    from crm.integrations import services
    from crm.integrations.bulk import IMPORT_CACHE_KIB, batch_rows
    from crm.integrations.export import Export
    from crm.integrations.export import write_csv as export_csv
    from crm.integrations.models import ImportJob
    from crm.tenancy.models import Membership, Tenant

    tenant = Tenant.objects.get(slug="demo")
    with tenant_context(tenant.pk):
        admin = Membership.objects.select_related("user").get(user__username="admin")
        existing = contact_count()

    with tenant_context(tenant.pk):
        log("export")
        export = Export(actor=admin, target="contact", filters={}, include_pii=True)
        started = time.perf_counter()
        exported = export_csv(export, data / "export.csv")
        export_seconds = time.perf_counter() - started

    def queue(path: Path, batch_size: int = 0) -> int:
        with tenant_context(tenant.pk), path.open("rb") as handle:
            job = services.import_upload(
                actor=admin, upload=handle, file_name=path.name, target="contact"
            )
            services.import_configure(
                actor=admin, job=job, options={"match_on": ["external_id", "email", "phone"]}
            )
            if batch_size:
                ImportJob.objects.filter(pk=job.pk).update(batch_size=batch_size)
                job.refresh_from_db()
            services.import_start(actor=admin, job=job)
            return job.pk

    new_csv, small_csv = data / "new.csv", data / "small.csv"
    write_csv(new_csv, N, "N", 2)
    write_csv(small_csv, max(N // 10, 1), "M", 3)
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        cursor.execute("SELECT max(id) FROM customers_contact")
        (last_id,) = cursor.fetchone()
    job_id = queue(new_csv)
    connection.close()
    copy = data / "copy"
    copy_database(data, copy)

    log(f"import of {N} rows")
    seconds, peak_kb, mark_seconds, peak_at = child_import(
        env, job_id, data / "crm.sqlite3", N, COMPARED
    )
    with tenant_context(tenant.pk):
        job = ImportJob.objects.get(pk=job_id)
    import_rate = N / seconds

    log("executemany of the same rows")
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA table_info(customers_contact)")
        columns = [r[1] for r in cursor.fetchall() if r[1] != "id"]
        cursor.execute(
            f"SELECT {', '.join(columns)} FROM customers_contact"  # nosec B608 - names from PRAGMA table_info
            " WHERE id > %s ORDER BY id",
            [last_id],
        )
        # the rows stored from the file's first COMPARED rows (external IDs N0, N1, ...)
        external = columns.index("external_id")
        rows = [r for r in cursor.fetchall() if int(r[external][1:]) < COMPARED]
    connection.close()
    batch = batch_rows(0, N)  # the import's own batches, page cache as the import's run
    raw_rate = executemany_rate(copy / "crm.sqlite3", columns, rows, batch, IMPORT_CACHE_KIB)
    del rows
    shutil.rmtree(copy, ignore_errors=True)

    log(f"import of {max(N // 10, 1)} rows (memory)")
    # the same batches as the big run: memory that grew with the file would show here
    small_id = queue(small_csv, batch)
    _small_seconds, small_peak_kb, _mark, _at = child_import(
        env, small_id, data / "crm.sqlite3", max(N // 10, 1)
    )

    result = {
        "contacts": N,
        "existing_contacts_before_import": existing,
        "import": {
            "rows_per_second": round(import_rate),
            "seconds": round(seconds, 1),
            "created": job.created_count,
            "skipped_or_failed": job.skipped_count + job.failed_count,
            "peak_rss_mb": round(peak_kb / 1024, 1),
            "peak_rss_mb_by_share_of_rows_done": peak_at,
            "peak_rss_mb_tenth_of_the_rows": round(small_peak_kb / 1024, 1),
            "compared_rows": COMPARED,
            "rows_per_second_first_compared_rows": round(COMPARED / mark_seconds),
            "rows_per_batch": batch,
            "sqlite_executemany_rows_per_second": round(raw_rate),
            "ratio_to_executemany": round(COMPARED / mark_seconds / raw_rate, 3),
        },
        "export_csv": {
            "rows": exported,
            "seconds": round(export_seconds, 1),
            "rows_per_second": round(exported / export_seconds),
        },
        "targets": {"import_rows_per_second": 20000},
        "cpus": os.cpu_count(),
        "load_average_at_start": load_at_start,
        "load_average_at_end": os.getloadavg()[0],
        "bench_seconds": round(time.perf_counter() - bench_started, 1),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
