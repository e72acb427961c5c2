"""OData feed: page through every contact of a BENCH_CONTACTS tenant (default 500,000), SQLite.

1. Reuses (or builds) ``benchmarks/.data-<N>/`` exactly as ``bench_api.py`` does, then runs
   ``crm migrate`` on it (apps added since the data was built need their tables).
2. Creates a read-only API token (no ``pii`` scope: e-mail, phone and ID number come masked,
   as a BI analyst would read them) and starts the production server (``crm serve
   --no-worker``, gunicorn) on a free loopback port.
3. One client reads ``/odata/v1/Contacts`` and follows ``@odata.nextLink`` to the end, as Power
   BI's refresh does, over one keep-alive connection; each page is timed by the client. Checks
   that every contact arrives exactly once.

Prints JSON (rows, rows/s, pages, p50 / p95 / max page time, first and last page time) and
writes it to ``benchmarks/results/odata.json``.

Knobs: ``BENCH_CONTACTS`` (size), ``BENCH_WORKERS`` / ``BENCH_THREADS`` (server).

Usage: ``.venv/bin/python benchmarks/bench_odata.py``
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_api import (
    CONTACTS,
    CRM,
    RESULTS,
    ROOT,
    Client,
    build_data,
    crm_env,
    free_port,
    log,
    percentile,
    start_server,
    stop_server,
)

SETUP = r"""
import json
import django
django.setup()
from crm.core.context import tenant_context
from crm.customers.models import Contact
from crm.tenancy.models import Membership, Tenant
from crm.tenancy.services import api_token_create

tenant = Tenant.objects.get(slug="demo")
with tenant_context(tenant.pk):
    admin = Membership.objects.get(user__username="admin")
    _token, secret = api_token_create(actor=admin, name="odata benchmark", scopes=("read",))
    visible = Contact.objects.filter(deleted_at__isnull=True).count()
print(json.dumps({"token": secret, "contacts": visible}))
"""


def prepare(data_dir: Path) -> dict[str, Any]:
    env = crm_env(data_dir)
    subprocess.run([*CRM, "migrate", "--no-input", "-v", "0"], env=env, cwd=ROOT, check=True)
    done = subprocess.run(
        [sys.executable, "-c", SETUP],
        env=env,
        cwd=ROOT,
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def page_through(client: Client) -> dict[str, Any]:
    path = "/odata/v1/Contacts"
    times: list[float] = []
    seen: set[int] = set()
    rows = duplicates = 0
    last_id = 0
    in_order = True
    started = time.perf_counter()
    while path:
        status, body, seconds = client.get(path)
        if status != 200:
            raise RuntimeError(f"GET {path} answered {status}: {body}")
        times.append(seconds * 1000)
        for row in body["value"]:
            rows += 1
            duplicates += row["Id"] in seen
            in_order = in_order and row["Id"] > last_id
            last_id = row["Id"]
            seen.add(row["Id"])
        link = body.get("@odata.nextLink")
        path = ""
        if link:
            parts = urlsplit(link)
            path = f"{parts.path}?{parts.query}"
    elapsed = time.perf_counter() - started
    return {
        "rows": rows,
        "distinct_rows": len(seen),
        "duplicates": duplicates,
        "ids_ascending": in_order,
        "pages": len(times),
        "seconds": round(elapsed, 2),
        "rows_per_s": round(rows / elapsed),
        "page_p50_ms": round(percentile(times, 50), 1),
        "page_p95_ms": round(percentile(times, 95), 1),
        "page_max_ms": round(max(times), 1),
        "page_mean_ms": round(statistics.fmean(times), 1),
        "first_page_ms": round(times[0], 1),
        "last_full_page_ms": round(times[-2] if len(times) > 1 else times[0], 1),
    }


def main() -> int:
    data_dir, built = build_data(CONTACTS)
    log("crm migrate + token")
    setup = prepare(data_dir)
    port = free_port()
    server = start_server(data_dir, port)
    try:
        client = Client(port, setup["token"])
        client.headers["Accept"] = "application/json;odata.metadata=minimal"
        status, _body, _s = client.get("/odata/v1/$metadata", parse=False)
        if status != 200:
            raise RuntimeError(f"$metadata answered {status}")
        log(f"paging through {setup['contacts']} contacts")
        paging = page_through(client)
    finally:
        stop_server(server)
    result = {
        "benchmark": "odata_contacts_paging",
        "contacts_in_tenant": setup["contacts"],
        "data": built,
        "page_size": 1000,
        "complete": paging["distinct_rows"] == setup["contacts"] and paging["duplicates"] == 0,
        **paging,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "odata.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))
    return 0 if result["complete"] else 1


if __name__ == "__main__":
    sys.exit(main())
