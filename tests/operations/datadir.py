"""Run the real `crm` program and child processes against a throw-away data directory.

The in-memory test database cannot be shared between processes, so tests of what happens
across processes (concurrent writers, two mail senders, the server) use a SQLite file in a
temporary data directory, made once per test process by `crm migrate` and copied per test.
"""

from __future__ import annotations

import atexit
import functools
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
CRM = [sys.executable, "-m", "crm.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def crm_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a production process using `data_dir` (SQLite file, SQLite queue)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"CRM_DATABASE_URL", "CRM_REDIS_URL", "DJANGO_SETTINGS_MODULE"}
    }
    env.update(
        CRM_DATA_DIR=str(data_dir),
        DJANGO_SETTINGS_MODULE="crm.settings",
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")])),
        **extra,
    )
    return env


@functools.cache
def _migrated_template() -> Path:
    template = Path(tempfile.mkdtemp(prefix="crm-migrated-"))
    atexit.register(shutil.rmtree, template, True)
    done = subprocess.run(
        [*CRM, "migrate", "--no-input", "-v", "0"],
        env=crm_env(template),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"crm migrate failed:\n{done.stderr}"
    return template


def migrated_data_dir(target: Path) -> Path:
    """A data directory at `target` holding a freshly migrated, empty database."""
    shutil.copytree(_migrated_template(), target, dirs_exist_ok=True)
    return target


def start_workload(data_dir: Path, *args: str, **env: str) -> subprocess.Popen[str]:
    """Start `python -m tests.operations.workload ARGS` in its own process."""
    return subprocess.Popen(
        [sys.executable, "-m", "tests.operations.workload", *args],
        env=crm_env(data_dir, **env),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str], timeout: float = 120) -> Any:
    """Wait for a workload process; return the JSON it printed last."""
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, f"workload failed ({process.returncode}):\n{err}"
    return json.loads(out.strip().splitlines()[-1])


def run_workload(data_dir: Path, *args: str, timeout: float = 120, **env: str) -> Any:
    return finish(start_workload(data_dir, *args, **env), timeout)
