"""The import engine: the resumable batch runner.

A run reads the file as a stream and handles it in batches (sized from the file: see
crm.integrations.bulk.batch_rows). Each batch
is prepared (parse, normalise, validate: no database), resolved and matched against existing
records (a few indexed queries), then written in ONE transaction together with its row errors,
one audit link, one outbox event and the job's new position. The position update is
conditional on the position and the worker this run read, so:

* a worker killed at any point leaves either the whole batch with its position, or neither;
  the next run starts at the recorded position: no row lost, none written twice;
* two workers that somehow run the same job cannot both commit the same batch: the second's
  conditional update matches nothing and its batch is rolled back;
* a cancel (status set to cancelled) stops the run at the next batch, rolling that batch back.

Records are written with bulk_create per batch rather than one service call per row (see
docs/decisions/0003-bulk-import-audit.md): the same normalisers, blind indexes, name keys and
field validation as the services, but one audit link and one event per batch.

The column mapping (suggested, checked, saved as a template) and the preview of the first rows
are in crm.integrations.mapping, which uses this module's preparation and decisions.
"""

from __future__ import annotations

import contextvars
import logging
import time
import zoneinfo
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from django.db import DatabaseError, transaction
from django.db.models import F
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from crm.core.context import current_tenant_id
from crm.core.writes import diff, snapshot
from crm.customers.models import Account
from crm.events.models import OutboxEvent
from crm.integrations import files
from crm.integrations.bulk import batch_rows, bulk_insert, import_connection, statement_bounds
from crm.integrations.import_workers import claim, worker_id
from crm.integrations.models import (
    DuplicatePolicy,
    ImportJob,
    ImportRowError,
    JobStatus,
    RowOutcome,
)
from crm.integrations.readers import (
    ImportFileError,
    SourceInfo,
    count_rows,
    is_blank,
    iter_rows,
)
from crm.integrations.targets import (
    RowState,
    RunContext,
    Target,
    member_lookup,
    target_for,
)
from crm.integrations.values import MAX_CELL_CHARS, as_text
from crm.sales.stats import refresh_dirty
from crm.tenancy.audit import audit_append
from crm.tenancy.models import Membership, Tenant

logger = logging.getLogger(__name__)


class LostClaim(Exception):
    """Another worker took the job over, or it was cancelled: roll this batch back and stop."""


# --- context ------------------------------------------------------------------------------------


def source_of(job: ImportJob) -> SourceInfo:
    return SourceInfo(
        job.file_format,
        encoding=job.encoding,
        delimiter=job.delimiter,
        sheet=job.sheet,
        headers=list(job.headers),
    )


def build_context(job: ImportJob, actor: Membership) -> RunContext:
    target = target_for(job.target)
    options = job.options or {}
    tenant = Tenant.objects.get(pk=current_tenant_id())
    try:
        tz = zoneinfo.ZoneInfo(tenant.time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        tz = zoneinfo.ZoneInfo("UTC")
    members = Membership.objects.select_related("user")
    ctx = RunContext(
        actor=actor,
        tz=tz,
        policy=options.get("duplicate_policy", DuplicatePolicy.SKIP),
        match_on=tuple(options.get("match_on") or target.default_match),
        date_order=options.get("date_order", ""),
        create_missing=bool(options.get("create_missing", True)),
        dry_run=job.dry_run,
        members=member_lookup(members),
    )
    owner_id = options.get("owner_id")
    if owner_id:
        ctx.default_owner = members.filter(pk=owner_id).first()
    return ctx


# --- one batch ----------------------------------------------------------------------------------


@dataclass
class BatchResult:
    rows: list[RowState]
    created_ids: list[int] = field(default_factory=list)
    new_accounts: list[Account] = field(default_factory=list)
    updated: dict[int, dict[str, list[Any]]] = field(default_factory=dict)

    def count(self, *actions: str) -> int:
        return sum(1 for r in self.rows if r.action in actions)


def prepare_rows(
    target: Target, raw: Sequence[tuple[int, list[Any]]], mapping: Sequence[str], ctx: RunContext
) -> list[RowState]:
    """Parse, normalise and validate each row: no database, so it can run ahead in a thread."""
    rows = []
    for number, cells in raw:
        row = RowState(number, cells)
        if is_blank(cells):
            row.action = "blank"
        else:
            target.prepare_row(row, mapping, ctx)
        rows.append(row)
    return rows


def prepare_batch(
    target: Target,
    raw: Sequence[tuple[int, list[Any]]],
    mapping: Sequence[str],
    ctx: RunContext,
    prepared: list[RowState] | None = None,
) -> list[RowState]:
    rows = prepared if prepared is not None else prepare_rows(target, raw, mapping, ctx)
    if target.group_key:
        _group_continuations(target, rows)
    live = [r for r in rows if r.action not in ("fail", "blank", "continued")]
    target.resolve(live, ctx)
    return rows


def _group_continuations(target: Target, rows: list[RowState]) -> None:
    """Rows repeating the previous row's group key (order number) are lines of that order."""
    head: RowState | None = None
    for row in rows:
        if row.action == "blank":
            continue
        key = row.keys.get(target.group_key)
        if head is not None and key and key == head.keys.get(target.group_key):
            row.action = "continued"
            head.extra.setdefault("continued", []).append(row)
            if row.errors and head.action != "fail":
                head.action = "fail"
                head.fail("__row__", _("Line on row %s is not valid.") % row.number)
            continue
        head = row


def decide(target: Target, rows: list[RowState], ctx: RunContext) -> None:
    """create / update / skip / fail for each row, against existing records and the batch."""
    live = [r for r in rows if r.action not in ("fail", "blank", "continued")]
    existing = target.find_existing(live, ctx)
    seen: dict[tuple[str, Any], RowState] = {}
    updating: dict[int, RowState] = {}
    for row in live:
        earlier = None
        if ctx.policy != DuplicatePolicy.CREATE:
            if row.match_id is not None and row.match_id in updating:
                earlier = updating[row.match_id]
            for key in ctx.match_on:
                value = row.keys.get(key)
                if earlier is None and value and (key, value) in seen:
                    earlier = seen[(key, value)]
        if earlier is not None:
            if ctx.policy == DuplicatePolicy.SKIP:
                row.action = "skip"
                row.reason = _("Duplicate of row %s of this file.") % earlier.number
            else:
                earlier.values.update(row.values)
                earlier.extra.update({k: v for k, v in row.extra.items() if v is not None})
                row.action = "merged"
            continue
        if row.match_id is not None and ctx.policy != DuplicatePolicy.CREATE:
            hit = existing[row.match_id]
            label = f"{target.key} #{row.match_id}"
            if ctx.policy == DuplicatePolicy.SKIP:
                row.action = "skip"
                row.reason = _("Duplicate of %(rec)s (%(why)s).") % {
                    "rec": label,
                    "why": row.reason,
                }
            elif not ctx.can_change(hit.get("owner_id"), hit.get("owner__team_id")):
                row.action = "fail"
                row.fail("__row__", _("Matches %s, which you cannot change.") % label)
            else:
                row.action = "update"
                updating[row.match_id] = row
        else:
            row.match_id = None
            row.action = "create"
        for key in ctx.match_on:
            value = row.keys.get(key)
            if value:
                seen.setdefault((key, value), row)
    for row in rows:
        if row.action == "continued":
            head_action = next(
                (h.action for h in rows if row in h.extra.get("continued", [])), "fail"
            )
            row.action = "fail" if row.errors else head_action


def write_batch(target: Target, result: BatchResult, ctx: RunContext) -> None:
    """Create and update the records of a decided batch. Call inside the batch transaction."""
    tenant_id = current_tenant_id()
    creates = [r for r in result.rows if r.action == "create"]
    new_accounts: dict[int, Account] = {}
    for row in creates + [r for r in result.rows if r.action == "update"]:
        account = row.extra.get("new_account")
        if account is not None and account.pk is None:
            new_accounts[id(account)] = account
    if new_accounts:
        accounts = list(new_accounts.values())
        for account in accounts:
            account.tenant_id = tenant_id
            if account.owner_id is None:
                account.owner = ctx.default_owner or ctx.actor
        Account.objects.bulk_create(accounts)
        result.new_accounts = accounts
        ctx.remember_accounts(accounts)
    if target.fast:
        ids = bulk_insert(
            target.model, [target.new_values(row, ctx) for row in creates], tenant_id=tenant_id
        )
    else:
        instances = []
        for row in creates:
            instance = target.new_instance(row, ctx)
            instance.tenant_id = tenant_id  # type: ignore[attr-defined]
            row.instance = instance
            instances.append(instance)
        if instances:
            target.model._default_manager.bulk_create(instances)
            target.after_create(creates, ctx)
        ids = [i.pk for i in instances]
    result.created_ids = ids
    updates = {r.match_id: r for r in result.rows if r.action == "update"}
    if updates:
        _apply_updates(target, updates, result)


#: the stored keys computed from a field, written with it when it changes
DERIVED_FROM = {
    "name": ("name_key", "pinyin_key", "initials_key", "core_name_key"),
    "email": ("email_index", "email_alias_index"),
    "phone": ("phone_index", "phone_key"),
    "id_number": ("id_number_index",),
    "website": ("website_key",),
}


def _apply_updates(target: Target, updates: dict[Any, RowState], result: BatchResult) -> None:
    model = target.model
    names = [f.name for f in model._meta.concrete_fields if f.editable and not f.primary_key]
    names = [n for n in names if n not in ("tenant",)]
    changed_fields: set[str] = set()
    dirty = []
    for instance in model._default_manager.filter(pk__in=list(updates)):
        row = updates[instance.pk]
        values = target.updatable(row)
        before = snapshot(instance, [n for n in names if n in values])
        for name, value in values.items():
            setattr(instance, name, value)
        changes = diff(before, snapshot(instance, [n for n in names if n in values]))
        if not changes:
            continue
        fields = {model._meta.get_field(k).name for k in changes}
        for source in fields & DERIVED_FROM.keys():
            fields |= {f for f in DERIVED_FROM[source] if f in target.model_fields and f in values}
        changed_fields |= fields
        result.updated[instance.pk] = changes
        dirty.append(instance)
    if dirty:
        changed_fields.add("updated_at")
        now = timezone.now()
        for instance in dirty:
            instance.updated_at = now  # type: ignore[attr-defined]
        model._default_manager.bulk_update(dirty, sorted(changed_fields), batch_size=500)


def _ranges(ids: list[int]) -> list[list[int]]:
    """[1,2,3,7,8] -> [[1,3],[7,8]]: created ids in a compact, auditable form."""
    out: list[list[int]] = []
    for pk in sorted(ids):
        if out and pk == out[-1][1] + 1:
            out[-1][1] = pk
        else:
            out.append([pk, pk])
    return out


def _error_rows(job: ImportJob, rows: list[RowState]) -> list[ImportRowError]:
    out = []
    for row in rows:
        if row.action not in ("fail", "skip"):
            continue
        errors = row.errors if row.action == "fail" else {"__row__": [row.reason]}
        out.append(
            ImportRowError(
                tenant_id=job.tenant_id,
                job=job,
                row_number=row.number,
                outcome=RowOutcome.FAILED if row.action == "fail" else RowOutcome.SKIPPED,
                errors=errors,
                values=[as_text(c)[:MAX_CELL_CHARS] for c in row.cells],
                record_id=row.match_id if row.action == "skip" else None,
            )
        )
    return out


def _trace(
    job: ImportJob, target: Target, result: BatchResult, ctx: RunContext, batch: int
) -> None:
    """One audit link and one outbox event for the whole batch (docs/decisions/0003)."""
    numbers = [r.number for r in result.rows]
    created = {target.key: _ranges(result.created_ids)}
    if result.new_accounts:
        created["account"] = _ranges([a.pk for a in result.new_accounts])
    summary = {
        "import_job": job.pk,
        "batch": batch,
        "rows": [min(numbers), max(numbers)] if numbers else [],
        "file_sha256": job.file_sha256,
        "created": created,
        "skipped": result.count("skip"),
        "failed": result.count("fail"),
    }
    if not result.created_ids and not result.updated and not result.new_accounts:
        return
    audit_append(
        actor=ctx.actor,
        action=f"{target.key}.imported",
        record_type="importjob",
        record_id=job.pk,
        changes={**summary, "updated": {str(k): v for k, v in result.updated.items()}},
    )
    OutboxEvent.objects.create(
        name=f"{target.key}.imported",
        record_type="importjob",
        record_id=job.pk,
        payload={
            **summary,
            "actor_id": ctx.actor.pk,
            "updated_ids": sorted(result.updated),
        },
    )


def process_batch(
    job: ImportJob,
    target: Target,
    raw: Sequence[tuple[int, list[Any]]],
    ctx: RunContext,
    prepared: list[RowState] | None = None,
) -> BatchResult:
    rows = prepare_batch(target, raw, job.mapping, ctx, prepared)
    decide(target, rows, ctx)
    return BatchResult(rows)


def commit_batch(
    job: ImportJob,
    target: Target,
    result: BatchResult,
    ctx: RunContext,
    *,
    consumed: int,
    worker: str,
    run_rows: int,
    run_started: float,
) -> None:
    """Write a decided batch with its errors, trace and the job's new position, atomically."""
    with transaction.atomic():
        if not ctx.dry_run:
            write_batch(target, result, ctx)
            _trace(job, target, result, ctx, job.batches + 1)
        errors = _error_rows(job, result.rows)
        for start, end in statement_bounds(len(errors), 100):  # a few statement shapes only
            ImportRowError.objects.bulk_create(errors[start:end])
        new_position = job.position + consumed
        elapsed = max(time.monotonic() - run_started, 1e-6)
        rate = (run_rows + consumed) / elapsed
        eta = None
        if job.total_rows is not None and rate > 0:
            eta = int(max(job.total_rows - new_position, 0) / rate)
        counts = {
            "created_count": result.count("create"),
            "updated_count": result.count("update", "merged"),
            "skipped_count": result.count("skip"),
            "failed_count": result.count("fail"),
        }
        moved = ImportJob.objects.filter(
            pk=job.pk, position=job.position, worker=worker, status=JobStatus.RUNNING
        ).update(
            position=new_position,
            batches=F("batches") + 1,
            rate=rate,
            eta_seconds=eta,
            heartbeat_at=timezone.now(),
            **{k: F(k) + v for k, v in counts.items()},
        )
        if moved != 1:
            raise LostClaim()
    job.position = new_position
    job.batches += 1
    for name, value in counts.items():
        setattr(job, name, getattr(job, name) + value)


def batches(
    rows: Iterator[tuple[int, list[Any]]], size: int, group_column: int | None
) -> Iterator[list[tuple[int, list[Any]]]]:
    """Batches of `size` rows; with a group column, a batch never splits a group (an order)."""
    pending: tuple[int, list[Any]] | None = None
    while True:
        chunk = [pending] if pending is not None else []
        pending = None
        chunk.extend(islice(rows, size - len(chunk)))
        if not chunk:
            return
        if group_column is not None and len(chunk) == size:
            last = _group_value(chunk[-1][1], group_column)
            for item in rows:
                if last and _group_value(item[1], group_column) == last:
                    chunk.append(item)
                    continue
                pending = item
                break
        yield chunk


def _group_value(cells: list[Any], column: int) -> str:
    return as_text(cells[column]).strip() if column < len(cells) else ""


# --- running ------------------------------------------------------------------------------------


def run(job_id: int, *, worker: str | None = None) -> ImportJob | None:
    """Run (or resume) an import until it is done, failed, cancelled or taken over."""
    worker = worker or worker_id()
    job = claim(job_id, worker)
    if job is None:
        return None
    try:
        _run_claimed(job, worker)
    except LostClaim:
        logger.info("import %s: stopped (cancelled or taken over)", job.pk)
    except ImportFileError as exc:
        _finish(job, worker, JobStatus.FAILED, str(exc))
    except Exception:
        logger.exception("import %s failed", job.pk)
        _finish(
            job,
            worker,
            JobStatus.FAILED,
            _("The import stopped on an unexpected error after row %s; it can be resumed.")
            % (job.position + 1),
        )
    job.refresh_from_db()
    return job


def _run_claimed(job: ImportJob, worker: str) -> None:
    target = target_for(job.target)
    actor = job.created_by
    if actor is None or not actor.is_active:
        _finish(job, worker, JobStatus.FAILED, _("The member who started this import is gone."))
        return
    path = files.resolve(job.file_path)
    info = source_of(job)
    if job.total_rows is None:
        total = count_rows(path, info)  # also checks the encoding of every line of a CSV
        ImportJob.objects.filter(pk=job.pk, worker=worker).update(total_rows=total)
        job.total_rows = total
    ctx = build_context(job, actor)
    group_column = job.mapping.index(target.group_key) if target.group_key in job.mapping else None
    run_started = time.monotonic()
    run_rows = 0
    size = batch_rows(job.batch_size, job.total_rows)
    chunks = batches(iter_rows(path, info, start=job.position), size, group_column)
    with import_connection():
        for raw, prepared in prepared_ahead(chunks, target, job.mapping, ctx):
            result = process_batch(job, target, raw, ctx, prepared)
            commit_batch(
                job,
                target,
                result,
                ctx,
                consumed=len(raw),
                worker=worker,
                run_rows=run_rows,
                run_started=run_started,
            )
            run_rows += len(raw)
    _finish(job, worker, JobStatus.DONE, "")
    if target.key == "opportunity" and not job.dry_run:
        # deals were written in bulk: fold them into the dashboard's stored funnel figures
        # (readers correct for them meanwhile, and the 10-minute job would fold them too)
        try:
            refresh_dirty()
        except DatabaseError:
            logger.exception("import %s: folding the funnel figures failed", job.pk)


Batch = list[tuple[int, list[Any]]]


def prepared_ahead(
    chunks: Iterator[Batch], target: Target, mapping: Sequence[str], ctx: RunContext
) -> Iterator[tuple[Batch, list[RowState]]]:
    """The batches with their rows prepared, reading and preparing one batch ahead in a thread.

    While the main thread matches and writes batch k (mostly waiting on SQLite, which releases
    the GIL), the helper thread reads and prepares batch k+1 (parse, normalise, pinyin, blind
    indexes). Preparing touches no database, so the order of writes, the atomic batch commit
    and the resume position are those of the plain loop. The thread runs with this thread's
    tenant context and language, so its row messages read the same.
    """
    language = translation.get_language()
    context = contextvars.copy_context()

    def next_prepared() -> tuple[Batch, list[RowState]] | None:
        with translation.override(language):
            raw = next(chunks, None)
            return None if raw is None else (raw, prepare_rows(target, raw, mapping, ctx))

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="import-prepare") as pool:
        pending = pool.submit(context.copy().run, next_prepared)
        while (item := pending.result()) is not None:
            pending = pool.submit(context.copy().run, next_prepared)
            yield item


def _finish(job: ImportJob, worker: str, status: str, message: str) -> None:
    updates: dict[str, Any] = {
        "status": status,
        "message": message,
        "finished_at": timezone.now(),
        "eta_seconds": 0 if status == JobStatus.DONE else None,
    }
    if status == JobStatus.DONE:
        updates["total_rows"] = F("position")
    ImportJob.objects.filter(pk=job.pk, worker=worker, status=JobStatus.RUNNING).update(**updates)
