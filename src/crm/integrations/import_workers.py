"""Which worker runs an import: claiming a job, and finding runs whose worker died.

A job records the worker that holds it (host:pid:random) and a heartbeat. A worker on the same
host that no longer exists, or one silent for STALE_AFTER, has lost the job: the next worker
(crm import_run, or the minute job) claims it and resumes from the recorded position.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import timedelta

from django.db.models import F
from django.utils import timezone

from crm.integrations.models import ImportJob, JobStatus

STALE_AFTER = timedelta(minutes=5)


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _worker_gone(job: ImportJob) -> bool:
    """True when the worker that holds the job is dead (same host) or silent for too long."""
    if not job.worker:
        return True
    host, _sep, rest = job.worker.partition(":")
    pid_text = rest.partition(":")[0]
    if host == socket.gethostname() and pid_text.isdigit():
        pid = int(pid_text)
        if pid == os.getpid():
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return _stale(job)
    return _stale(job)


def _stale(job: ImportJob) -> bool:
    return job.heartbeat_at is None or job.heartbeat_at < timezone.now() - STALE_AFTER


def claim(job_id: int, worker: str) -> ImportJob | None:
    """Take the job for this worker, or None when it is not runnable or held by a live worker."""
    job = ImportJob.objects.filter(pk=job_id).first()
    if job is None:
        return None
    if job.status == JobStatus.RUNNING and not _worker_gone(job):
        return None
    if job.status not in (JobStatus.QUEUED, JobStatus.RUNNING):
        return None
    now = timezone.now()
    taken = ImportJob.objects.filter(pk=job.pk, status=job.status, worker=job.worker).update(
        status=JobStatus.RUNNING,
        worker=worker,
        heartbeat_at=now,
        attempts=F("attempts") + 1,
        started_at=job.started_at or now,
    )
    if taken != 1:
        return None
    job.refresh_from_db()
    return job


def runnable_stale_jobs() -> list[tuple[int, int]]:
    """(tenant id, job id) of running imports whose worker is gone: operator code, all tenants."""
    out = []
    for job in ImportJob.all_tenants.filter(status=JobStatus.RUNNING).only(
        "id", "tenant_id", "worker", "heartbeat_at"
    ):
        if _worker_gone(job):
            out.append((job.tenant_id, job.pk))
    return out
