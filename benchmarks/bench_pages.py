"""Server time of the web pages on a tenant of BENCH_CONTACTS contacts (default 500,000), SQLite.

1. Data: the same ``benchmarks/.data-<N>/`` as ``bench_api.py`` (``crm migrate`` + ``crm demo
   --contacts N``, built once; ``crm migrate`` again when reused: apps added since add tables);
   then, once and idempotently, in one transaction through the services: a pipeline
   "压测管道" holding 2,000 open opportunities (spread over its open stages and the sales
   reps, a third with an open task) and an opportunity "压测 时间线" whose timeline holds 200
   entries (stage changes, audit entries, activities and tasks).
2. Measure in this process with Django's test Client signed in as a demo member. The time is
   the server's: from the request entering Django's handler (middleware, view, queries,
   template) to the response leaving it, without the test client around it. Cases (the member):
   ``dashboard_sales`` (sales1), ``dashboard_manager`` (manager: funnel, won this month,
   reps' activity), ``contact_list_page_1`` (admin, who sees every contact),
   ``contact_list_page_1000_search`` (admin, ``?q=zh&page=1000``: 25 rows after 24,975
   matches of a pinyin prefix), ``record_page_200_entries`` (admin), ``kanban_2000_open``
   (admin, the 压测管道 board), and for information ``contact_list_search_page_1`` (``?q=张``),
   ``contact_list_page_1000`` and ``kanban_demo_pipeline`` (the demo's default pipeline: every
   open opportunity of the tenant, ~27,000 at 500k).
   ``BENCH_REQUESTS`` (default 60) timed requests per case after 5 warm-up requests; p50 / p95
   / mean of the wall time, p50 / p95 of the thread's CPU time (less sensitive to a busy
   machine: it leaves out the time spent waiting for a core), the SQL queries of one request,
   and the load average. The manager dashboard is cached (see crm.web.selectors); its cold
   time (cache cleared before each request) is measured too, as ``dashboard_manager_cold``.

Target (issue 3): p95 under 100 ms for each case of the acceptance line.
Prints JSON and writes it to ``benchmarks/results/pages.json``.

Usage: ``.venv/bin/python benchmarks/bench_pages.py`` (``BENCH_CONTACTS=50000`` for a quick run).
"""

from __future__ import annotations

import json
import os
import random
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_api import RESULTS, build_data, crm_env, log, percentile

CONTACTS = int(os.environ.get("BENCH_CONTACTS", "500000"))
REQUESTS = int(os.environ.get("BENCH_REQUESTS", "60"))
COLD_REQUESTS = int(os.environ.get("BENCH_COLD_REQUESTS", "5"))
WARM_UP = 5
P95_TARGET_MS = 100.0
BENCH_PIPELINE = "压测管道"
KANBAN_OPEN = 2000
TIMELINE_NAME = "压测 时间线"
TIMELINE_ENTRIES = 200
ACCEPTANCE = (
    "dashboard_sales",
    "dashboard_manager",
    "contact_list_page_1",
    "contact_list_page_1000_search",
    "record_page_200_entries",
    "kanban_2000_open",
)


def setup_django(data_dir: Path) -> None:
    for key in ("CRM_DATABASE_URL", "CRM_REDIS_URL"):
        os.environ.pop(key, None)
    os.environ.update(crm_env(data_dir))
    import django

    django.setup()


def prepare() -> dict[str, Any]:
    """The bench pipeline and the timeline record, added once (in one transaction)."""
    from django.db import transaction
    from django.utils import timezone

    from crm.activities.selectors import record_timeline
    from crm.activities.services import activity_log, task_create
    from crm.core.context import tenant_context
    from crm.sales.models import Opportunity, Pipeline, Stage
    from crm.sales.services import (
        DEFAULT_STAGES,
        opportunity_create,
        opportunity_move,
        pipeline_create,
        stage_create,
    )
    from crm.tenancy.models import Membership, Role, Tenant

    tenant = Tenant.objects.get(slug="demo")
    rng = random.Random(3)
    with tenant_context(tenant.pk), transaction.atomic():
        admin = Membership.objects.select_related("user").get(user__username="admin")
        reps = list(Membership.objects.filter(role=Role.SALES, is_active=True).order_by("pk"))
        pipeline = Pipeline.objects.filter(name=BENCH_PIPELINE).first()
        if pipeline is None:
            pipeline = pipeline_create(actor=admin, name=BENCH_PIPELINE)
            for order, (name, probability, is_won, is_lost) in enumerate(DEFAULT_STAGES):
                values = {"name": name, "order": order, "probability": probability}
                stage_create(
                    actor=admin,
                    pipeline_id=pipeline.pk,
                    values={**values, "is_won": is_won, "is_lost": is_lost},
                )
        open_stages = list(
            Stage.objects.filter(pipeline=pipeline, is_won=False, is_lost=False).order_by("order")
        )
        have = Opportunity.objects.filter(
            pipeline=pipeline, closed_at__isnull=True, deleted_at__isnull=True
        ).count()
        if have < KANBAN_OPEN:
            log(f"adding {KANBAN_OPEN - have} open opportunities to {BENCH_PIPELINE}")
        today = timezone.localdate()
        for i in range(have, KANBAN_OPEN):
            owner = reps[i % len(reps)]
            opp = opportunity_create(
                actor=admin,
                values={
                    "name": f"压测商机 {i + 1:04d}",
                    "amount": f"{rng.randint(5, 2000) * 1000}.00",
                    "expected_close_date": today + timedelta(days=rng.randint(-30, 180)),
                },
                pipeline_id=pipeline.pk,
                stage_id=open_stages[rng.randrange(len(open_stages))].pk,
                owner_id=owner.pk,
            )
            if i % 3 == 0:
                task_create(
                    actor=admin,
                    values={
                        "title": f"跟进 {opp.name}",
                        "due_at": timezone.now() + timedelta(days=rng.randint(-5, 20)),
                    },
                    record_type="opportunity",
                    record_id=opp.pk,
                    assignee_id=owner.pk,
                )

        record = Opportunity.objects.filter(name=TIMELINE_NAME, deleted_at__isnull=True).first()
        if record is None:
            record = opportunity_create(
                actor=admin, values={"name": TIMELINE_NAME, "amount": "880000.00"}
            )
            stages = list(Stage.objects.filter(pipeline_id=record.pipeline_id).order_by("order"))
            for stage in stages[1:4]:
                opportunity_move(actor=admin, opportunity=record, stage_id=stage.pk)
        entries = len(
            record_timeline(
                actor=admin, record_type="opportunity", record_id=record.pk, limit=10_000
            )
        )
        if entries < TIMELINE_ENTRIES:
            log(f"adding {TIMELINE_ENTRIES - entries} timeline entries to {TIMELINE_NAME}")
        kinds = ("call", "email", "meeting", "visit", "note")
        now = timezone.now()
        for i in range(entries, TIMELINE_ENTRIES):
            if i % 5 == 4:
                task_create(
                    actor=admin,
                    values={"title": f"任务 {i}", "due_at": now - timedelta(hours=7 * i)},
                    record_type="opportunity",
                    record_id=record.pk,
                )
            else:
                activity_log(
                    actor=admin,
                    record_type="opportunity",
                    record_id=record.pk,
                    values={
                        "kind": kinds[i % len(kinds)],
                        "subject": f"第 {i} 次沟通, 确认需求与报价",
                        "body": "客户关注交付周期、价格与售后服务。" * 8,
                        "at": now - timedelta(hours=5 * i),
                    },
                )
        return {"tenant": tenant.pk, "pipeline": pipeline.pk, "record": record.pk}


def timed_client(username: str) -> Any:
    """A test Client signed in as `username` whose `last` is the handler time of its last
    request (the time inside Django: middleware, view, queries, rendering)."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    client = Client(HTTP_HOST="localhost", HTTP_ACCEPT_LANGUAGE="zh-hans")
    client.force_login(get_user_model().objects.get(username=username))
    handler = client.handler
    original = handler.get_response

    def get_response(request: Any) -> Any:
        started, cpu = time.perf_counter(), time.thread_time()
        response = original(request)
        client.last = time.perf_counter() - started  # type: ignore[attr-defined]
        client.last_cpu = time.thread_time() - cpu  # type: ignore[attr-defined]
        return response

    handler.get_response = get_response  # type: ignore[method-assign]
    return client


def count_queries(client: Any, path: str) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        client.get(path)
    return len(captured.captured_queries)


def measure(client: Any, path: str, expect: str, *, cold: bool = False) -> dict[str, Any]:
    """`cold`: clear the cache before each request (and time fewer of them)."""
    from django.core.cache import cache

    for _ in range(1 if cold else WARM_UP):
        response = client.get(path)
        body = response.content.decode()
        if response.status_code != 200 or expect not in body:
            raise RuntimeError(f"{path}: {response.status_code}, {expect!r} not in the page")
    times, cpu_times = [], []
    for _ in range(COLD_REQUESTS if cold else REQUESTS):
        if cold:
            cache.clear()
        response = client.get(path)
        if response.status_code != 200:
            raise RuntimeError(f"{path}: {response.status_code}")
        times.append(client.last * 1000)
        cpu_times.append(client.last_cpu * 1000)
    return {
        "path": path,
        "p50_ms": round(percentile(times, 50), 2),
        "p95_ms": round(percentile(times, 95), 2),
        "mean_ms": round(statistics.fmean(times), 2),
        "cpu_p50_ms": round(percentile(cpu_times, 50), 2),
        "cpu_p95_ms": round(percentile(cpu_times, 95), 2),
        "requests": len(times),
        "queries": count_queries(client, path),
        "bytes": len(body.encode()),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def main() -> dict[str, Any]:
    data_dir, built = build_data(CONTACTS)  # runs `crm migrate` on a reused data directory
    (data_dir / "static").mkdir(exist_ok=True)  # STATIC_ROOT; static files are not measured
    setup_django(data_dir)
    started = time.perf_counter()
    ids = prepare()
    prepare_seconds = round(time.perf_counter() - started, 1)

    from crm.core.context import tenant_context
    from crm.sales.models import Pipeline

    with tenant_context(ids["tenant"]):
        default_pipeline = Pipeline.objects.order_by("-is_default", "id").first()
    assert default_pipeline is not None
    sales, manager, admin = timed_client("sales1"), timed_client("manager"), timed_client("admin")
    cases: dict[str, tuple[Any, str, str]] = {
        "dashboard_sales": (sales, "/", 'id="my-tasks"'),
        "dashboard_manager": (manager, "/", 'id="funnel-chart"'),
        "dashboard_manager_cold": (manager, "/", 'id="funnel-chart"'),
        "contact_list_page_1": (admin, "/contacts/", 'id="list-table"'),
        "contact_list_page_1000_search": (admin, "/contacts/?q=zh&page=1000", 'id="list-table"'),
        "record_page_200_entries": (admin, f"/opportunities/{ids['record']}/", TIMELINE_NAME),
        "kanban_2000_open": (admin, f"/kanban/?pipeline={ids['pipeline']}", "kanban-card"),
        "contact_list_search_page_1": (admin, "/contacts/?q=%E5%BC%A0", 'id="list-table"'),
        "contact_list_page_1000": (admin, "/contacts/?page=1000", 'id="list-table"'),
        "kanban_demo_pipeline": (admin, f"/kanban/?pipeline={default_pipeline.pk}", "kanban-card"),
    }
    only = {n for n in os.environ.get("BENCH_CASES", "").split(",") if n}
    latency: dict[str, Any] = {}
    for name, (client, path, expect) in cases.items():
        if only and name not in only:
            continue
        latency[name] = case = measure(client, path, expect, cold=name.endswith("_cold"))
        log(
            f"{name:<30} p50 {case['p50_ms']:7.2f}  p95 {case['p95_ms']:7.2f} ms"
            f"  (CPU p50 {case['cpu_p50_ms']:7.2f}  p95 {case['cpu_p95_ms']:7.2f})"
            f"  {case['queries']:3d} queries  load {case['load_average'][0]}"
        )
    measured = [latency[n]["p95_ms"] for n in ACCEPTANCE if n in latency]
    worst = max(measured) if measured else None
    return {
        "benchmark": "pages",
        "contacts": CONTACTS,
        "data": {**built, "prepare_seconds": prepare_seconds, **ids},
        "method": "in-process Django test Client, signed in; time inside the Django handler",
        "machine": {"cpus": os.cpu_count(), "load_average": [round(x, 2) for x in os.getloadavg()]},
        "latency": latency,
        "targets": {
            "p95_ms": P95_TARGET_MS,
            "cases": list(ACCEPTANCE),
            "worst_p95_ms": worst,
            "p95_met": worst is not None and worst < P95_TARGET_MS,
        },
    }


if __name__ == "__main__":
    result = main()
    text = json.dumps(result, indent=2, ensure_ascii=False)
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "pages.json").write_text(text + "\n")
