"""REST API latency and throughput on a tenant of BENCH_CONTACTS contacts (default 500,000), SQLite.

1. Builds the data once into ``benchmarks/.data-<N>/`` (``crm migrate`` + ``crm demo --contacts
   N``; reused while its ``.complete`` marker exists; git ignores the directory).
2. Starts the production server (``crm serve --no-worker``: gunicorn, gthread workers) on a free
   loopback port over that data directory, and creates an API token for the demo admin.
3. Latency, one client with a keep-alive connection, each request timed by the client (the
   server round trip): contact list page 1 and page 1,000 (offset 49,950), name search (张),
   pinyin search (zhangw), exact email lookup, contact detail and its timeline. p50 / p95 / mean.
4. Throughput: ``BENCH_CLIENTS`` (8) client processes, each with a keep-alive connection, on
   the contact list and on ``GET /api/v1/ping`` (the authenticated trivial endpoint: the
   framework's ceiling) in the same run, ``BENCH_SECONDS`` (10 s) each, taken in
   ``BENCH_SLICES`` (6) short slices that alternate between the two (list, ping, ping, list,
   ...), so a change in the shared machine's load weighs on both alike; requests/s and the
   ratio list / ping.

Targets (issue 2): every p95 under 50 ms; list throughput at least half of ping's.
Prints JSON and writes it to ``benchmarks/results/api.json``.

Knobs: ``BENCH_CONTACTS`` (size), ``BENCH_REQUESTS`` (200 per latency case), ``BENCH_SECONDS``,
``BENCH_SLICES``, ``BENCH_CLIENTS``, ``BENCH_WORKERS`` / ``BENCH_THREADS`` (server; default as
`crm serve`: 2 / 4).

Usage: ``.venv/bin/python benchmarks/bench_api.py``
"""

from __future__ import annotations

import http.client
import json
import multiprocessing
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
CRM = [sys.executable, "-m", "crm.cli"]

CONTACTS = int(os.environ.get("BENCH_CONTACTS", "500000"))
REQUESTS = int(os.environ.get("BENCH_REQUESTS", "200"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "10"))
CLIENTS = int(os.environ.get("BENCH_CLIENTS", "8"))
SLICES = int(os.environ.get("BENCH_SLICES", "6"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
THREADS = int(os.environ.get("BENCH_THREADS", "4"))
P95_TARGET_MS = 50.0
RATIO_TARGET = 0.5

# Runs in a child process against the benchmark data: a token for the demo admin, and sample
# ids and e-mails to look up (decrypted through the ORM). Prints JSON.
SETUP = r"""
import json, random, sys
import django
django.setup()
from crm.activities.models import Activity
from crm.core.context import tenant_context
from crm.customers.models import Account, Contact
from crm.sales.models import Lead, Opportunity, Order, OrderLine, StageChange
from crm.activities.models import Task
from crm.tenancy.models import Membership, Tenant
from crm.tenancy.services import api_token_create

sample = int(sys.argv[1])
tenant = Tenant.objects.get(slug="demo")
with tenant_context(tenant.pk):
    admin = Membership.objects.get(user__username="admin")
    _token, secret = api_token_create(actor=admin, name="benchmark", scopes=("read", "pii"))
    top = Contact.objects.order_by("-id").values_list("id", flat=True).first()
    rng = random.Random(1)
    ids = sorted({rng.randint(1, top) for _ in range(sample * 3)})
    contacts = list(Contact.objects.filter(id__in=ids, deleted_at__isnull=True)[:sample])
    rng.shuffle(contacts)
    rows = {
        model.__name__: model.objects.count()
        for model in (Account, Contact, Lead, Opportunity, StageChange, Order, OrderLine,
                      Activity, Task)
    }
print(json.dumps({
    "token": secret,
    "ids": [c.pk for c in contacts],
    "emails": [[c.email, c.pk] for c in contacts if c.email],
    "rows": rows,
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
    env.update(
        CRM_DATA_DIR=str(data_dir),
        DJANGO_SETTINGS_MODULE="crm.settings",
        # The rate limit would stop a benchmark after a few seconds.
        CRM_API_RATE_LIMIT="1000000000/m",
        CRM_SERVER_LOG_LEVEL="warning",
    )
    return env


def build_data(contacts: int) -> tuple[Path, dict[str, Any]]:
    """The benchmark database: loaded once, then reused while its `.complete` marker exists."""
    data_dir = ROOT / "benchmarks" / f".data-{contacts}"
    marker = data_dir / ".complete"
    if marker.exists():
        # New migrations (indexes, columns) since the data was built apply to it as to any
        # installation; a no-op when there are none.
        log(f"reusing {data_dir.relative_to(ROOT)} (crm migrate)")
        subprocess.run(
            [*CRM, "migrate", "--no-input", "-v", "0"], env=crm_env(data_dir), cwd=ROOT, check=True
        )
        return data_dir, json.loads(marker.read_text())
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    env = crm_env(data_dir)
    log(f"building {data_dir.relative_to(ROOT)}: crm migrate + crm demo --contacts {contacts}")
    subprocess.run([*CRM, "migrate", "--no-input", "-v", "0"], env=env, cwd=ROOT, check=True)
    started, cpu = time.perf_counter(), _children_cpu()
    subprocess.run(
        [*CRM, "demo", "--contacts", str(contacts), "--no-insights"],
        env=env,
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    built = {
        "contacts": contacts,
        "demo_seconds": round(time.perf_counter() - started, 1),
        "demo_cpu_seconds": round(_children_cpu() - cpu, 1),
    }
    marker.write_text(json.dumps(built))
    return data_dir, built


def _children_cpu() -> float:
    usage = os.times()
    return usage.children_user + usage.children_system


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    command = [
        *CRM,
        "serve",
        "--no-worker",
        "--no-collectstatic",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(WORKERS),
        "--threads",
        str(THREADS),
    ]
    (data_dir / "static").mkdir(exist_ok=True)  # STATIC_ROOT; static files are not measured
    server = subprocess.Popen(command, env=crm_env(data_dir), cwd=ROOT, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"crm serve exited with {server.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/api/v1/health")
            if conn.getresponse().status == 200:
                conn.close()
                return server
        except OSError:
            pass
        time.sleep(0.3)
    stop_server(server)
    raise RuntimeError("crm serve did not answer within 120 s")


def stop_server(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


class Client:
    """One keep-alive connection; `get` returns (status, parsed body, seconds)."""

    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self.headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def get(self, path: str, *, parse: bool = True) -> tuple[int, Any, float]:
        started = time.perf_counter()
        try:
            self.conn.request("GET", path, headers=self.headers)
            response = self.conn.getresponse()
            body = response.read()
        except (http.client.HTTPException, OSError):
            # The server closed an idle keep-alive connection: reconnect once.
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            started = time.perf_counter()
            self.conn.request("GET", path, headers=self.headers)
            response = self.conn.getresponse()
            body = response.read()
        elapsed = time.perf_counter() - started
        return response.status, (json.loads(body) if parse else None), elapsed


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def measure(
    client: Client, paths: Callable[[int], str], check: Callable[[Any, int], bool]
) -> dict[str, Any]:
    for i in range(5):  # warm-up: connection, caches
        client.get(paths(i))
    times, failures = [], 0
    for i in range(REQUESTS):
        status, body, seconds = client.get(paths(i))
        times.append(seconds * 1000)
        if status != 200 or not check(body, i):
            failures += 1
    return {
        "p50_ms": round(percentile(times, 50), 2),
        "p95_ms": round(percentile(times, 95), 2),
        "mean_ms": round(statistics.fmean(times), 2),
        "requests": len(times),
        "failures": failures,
    }


def _hammer(port: int, token: str, path: str, seconds: float, out: Any) -> None:
    client = Client(port, token)
    client.get(path, parse=False)
    done, errors = 0, 0
    started = time.perf_counter()
    deadline = started + seconds
    while time.perf_counter() < deadline:
        status, _body, _seconds = client.get(path, parse=False)
        done += 1
        errors += status != 200
    out.put((done, errors, time.perf_counter() - started))


def throughput(port: int, token: str, path: str, seconds: float) -> dict[str, Any]:
    """Requests of CLIENTS processes, each with one keep-alive connection, for `seconds`
    (timed inside each client, from its first timed request to its last answer)."""
    context = multiprocessing.get_context("fork")
    out = context.Queue()
    clients = [
        context.Process(target=_hammer, args=(port, token, path, seconds, out))
        for _ in range(CLIENTS)
    ]
    for process in clients:
        process.start()
    results = [out.get(timeout=seconds + 120) for _ in clients]
    for process in clients:
        process.join()
    return {
        "requests": sum(r[0] for r in results),
        "errors": sum(r[1] for r in results),
        "seconds": max(r[2] for r in results),
    }


def interleaved(port: int, token: str, paths: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Throughput of each path over SECONDS in all, in SLICES short slices taking turns
    (A B, B A, A B, ...): a machine whose load changes during the run then weighs on every
    path alike, instead of on whichever ran while it was busy."""
    totals = {name: {"requests": 0, "errors": 0, "seconds": 0.0} for name in paths}
    names = list(paths)
    for turn in range(SLICES):
        for name in names if turn % 2 == 0 else names[::-1]:
            run = throughput(port, token, paths[name], SECONDS / SLICES)
            for key in ("requests", "errors", "seconds"):
                totals[name][key] += run[key]
    for total in totals.values():
        total["requests_per_s"] = round(total["requests"] / max(total["seconds"], 1e-9), 1)
        total["seconds"] = round(total["seconds"], 1)
    return totals


def main() -> dict[str, Any]:
    data_dir, built = build_data(CONTACTS)
    setup = subprocess.run(
        [sys.executable, "-c", SETUP, str(max(REQUESTS, 50))],
        env=crm_env(data_dir),
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    sample = json.loads(setup.stdout.strip().splitlines()[-1])
    token, ids, emails = sample["token"], sample["ids"], sample["emails"]
    port = free_port()
    log(f"starting crm serve on 127.0.0.1:{port} ({WORKERS} workers x {THREADS} threads)")
    server = start_server(data_dir, port)
    try:
        client = Client(port, token)
        page = "/api/v1/contacts?limit=50"
        full_page: Callable[[Any, int], bool] = lambda body, _i: len(body["items"]) == 50  # noqa: E731
        some: Callable[[Any, int], bool] = lambda body, _i: len(body["items"]) > 0  # noqa: E731
        cases: dict[str, tuple[Callable[[int], str], Callable[[Any, int], bool]]] = {
            "contact_list_page_1": (lambda _i: page, full_page),
            "contact_list_page_1000": (lambda _i: f"{page}&offset=49950", full_page),
            "name_search": (lambda _i: f"{page}&search={quote('张')}", some),
            "pinyin_search": (lambda _i: f"{page}&search=zhangw", some),
            "email_lookup": (
                lambda i: f"{page}&search={quote(emails[i % len(emails)][0])}",
                lambda body, i: [c["id"] for c in body["items"]] == [emails[i % len(emails)][1]],
            ),
            "contact_detail": (
                lambda i: f"/api/v1/contacts/{ids[i % len(ids)]}",
                lambda body, i: body["id"] == ids[i % len(ids)],
            ),
            "contact_timeline": (
                lambda i: f"/api/v1/contacts/{ids[i % len(ids)]}/timeline",
                lambda body, _i: isinstance(body, list | dict),
            ),
        }
        latency = {}
        for name, (paths, check) in cases.items():
            latency[name] = case = measure(client, paths, check)
            log(f"{name:<24} p50 {case['p50_ms']:7.2f} ms  p95 {case['p95_ms']:7.2f} ms")
        runs = interleaved(port, token, {"list": page, "ping": "/api/v1/ping"})
        list_run, ping_run = runs["list"], runs["ping"]
        ratio = list_run["requests_per_s"] / max(ping_run["requests_per_s"], 1e-9)
        log(
            f"throughput ({CLIENTS} clients): list {list_run['requests_per_s']} req/s, "
            f"ping {ping_run['requests_per_s']} req/s, ratio {ratio:.2f}"
        )
    finally:
        stop_server(server)
    database = data_dir / "crm.sqlite3"
    worst_p95 = max(case["p95_ms"] for case in latency.values())
    return {
        "benchmark": "api",
        "contacts": CONTACTS,
        "data": {
            **built,
            "rows": sample["rows"],
            "database_bytes": database.stat().st_size,
        },
        "server": {"command": "crm serve --no-worker", "workers": WORKERS, "threads": THREADS},
        "machine": {"cpus": os.cpu_count(), "load_average": [round(x, 2) for x in os.getloadavg()]},
        "latency": latency,
        "throughput": {
            "clients": CLIENTS,
            "seconds_each": SECONDS,
            "slices_each": SLICES,
            "contact_list": list_run,
            "ping": ping_run,
            "ratio_list_to_ping": round(ratio, 3),
        },
        "targets": {
            "p95_ms": P95_TARGET_MS,
            "worst_p95_ms": worst_p95,
            "p95_met": worst_p95 < P95_TARGET_MS,
            "ratio": RATIO_TARGET,
            "ratio_met": ratio >= RATIO_TARGET,
            "failures": sum(case["failures"] for case in latency.values())
            + list_run["errors"]
            + ping_run["errors"],
        },
    }


if __name__ == "__main__":
    result = main()
    text = json.dumps(result, indent=2, ensure_ascii=False)
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "api.json").write_text(text + "\n")
