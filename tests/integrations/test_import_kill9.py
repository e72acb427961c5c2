"""Acceptance: kill -9 the worker in the middle of a 100,000-row import, start it again.

Runs the real `crm` command in a subprocess against a file SQLite database in a temporary
CRM_DATA_DIR: the final row count is exact and no row is written twice.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

ROWS = 100_000
CRM = str(Path(sys.executable).with_name("crm"))

SETUP = textwrap.dedent(
    """
    import csv, io, sys
    import django
    django.setup()
    from crm.core.context import tenant_context
    from crm.integrations import services
    from crm.operations.setup import tenant_setup
    from crm.tenancy.services import membership_create, user_create

    rows, path = int(sys.argv[1]), sys.argv[2]
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["外部编号", "姓名", "邮箱", "手机", "公司"])
        for i in range(rows):
            phone, company = f"139{i:08d}", f"公司{i % 500}"
            writer.writerow([f"X{i}", f"客户{i}", f"c{i}@example.com", phone, company])
    tenant = tenant_setup(name="Kill Test", slug="kill")
    with tenant_context(tenant.pk):
        user = user_create(username="boss", password="pw-Secret-123")
        admin = membership_create(actor=None, user=user, role="admin")
        with open(path, "rb") as handle:
            job = services.import_upload(
                actor=admin, upload=handle, file_name="big.csv", target="contact"
            )
        services.import_configure(actor=admin, job=job, options={"match_on": ["external_id"]})
        services.import_start(actor=admin, job=job)
    print(job.pk)
    """
)


def _state(db: Path, job_id: int) -> tuple[str, int]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
        row = conn.execute(
            "select status, position from integrations_importjob where id = ?", (job_id,)
        ).fetchone()
    return row[0], row[1]


@pytest.mark.slow
def test_kill_dash_nine_in_the_middle_of_an_import_loses_and_repeats_nothing(
    tmp_path: Path,
) -> None:
    env = {
        **os.environ,
        "CRM_DATA_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "crm.settings",
        "CRM_LOG_LEVEL": "ERROR",
    }
    env.pop("CRM_DATABASE_URL", None)
    subprocess.run([CRM, "migrate", "--skip-checks", "-v", "0"], env=env, check=True, timeout=120)
    csv_path = tmp_path / "big.csv"
    out = subprocess.run(
        [sys.executable, "-c", SETUP, str(ROWS), str(csv_path)],
        env=env,
        check=True,
        timeout=120,
        capture_output=True,
        text=True,
    )
    job_id = int(out.stdout.strip().splitlines()[-1])
    db = tmp_path / "crm.sqlite3"
    kills = []
    for kill_after in (1, 20_000):
        worker = subprocess.Popen(
            [CRM, "import_run", "--job", str(job_id)], env=env, stdout=subprocess.DEVNULL
        )
        start_position = _state(db, job_id)[1]
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            status, position = _state(db, job_id)
            if position >= start_position + kill_after:
                break
            assert worker.poll() is None, "the worker ended before it could be killed"
            time.sleep(0.02)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)
        status, position = _state(db, job_id)
        assert status == "running" and 0 < position < ROWS
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            stored = conn.execute("select count(*) from customers_contact").fetchone()[0]
        # whole batches only: the rows on disk are exactly those the position accounts for
        assert stored == position
        kills.append(position)
    subprocess.run(
        [CRM, "import_run", "--job", str(job_id)],
        env=env,
        check=True,
        timeout=300,
        stdout=subprocess.DEVNULL,
    )
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        status, position, created, failed, total = conn.execute(
            "select status, position, created_count, failed_count, total_rows"
            " from integrations_importjob where id = ?",
            (job_id,),
        ).fetchone()
        stored, distinct_ext, distinct_email = conn.execute(
            "select count(*), count(distinct external_id), count(distinct email_index)"
            " from customers_contact"
        ).fetchone()
        attempts = conn.execute(
            "select attempts from integrations_importjob where id = ?", (job_id,)
        ).fetchone()[0]
    assert kills[0] < kills[1]
    assert (status, position, total, created, failed) == ("done", ROWS, ROWS, ROWS, 0)
    assert stored == distinct_ext == distinct_email == ROWS
    assert attempts == 3
