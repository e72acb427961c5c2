"""Import, duplicate scan and export of BENCH_CONTACTS contacts (default 500,000) on SQLite.

1. A tenant is filled with BENCH_CONTACTS contacts (imported from CSV; this is the seed).
2. Another BENCH_CONTACTS contacts are imported from CSV into that tenant by `crm import_run`
   in a child process: validation, normalisation, encryption, blind indexes, name keys and the
   duplicate check against the existing contacts. Measured: rows/s, the child's peak memory
   (ru_maxrss), and the same import of a tenth of the rows for comparison (flat memory means
   both peaks are about the same).
3. The same stored rows are inserted with plain sqlite3 executemany into a copy of the
   database taken before step 2 (same table, indexes and existing rows): the fastest the
   database itself takes those rows. The ratio is import rows/s / executemany rows/s.
4. A duplicate scan of all contacts, and a CSV export of all contacts (rows/s).

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

N = int(os.environ.get("BENCH_CONTACTS", "500000"))
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


def child_import(env: dict[str, str], job_id: int) -> tuple[float, int]:
    """Run `crm import_run` as a child; (seconds, peak RSS in kB of that child)."""
    from django.db import connection

    connection.close()  # the child must see every row this process wrote
    started = time.perf_counter()
    child = subprocess.Popen(
        [CRM, "import_run", "--job", str(job_id)], env=env, stdout=subprocess.DEVNULL
    )
    _pid, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"import_run failed with status {status}")
    return seconds, usage.ru_maxrss


def main() -> None:
    data = Path(tempfile.mkdtemp(prefix="crm-bench-import-"))
    env = {
        **os.environ,
        "CRM_DATA_DIR": str(data),
        "DJANGO_SETTINGS_MODULE": "crm.settings",
        "CRM_LOG_LEVEL": "ERROR",
        "CRM_IMPORT_MAX_BYTES": str(2 * 1024**3),
    }
    env.pop("CRM_DATABASE_URL", None)
    os.environ.update(env)
    subprocess.run([CRM, "migrate", "--skip-checks", "-v", "0"], env=env, check=True)

    import django

    django.setup()
    from crm.core.context import tenant_context
    from crm.integrations import dedupe, services
    from crm.integrations.export import Export
    from crm.integrations.export import write_csv as export_csv
    from crm.integrations.models import DuplicateScan, ImportJob
    from crm.operations.setup import tenant_setup
    from crm.tenancy.services import membership_create, user_create

    tenant = tenant_setup(name="Bench", slug="bench")

    def queue(path: Path) -> int:
        with tenant_context(tenant.pk), path.open("rb") as handle:
            job = services.import_upload(
                actor=admin, upload=handle, file_name=path.name, target="contact"
            )
            services.import_configure(
                actor=admin, job=job, options={"match_on": ["external_id", "email", "phone"]}
            )
            services.import_start(actor=admin, job=job)
            return job.pk

    with tenant_context(tenant.pk):
        admin = membership_create(actor=None, user=user_create(username="bench"), role="admin")
    seed_csv, new_csv, small_csv = data / "seed.csv", data / "new.csv", data / "small.csv"
    write_csv(seed_csv, N, "S", 1)
    write_csv(new_csv, N, "N", 2)
    write_csv(small_csv, max(N // 10, 1), "M", 3)

    seed_seconds, _rss = child_import(env, queue(seed_csv))
    db = data / "crm.sqlite3"
    copy = data / "copy.sqlite3"
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
    shutil.copyfile(db, copy)

    job_id = queue(new_csv)
    seconds, peak_kb = child_import(env, job_id)
    with tenant_context(tenant.pk):
        job = ImportJob.objects.get(pk=job_id)
    import_rate = N / seconds

    # the same rows, plain executemany, into the copy taken before the import
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA table_info(customers_contact)")
        columns = [r[1] for r in cursor.fetchall() if r[1] != "id"]
        cursor.execute(
            f"SELECT {', '.join(columns)} FROM customers_contact"
            " WHERE external_id LIKE 'N%' ORDER BY id"
        )
        rows = cursor.fetchall()
    connection.close()
    raw = sqlite3.connect(copy)
    raw.executescript(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-64000;"
        " PRAGMA temp_store=MEMORY; PRAGMA mmap_size=268435456;"
    )
    marks = ", ".join("?" * len(columns))
    insert = f"INSERT INTO customers_contact ({', '.join(columns)}) VALUES ({marks})"
    started = time.perf_counter()
    for start in range(0, len(rows), 2000):
        with raw:
            raw.executemany(insert, rows[start : start + 2000])
    raw_rate = len(rows) / (time.perf_counter() - started)
    raw.close()
    del rows

    small_id = queue(small_csv)
    _small_seconds, small_peak_kb = child_import(env, small_id)

    with tenant_context(tenant.pk):
        scan = DuplicateScan.objects.create(record_type="contact", created_by=admin)
        started = time.perf_counter()
        scan = dedupe.scan_run(scan.pk)
        scan_seconds = time.perf_counter() - started
        export = Export(actor=admin, target="contact", filters={}, include_pii=True)
        started = time.perf_counter()
        exported = export_csv(export, data / "export.csv")
        export_rate = exported / (time.perf_counter() - started)

    result = {
        "contacts": N,
        "existing_contacts_before_import": N,
        "import": {
            "rows_per_second": round(import_rate),
            "seconds": round(seconds, 1),
            "created": job.created_count,
            "skipped_or_failed": job.skipped_count + job.failed_count,
            "peak_rss_mb": round(peak_kb / 1024, 1),
            "peak_rss_mb_tenth_of_the_rows": round(small_peak_kb / 1024, 1),
            "sqlite_executemany_rows_per_second": round(raw_rate),
            "ratio_to_executemany": round(import_rate / raw_rate, 3),
            "seed_rows_per_second_into_empty_tenant": round(N / seed_seconds),
        },
        "duplicate_scan": {
            "contacts": scan.scanned,
            "seconds": round(scan_seconds, 1),
            "pairs_found": scan.pairs_found,
        },
        "export_csv": {"rows": exported, "rows_per_second": round(export_rate)},
        "targets": {"import_rows_per_second": 20000, "scan_seconds": 120},
        "cpus": os.cpu_count(),
        "load_average_at_end": os.getloadavg()[0],
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
