"""`crm serve`: the production server answers, and takes its job consumer down with it."""

from __future__ import annotations

import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.operations.datadir import CRM, REPO, crm_env, free_port, migrated_data_dir


def children_of(pid: int) -> dict[int, str]:
    """Child processes of `pid` with their command lines (Linux /proc)."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if int(fields[1]) == pid:
            found[int(stat.parent.name)] = cmdline
    return found


def is_running(pid: int, cmdline: str) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        now = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z" and now == cmdline


def wait_for_health(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert server.poll() is None, f"crm serve exited:\n{log.read_text()}"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                assert response.status == 200
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"crm serve did not answer:\n{log.read_text()}")


def wait_for_log(text: str, log: Path) -> None:
    deadline = time.monotonic() + 60
    while text not in log.read_text():
        assert time.monotonic() < deadline, f"{text!r} not logged:\n{log.read_text()}"
        time.sleep(0.2)


@pytest.mark.slow
def test_serve_answers_and_stops_its_job_consumer(tmp_path: Path) -> None:
    data_dir = migrated_data_dir(tmp_path / "data")
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [*CRM, "serve"],
            env=crm_env(
                data_dir, CRM_BIND=f"127.0.0.1:{port}", CRM_WEB_WORKERS="2", CRM_WEB_THREADS="2"
            ),
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_health(f"http://127.0.0.1:{port}/api/v1/health", server, log)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health") as response:
            assert response.read() == b'{"status": "ok"}'
        consumers = {p: c for p, c in children_of(server.pid).items() if "worker" in c}
        assert len(consumers) == 1, children_of(server.pid)
        [(consumer_pid, consumer_cmdline)] = consumers.items()
        assert is_running(consumer_pid, consumer_cmdline)
        assert (data_dir / "static" / "vendor" / "htmx.min.js").exists()  # collectstatic ran
        wait_for_log("Huey consumer started", log)
        assert "+ crm.events.tasks.outbox_deliver_email" in log.read_text()

        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) == 0
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()

    assert not is_running(consumer_pid, consumer_cmdline), log.read_text()
    assert "Stopping the job consumer" in log.read_text()
