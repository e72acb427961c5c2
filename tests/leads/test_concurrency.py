"""Concurrency, with real OS processes ("spawn") on a real database.

On SQLite: a FILE database in WAL mode with IMMEDIATE transactions (the settings), migrated by
`crm migrate` in a subprocess. When the suite runs on PostgreSQL (CRM_DATABASE_URL points to
one, as in CI's second run), the same tests run on fresh databases of that server instead.
"""

from __future__ import annotations

import email
import multiprocessing
import os
import queue
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.header import decode_header, make_header
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.leads import workers

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("lead-concurrency")]
SPAWN = multiprocessing.get_context("spawn")
REPO = Path(__file__).resolve().parents[2]


def run_in_process(fn: Callable[..., Any], *args: Any) -> Any:
    """Call fn(*args) in a fresh spawned process (its own Django, its own settings)."""
    with ProcessPoolExecutor(max_workers=1, mp_context=SPAWN) as pool:
        return pool.submit(fn, *args).result(timeout=600)


def migrate(env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "-m", "crm.cli", "migrate", "--no-input", "-v", "0", "--skip-checks"],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "crm.settings", **env},
        cwd=REPO,
        check=True,
        timeout=600,
    )


@dataclass
class Databases:
    """Migrated once per session; `fresh()` gives a copy per test."""

    vendor: str
    template_env: dict[str, str]
    tmp: Path
    admin_url: str = ""
    created: list[str] = field(default_factory=list)

    def fresh(self) -> dict[str, str]:
        if self.vendor == "sqlite":
            target = self.tmp / f"db-{uuid.uuid4().hex[:8]}"
            shutil.copytree(self.template_env["CRM_DATA_DIR"], target)
            return {"CRM_DATA_DIR": str(target), "CRM_DATABASE_URL": ""}
        name = f"crm_leads_{uuid.uuid4().hex[:10]}"
        template = urlsplit(self.template_env["CRM_DATABASE_URL"]).path.lstrip("/")
        _pg_execute(self.admin_url, f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        self.created.append(name)
        return {**self.template_env, "CRM_DATABASE_URL": _with_db(self.admin_url, name)}


def _with_db(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def _pg_execute(url: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(_with_db(url, "postgres"), autocommit=True) as conn:
        conn.execute(sql)  # names are generated here, never user input


@pytest.fixture(scope="session")
def databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Databases]:
    tmp = tmp_path_factory.mktemp("lead-concurrency")
    data_dir = tmp / "template"
    data_dir.mkdir()
    url = os.environ.get("CRM_DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")):
        template = f"crm_leads_tmpl_{uuid.uuid4().hex[:10]}"
        _pg_execute(url, f'CREATE DATABASE "{template}"')
        env = {"CRM_DATA_DIR": str(data_dir), "CRM_DATABASE_URL": _with_db(url, template)}
        dbs = Databases("postgresql", env, tmp, admin_url=url, created=[template])
    else:
        env = {"CRM_DATA_DIR": str(data_dir), "CRM_DATABASE_URL": ""}
        dbs = Databases("sqlite", env, tmp)
    migrate(env)
    yield dbs
    for name in reversed(dbs.created):
        _pg_execute(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run_parallel(
    target: Callable[..., None], args_for: Callable[[int], tuple[Any, ...]], n: int
) -> list[dict[str, Any]]:
    """n processes started together (a barrier) each calling target(*args, barrier, results)."""
    barrier = SPAWN.Barrier(n)
    results = SPAWN.Queue()
    processes = [
        SPAWN.Process(target=target, args=(*args_for(i), barrier, results)) for i in range(n)
    ]
    for p in processes:
        p.start()
    out: list[dict[str, Any]] = []
    deadline = time.monotonic() + 900
    while len(out) < n and time.monotonic() < deadline:
        try:
            out.append(results.get(timeout=2))
        except queue.Empty:
            if all(p.exitcode is not None for p in processes) and results.empty():
                break  # a worker died without reporting: fail below with its exit code
    for p in processes:
        p.join(timeout=60)
    assert [p.exitcode for p in processes] == [0] * n
    return out


def test_eight_parallel_assigners_never_double_assign_or_overfill(databases: Databases) -> None:
    env = databases.fresh()
    setup = run_in_process(workers.setup_assignment, env)
    tenant_id = setup["tenant_id"]
    # 8 processes x 250 captures: 1,800 for the wide team (capacity 6 x 270 + 2 x 135 = 1,890)
    # and 200 for the narrow one (capacity 4 x 30 = 120: the other 80 must wait in its queue).
    reports = run_parallel(workers.capture_worker, lambda i: (env, tenant_id, i, 250, 10), n=8)
    assert all(r["errors"] == [] for r in reports), [r["errors"][:3] for r in reports]
    result = run_in_process(workers.verify_assignment, env, tenant_id)

    assert result["leads"] == 2000
    assert result["leads_with_several_assignments"] == 0
    assert result["assignments_not_matching_owner"] == 0
    members = result["members"].values()
    assert [m for m in members if m["open"] > m["capacity"]] == []  # never over capacity
    wide = [m for m in members if m["team"] == "wide"]
    narrow = [m for m in members if m["team"] == "narrow"]
    assert sum(m["open"] for m in wide) == 1800
    assert [m["open"] for m in narrow] == [30, 30, 30, 30]
    assert result["queued"] == {"narrow": 80}
    for capacity in (270, 135):
        loads = [m["open"] for m in wide if m["capacity"] == capacity]
        assert max(loads) - min(loads) <= 1, loads
    # Fair against capacity: a 270-member holds twice what a 135-member holds (±1 each).
    big = [m["open"] for m in wide if m["capacity"] == 270]
    small = [m["open"] for m in wide if m["capacity"] == 135]
    assert abs(min(big) - 2 * max(small)) <= 3
    assert result["audit_chain_ok"], "the audit hash chain broke under concurrency"


class Inbox:
    """A real SMTP server (aiosmtpd) on a free local port, keeping what it receives."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[email.message.Message] = []
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        inbox = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                inbox.messages.append(email.message_from_bytes(envelope.content))
                return "250 OK"

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> Inbox:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


def test_reminder_job_run_twice_at_once_sends_each_reminder_once(databases: Databases) -> None:
    env = databases.fresh()
    setup = run_in_process(workers.setup_reminders, env, 30, 20)
    tenant_id = setup["tenant_id"]
    # Three days later every lead (due within 24 h) and task is past due and past escalation.
    at = (datetime.now().astimezone() + timedelta(days=3)).isoformat()
    reports = run_parallel(workers.followup_worker, lambda i: (env, tenant_id, at), n=2)
    assert sum(r["reminded"] for r in reports) == 30
    assert sum(r["escalated"] for r in reports) == 30
    assert sum(r["tasks_reminded"] for r in reports) == 20
    assert sum(r["tasks_escalated"] for r in reports) == 20
    with Inbox() as inbox:
        smtp_env = {**env, "CRM_SMTP_HOST": "127.0.0.1", "CRM_SMTP_PORT": str(inbox.port)}
        delivered = run_in_process(workers.deliver_outbox, smtp_env)
        again = run_in_process(workers.deliver_outbox, smtp_env)
    assert delivered["sent"] == 100 and again["sent"] == 0
    assert len(inbox.messages) == 100
    assert len({m["Message-ID"] for m in inbox.messages}) == 100
    to_manager = [m for m in inbox.messages if m["To"] == "mgr-sales@x.test"]
    assert len(to_manager) == 50  # 30 lead + 20 task escalations
    subjects = sorted(
        str(make_header(decode_header(m["Subject"])))
        for m in inbox.messages
        if m["To"] != "mgr-sales@x.test"
    )
    assert len(subjects) == len(set(subjects)) == 50
