"""Big imports: batches sized from the file, a bigger page cache for the run, the duplicate
probe scoped to the tenant, and personal values stored encrypted by the fast insert."""

from __future__ import annotations

import pytest
from django.db import connection

from crm.core import crypto
from crm.core.context import tenant_context
from crm.customers.models import Contact
from crm.customers.services import contact_create
from crm.integrations import bulk
from crm.integrations.bulk import batch_rows, ids_where_in, import_connection
from crm.integrations.models import ImportJob

from .helpers import csv_bytes, run_import, upload


@pytest.mark.parametrize(
    ("batch_size", "total_rows", "expected"),
    [
        (0, None, bulk.MIN_BATCH_ROWS),
        (0, 300, bulk.MIN_BATCH_ROWS),  # a small file: one batch
        (0, 100_000, 4_000),  # 25 steps of the progress bar
        (0, 500_000, bulk.MAX_BATCH_ROWS),
        (0, 5_000_000, bulk.MAX_BATCH_ROWS),
        (2, 500_000, 2),  # a size the job asks for is kept
    ],
)
def test_batch_rows_follow_the_file_within_bounds(
    batch_size: int, total_rows: int | None, expected: int
) -> None:
    assert batch_rows(batch_size, total_rows) == expected


def test_a_new_job_sizes_its_batches_from_the_file(world) -> None:
    job = upload(world.admin, csv_bytes([["姓名"], ["张三"]]))
    assert ImportJob.objects.get(pk=job.pk).batch_size == 0


def test_the_import_cache_is_set_for_the_run_and_given_back(db: None) -> None:
    """SQLite: the run's connection gets the bigger page cache, and its own size back after.
    PostgreSQL has no such setting: the run's connection is left exactly as it was."""
    setting = "PRAGMA cache_size" if connection.vendor == "sqlite" else "SHOW work_mem"

    def current() -> str:
        with connection.cursor() as cursor:
            cursor.execute(setting)
            return str(cursor.fetchone()[0])

    before = current()
    with import_connection():
        during = current()
    assert current() == before
    if connection.vendor == "sqlite":
        assert during == str(-bulk.IMPORT_CACHE_KIB) != before
    else:
        assert during == before


def test_the_duplicate_probe_sees_only_the_current_tenant(world, other_world) -> None:
    with tenant_context(other_world.tenant.pk):
        theirs = contact_create(
            actor=other_world.admin, values={"name": "B", "external_id": "SAME"}
        )
    ours = contact_create(actor=world.admin, values={"name": "A", "external_id": "SAME"})
    found = ids_where_in(Contact, "external_id", ["SAME", "NONE"])
    assert found == [ours.pk] and theirs.pk not in found
    with tenant_context(None), pytest.raises(Exception, match="No tenant"):
        ids_where_in(Contact, "external_id", ["SAME"])


def test_imported_personal_data_is_stored_encrypted_and_reads_back(world) -> None:
    rows = [["外部编号", "姓名", "邮箱", "手机"]]
    rows += [[f"S{i}", f"客户{i}", f"S{i}@Example.com", f"1390000{i:04d}"] for i in range(5)]
    job = run_import(world.admin, csv_bytes(rows), batch_size=2)
    assert job.created_count == 5
    stored = Contact.objects.get(external_id="S3")
    assert (stored.email, stored.phone) == ("s3@example.com", "+8613900000003")
    with connection.cursor() as cursor:
        cursor.execute("SELECT email, phone FROM customers_contact WHERE id = %s", [stored.pk])
        raw_email, raw_phone = cursor.fetchone()
    assert raw_email.startswith("v1:") and "example" not in raw_email
    assert crypto.decrypt(raw_email) == "s3@example.com"
    assert crypto.decrypt(raw_phone) == "+8613900000003"


def test_bulk_insert_returns_each_new_row_id_in_order(world) -> None:
    """SQLite: ids worked out from the last one; PostgreSQL: RETURNING. Both must name the
    rows just written, in the order given, after ids that were used and deleted."""
    gone = contact_create(actor=world.admin, values={"name": "gone"})
    Contact.all_tenants.filter(pk=gone.pk).delete()
    rows = [{"name": f"批量{i}", "external_id": f"B{i}"} for i in range(2_500)]
    ids = bulk.bulk_insert(Contact, rows, tenant_id=world.tenant.pk)
    stored = dict(Contact.objects.filter(pk__in=ids).values_list("pk", "external_id"))
    assert [stored[i] for i in ids] == [f"B{i}" for i in range(2_500)]
    assert min(ids) > gone.pk


@pytest.mark.parametrize("count", [0, 1, 999, 1000, 1001, 2500, 19_037])
def test_statements_cover_every_row_once_in_a_few_shapes(count: int) -> None:
    bounds = bulk.statement_bounds(count, 1000)
    covered = [i for start, end in bounds for i in range(start, end)]
    assert covered == list(range(count))
    sizes = {end - start for start, end in bounds}
    assert sizes <= {1000, 512, 256, 128, 64, 32, 16, 8, 4, 2, 1}
