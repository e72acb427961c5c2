"""What the contacts table's indexes cost a bulk insert on SQLite: an exploration, not part of
``make bench`` (run_all.py runs ``bench_*.py`` only).

The import's ceiling on SQLite is what the database takes (see bench_import.py). This script
inserts the same BENCH_EXPLORE_ROWS stored contact rows (default 200,000: copies of existing
rows with new random blind indexes and external IDs, as an import of new people would store)
with plain sqlite3 ``executemany`` into a copy of the 500,000-contact benchmark database, in
batches of BENCH_EXPLORE_BATCH rows (default 20,000, the import's) with the import's page cache,
once per variant of the schema:

* ``as_is``: the twelve indexes of today;
* ``no_fk_singles``: without the three single-column indexes Django adds for tenant, owner and
  account (cascades on a deleted account or member use them);
* ``no_name_keys``: without the name, pinyin and initials search indexes;
* ``no_blind_indexes``: without the email and phone blind-index indexes;
* ``no_random_keys``: without all eight above, then each of them built again (``rebuild_seconds``,
  and ``rows_per_second_with_rebuild``: what a bulk load that drops and rebuilds them would take);
* ``batches_50k``, ``batches_100k``, ``one_commit``: as is, in bigger batches (every commit
  writes each index page its batch dirtied; 500,000 rows on 2026-12-07: 11,801 rows/s in
  batches of 20,000, 21,300 in batches of 100,000, 22,115 in one transaction). The import
  itself gains little from bigger batches (6,272 vs 5,983 and 6,280 rows/s on the same
  500,000 rows): its Python work, not SQLite, is most of its time;
* ``vacuumed``: as is, on a VACUUMed copy (indexes packed by a rebuild).

``BENCH_EXPLORE_VARIANTS=as_is,no_random_keys`` runs only those. Prints JSON (rows/s, seconds
inside executemany and inside COMMIT per variant) and writes
benchmarks/results/explore_contact_indexes.json. Each variant copies the database (2 GB at
500,000 contacts), so the whole takes a few minutes. Figures vary by ±15 % run to run on a shared
machine: compare variants of one run.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_api import build_data, log

N = int(os.environ.get("BENCH_CONTACTS", "500000"))
ROWS = int(os.environ.get("BENCH_EXPLORE_ROWS", "200000"))
BATCH = int(os.environ.get("BENCH_EXPLORE_BATCH", "20000"))
CACHE_KIB = 262_144  # crm.integrations.bulk.IMPORT_CACHE_KIB
RESULTS = Path(__file__).resolve().parent / "results" / "explore_contact_indexes.json"
FK_SINGLES = (
    "customers_contact_account_id_aa150ac5",
    "customers_contact_owner_id_2fff17f2",
    "customers_contact_tenant_id_c7f2d2ca",
)
NAME_KEYS = ("contact_name_live_idx", "contact_pinyin_live_idx", "contact_initials_live_idx")
BLIND = ("contact_email_idx", "contact_phone_idx")
VARIANTS: dict[str, dict[str, Any]] = {
    "as_is": {},
    "no_fk_singles": {"drop": FK_SINGLES},
    "no_name_keys": {"drop": NAME_KEYS},
    "no_blind_indexes": {"drop": BLIND},
    "no_random_keys": {"drop": FK_SINGLES + NAME_KEYS + BLIND, "rebuild": True},
    "batches_50k": {"batch": 50_000},
    "batches_100k": {"batch": 100_000},
    "one_commit": {"batch": 10**9},
    "vacuumed": {"vacuum": True},
}


def new_rows(db: Path) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Existing rows (random ones) made new: fresh blind indexes and external IDs."""
    source = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    columns = [r[1] for r in source.execute("PRAGMA table_info(customers_contact)") if r[1] != "id"]
    picked = source.execute(
        f"SELECT {', '.join(columns)} FROM customers_contact"  # nosec B608 - names from PRAGMA
        f" ORDER BY random() LIMIT {int(ROWS)}"
    ).fetchall()
    source.close()
    rnd = random.Random(1)
    email, phone, external = (
        columns.index(c) for c in ("email_index", "phone_index", "external_id")
    )
    rows = []
    for i, row in enumerate(picked):
        values = list(row)
        values[email] = f"{rnd.getrandbits(128):032x}"
        values[phone] = f"{rnd.getrandbits(128):032x}"
        values[external] = f"X{i}"
        rows.append(tuple(values))
    return columns, rows


def insert(
    db: Path, columns: list[str], rows: list[tuple[Any, ...]], **variant: Any
) -> dict[str, Any]:
    raw = sqlite3.connect(db, isolation_level=None)
    raw.executescript(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA temp_store=MEMORY;"
        f" PRAGMA mmap_size=268435456; PRAGMA cache_size=-{CACHE_KIB};"
    )
    dropped = []
    for name in variant.get("drop", ()):
        (create,) = raw.execute("SELECT sql FROM sqlite_master WHERE name = ?", [name]).fetchone()
        dropped.append(create)
        raw.execute(f'DROP INDEX "{name}"')
    if variant.get("vacuum"):
        raw.execute("VACUUM")
    raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    sql = (
        f"INSERT INTO customers_contact ({', '.join(columns)})"  # nosec B608 - names from PRAGMA
        f" VALUES ({', '.join('?' * len(columns))})"
    )
    batch = variant.get("batch", BATCH)
    in_insert = in_commit = 0.0
    started = time.perf_counter()
    for start in range(0, len(rows), batch):
        before = time.perf_counter()
        raw.execute("BEGIN")
        raw.executemany(sql, rows[start : start + batch])
        between = time.perf_counter()
        raw.execute("COMMIT")
        in_commit += time.perf_counter() - between
        in_insert += between - before
    seconds = time.perf_counter() - started
    result = {
        "rows_per_second": round(len(rows) / seconds),
        "insert_seconds": round(in_insert, 1),
        "commit_seconds": round(in_commit, 1),
        "rows_per_batch": batch,
    }
    if variant.get("rebuild"):
        before = time.perf_counter()
        for create in dropped:
            raw.execute(create)
        rebuild = time.perf_counter() - before
        result["rebuild_seconds"] = round(rebuild, 1)
        result["rows_per_second_with_rebuild"] = round(len(rows) / (seconds + rebuild))
    raw.close()
    return result


def main() -> None:
    cached, _built = build_data(N)
    scratch = Path(tempfile.mkdtemp(prefix="crm-explore-indexes-"))
    try:
        columns, rows = new_rows(cached / "crm.sqlite3")
        out: dict[str, Any] = {"rows": len(rows), "contacts_before": N, "variants": {}}
        chosen = os.environ.get("BENCH_EXPLORE_VARIANTS", "")
        picked = [v for v in chosen.split(",") if v] or list(VARIANTS)
        for name, variant in ((n, VARIANTS[n]) for n in picked):
            copy = scratch / "crm.sqlite3"
            shutil.copyfile(cached / "crm.sqlite3", copy)
            log(f"{name}")
            out["variants"][name] = insert(copy, columns, rows, **variant)
            log(f"{name}: {out['variants'][name]}")
            copy.unlink()
            for suffix in ("-wal", "-shm"):
                copy.with_name(copy.name + suffix).unlink(missing_ok=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    out["load_average"] = [round(x, 2) for x in os.getloadavg()]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
