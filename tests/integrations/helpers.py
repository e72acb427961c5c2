"""Helpers for the integration tests: files in memory, an import run from upload to end."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from crm.integrations import importing, services
from crm.integrations.models import ImportJob
from crm.tenancy.models import Membership


def csv_bytes(
    rows: Iterable[Sequence[Any]], *, encoding: str = "utf-8", delimiter: str = ","
) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    for row in rows:
        writer.writerow(row)
    return buffer.getvalue().encode(encoding)


def upload(
    actor: Membership,
    content: bytes,
    *,
    target: str = "contact",
    name: str = "contacts.csv",
    **kwargs: Any,
) -> ImportJob:
    return services.import_upload(
        actor=actor, upload=io.BytesIO(content), file_name=name, target=target, **kwargs
    )


def run_import(
    actor: Membership,
    content: bytes,
    *,
    target: str = "contact",
    name: str = "contacts.csv",
    mapping: Sequence[str] | None = None,
    options: Mapping[str, Any] | None = None,
    dry_run: bool = False,
    batch_size: int | None = None,
) -> ImportJob:
    job = upload(actor, content, target=target, name=name)
    services.import_configure(actor=actor, job=job, mapping=mapping, options=options)
    if batch_size:
        ImportJob.objects.filter(pk=job.pk).update(batch_size=batch_size)
        job.refresh_from_db()
    services.import_start(actor=actor, job=job, dry_run=dry_run)
    done = importing.run(job.pk)
    assert done is not None
    return done
