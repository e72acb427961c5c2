"""Lead flow benchmarks: assignment throughput with 8 concurrent clients, capture-to-assigned
latency, and scoring 100,000 leads.

    .venv/bin/python benchmarks/bench_leads.py [--leads 2000] [--clients 8]

SQLite: a fresh FILE database in WAL mode (the default settings) under a temporary data
directory, migrated with `crm migrate`. PostgreSQL too when CRM_BENCH_PG_URL is set
(postgres://user@host:port/anydb — a database per run is created there and dropped after).
Prints JSON and writes benchmarks/results/leads.json.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import queue
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "src"))

from tests.leads import workers  # noqa: E402  (the same process code the tests use)

SPAWN = multiprocessing.get_context("spawn")


def run_in_process(fn: Any, *args: Any) -> Any:
    with ProcessPoolExecutor(max_workers=1, mp_context=SPAWN) as pool:
        return pool.submit(fn, *args).result()


def parallel(target: Any, args_for: Any, n: int) -> list[dict[str, Any]]:
    barrier = SPAWN.Barrier(n)
    results = SPAWN.Queue()
    procs = [SPAWN.Process(target=target, args=(*args_for(i), barrier, results)) for i in range(n)]
    for p in procs:
        p.start()
    out: list[dict[str, Any]] = []
    while len(out) < n:
        try:
            out.append(results.get(timeout=2))
        except queue.Empty:
            if all(p.exitcode is not None for p in procs) and results.empty():
                codes = [p.exitcode for p in procs]
                raise RuntimeError(f"a worker died: exit codes {codes}") from None
    for p in procs:
        p.join()
    return out


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    k = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def _with_db(url: str, name: str) -> str:
    p = urlsplit(url)
    return urlunsplit((p.scheme, p.netloc, f"/{name}", p.query, p.fragment))


def fresh_env(vendor: str, pg_url: str, data_dir: Path) -> tuple[dict[str, str], str]:
    if vendor == "sqlite":
        return {"CRM_DATA_DIR": str(data_dir), "CRM_DATABASE_URL": ""}, ""
    import psycopg

    name = f"crm_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(_with_db(pg_url, "postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return {"CRM_DATA_DIR": str(data_dir), "CRM_DATABASE_URL": _with_db(pg_url, name)}, name


def drop(pg_url: str, name: str) -> None:
    if not name:
        return
    import psycopg

    with psycopg.connect(_with_db(pg_url, "postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def migrate(env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "-m", "crm.cli", "migrate", "--no-input", "-v", "0", "--skip-checks"],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "crm.settings", **env},
        cwd=REPO,
        check=True,
    )


def bench_backend(vendor: str, pg_url: str, leads: int, clients: int) -> dict[str, Any]:
    per_client = leads // clients
    with tempfile.TemporaryDirectory(prefix=f"crm-bench-{vendor}-") as tmp:
        env, dbname = fresh_env(vendor, pg_url, Path(tmp))
        try:
            migrate(env)
            # 1. Pure assignment: `leads` unowned leads, `clients` processes assigning at once.
            teams = {"wide": [leads] * 8, "narrow": [30] * 4}
            setup = run_in_process(workers.setup_assignment, env, teams)
            tenant = setup["tenant_id"]
            ids = run_in_process(workers.create_unassigned, env, tenant, per_client * clients)
            chunks = [ids[i::clients] for i in range(clients)]
            out = parallel(workers.assign_worker, lambda i: (env, tenant, chunks[i]), clients)
            wall = max(r["ended"] for r in out) - min(r["started"] for r in out)
            assign_lat = [x for r in out for x in r["latencies"]]
            check = run_in_process(workers.verify_assignment, env, tenant)
            # 2. Capture (duplicate check + score + assign) by `clients` processes at once.
            setup2 = run_in_process(workers.setup_assignment, env, teams)
            tenant2 = setup2["tenant_id"]
            reports = parallel(
                workers.capture_worker, lambda i: (env, tenant2, i, per_client, 0), clients
            )
            capture_wall = max(r["ended"] for r in reports) - min(r["started"] for r in reports)
            capture_lat = [x[2] for r in reports for x in r["leads"]]
            # 3. One client alone: the latency without contention.
            setup3 = run_in_process(workers.setup_assignment, env, teams)
            single = parallel(
                workers.capture_worker, lambda i: (env, setup3["tenant_id"], 99, 200, 0), 1
            )
            single_lat = [x[2] for x in single[0]["leads"]]
        finally:
            drop(pg_url, dbname)
    return {
        "assignments": len(assign_lat),
        "assignments_per_second_8_clients": round(len(assign_lat) / wall, 1),
        "assign_p50_ms": round(statistics.median(assign_lat) * 1000, 1),
        "assign_p95_ms": round(percentile(assign_lat, 95) * 1000, 1),
        "leads_with_two_owners": check["leads_with_several_assignments"],
        "members_over_capacity": sum(
            1 for m in check["members"].values() if m["open"] > m["capacity"]
        ),
        "captures_per_second_8_clients": round(len(capture_lat) / capture_wall, 1),
        "capture_to_assigned_p50_ms_8_clients": round(statistics.median(capture_lat) * 1000, 1),
        "capture_to_assigned_p95_ms_8_clients": round(percentile(capture_lat, 95) * 1000, 1),
        "capture_to_assigned_p50_ms_1_client": round(statistics.median(single_lat) * 1000, 1),
        "capture_to_assigned_p95_ms_1_client": round(percentile(single_lat, 95) * 1000, 1),
        "capture_errors": sum(len(r["errors"]) for r in reports),
    }


def bench_scoring(n: int = 100_000) -> dict[str, Any]:
    import sklearn.calibration  # noqa: F401  (import time is not training time)

    from crm.sales import scoring

    facts, converted, order = scoring.synthetic_leads(n, seed=7)
    weights = scoring.RuleWeights()
    t = time.perf_counter()
    train = scoring.train_model(facts.take(slice(0, 5000)), converted[:5000], order[:5000], weights)
    train_s = time.perf_counter() - t
    t = time.perf_counter()
    rules = scoring.score_with_rules(facts, weights)
    rules_s = time.perf_counter() - t
    t = time.perf_counter()
    model = scoring.score_with_model(train.params, facts)
    model_s = time.perf_counter() - t
    t = time.perf_counter()
    reasons = [model.reasons(i) for i in range(n)]
    reasons_s = time.perf_counter() - t
    assert len(rules) == len(model) == len(reasons) == n
    return {
        "leads": n,
        "rules_seconds": round(rules_s, 3),
        "model_seconds": round(model_s, 3),
        "reason_lists_seconds": round(reasons_s, 3),
        "train_5000_seconds": round(train_s, 3),
        "model_auc_holdout": round(train.model.auc, 3),
        "rules_auc_holdout": round(train.rules.auc, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    result: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_at_start": list(os.getloadavg()),
        },
        "scoring": bench_scoring(),
        "sqlite": bench_backend("sqlite", "", args.leads, args.clients),
    }
    pg_url = os.environ.get("CRM_BENCH_PG_URL", "")
    if pg_url:
        result["postgresql"] = bench_backend("postgresql", pg_url, args.leads, args.clients)
    result["machine"]["load_average_at_end"] = list(os.getloadavg())
    text = json.dumps(result, indent=2)
    print(text)
    out = REPO / "benchmarks" / "results" / "leads.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")


if __name__ == "__main__":
    main()
