"""The fast paths of a large import, each proven equal to the slow path by tests.

* `bulk_insert`: bulk_create without building model instances: one multi-row INSERT per
  chunk (RETURNING id, except on SQLite where the ids follow from the last one), with each
  column's value prepared exactly as the model field prepares it (encryption of
  EncryptedTextField, datetime adaptation, defaults, auto_now). It returns the new ids in
  insertion order.
* `normalise_phone`: mainland mobile numbers (by far the most common in a Chinese CRM) are
  checked against libphonenumber's own CN mobile pattern and formatted directly; everything
  else goes through crm.core.normalise.normalise_phone.
* `fast_clean`: plain CharField/TextField values within their max_length are valid without
  the per-call overhead of Field.clean(); anything else goes through Field.clean().

And the two settings that decide how fast SQLite takes a big import (measured in
benchmarks/bench_import.py): `batch_rows` (rows per committed batch) and `import_connection`
(a bigger page cache for the run).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from functools import lru_cache
from operator import methodcaller
from typing import Any

import phonenumbers
from django.db import connection, models
from django.utils import timezone

from crm.core import crypto
from crm.core.fields import EncryptedTextField
from crm.core.normalise import normalise_phone as normalise_phone_slow

#: bounds of an automatic batch (rows per committed transaction)
MIN_BATCH_ROWS = 1_000
MAX_BATCH_ROWS = 20_000
#: an automatic batch is about this share of the file, so the progress bar moves in small steps
BATCHES_PER_FILE = 25
#: values per duplicate-probe statement (one statement shape, padded)
PROBE_VALUES = 1_000
#: page cache of the connection that runs an import on SQLite, in KiB (the app's is 64 MB)
IMPORT_CACHE_KIB = 262_144


def batch_rows(batch_size: int, total_rows: int | None) -> int:
    """Rows per committed batch: the job's own size, or one sized from the file (`batch_size` 0).

    Every commit writes each index page the batch touched once (WAL), and new contacts land on
    random pages of six of their indexes (blind indexes, name keys, company): in a table of
    500,000 contacts a batch of 2,000 rows dirties about 2,000 pages per such index, a batch
    of 20,000 rows not ten times as many. So big files go in big batches (up to
    MAX_BATCH_ROWS; about a second of work each), and small ones in small batches, so that
    the progress bar still moves. A killed run loses at most the batch it was writing.
    """
    if batch_size > 0:
        return batch_size
    if not total_rows:
        return MIN_BATCH_ROWS
    return max(MIN_BATCH_ROWS, min(MAX_BATCH_ROWS, total_rows // BATCHES_PER_FILE))


@contextmanager
def import_connection() -> Iterator[None]:
    """On SQLite, a page cache big enough for one batch's dirty index pages, during the run.

    With the app's 64 MB, a batch of 20,000 contacts spills dirty pages to the WAL before it
    commits (and writes some of them again later). The cache is this connection's only and
    is given back afterwards: memory stays bounded by this constant, not by the file.
    """
    if connection.vendor != "sqlite":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA cache_size")
        (previous,) = cursor.fetchone()
        cursor.execute(f"PRAGMA cache_size=-{int(IMPORT_CACHE_KIB)}")
    try:
        yield
    finally:
        if connection.connection is not None:
            with connection.cursor() as cursor:
                cursor.execute(f"PRAGMA cache_size={int(previous)}")


_PHONE_NOISE = re.compile(r"[\s().-]+")


@lru_cache(maxsize=1)
def _cn_mobile() -> re.Pattern[str]:
    metadata = phonenumbers.PhoneMetadata.metadata_for_region("CN")
    assert metadata is not None and metadata.mobile is not None
    return re.compile(f"(?:{metadata.mobile.national_number_pattern})")


def normalise_phone(value: str) -> str:
    """Same result as crm.core.normalise.normalise_phone (region CN), faster for CN mobiles."""
    digits = _PHONE_NOISE.sub("", value)
    if digits.startswith("+86"):
        digits = digits[3:]
    if (
        len(digits) == 11
        and digits.isascii()
        and digits.isdigit()
        and _cn_mobile().fullmatch(digits)
    ):
        return "+86" + digits
    return normalise_phone_slow(value)


_PLAIN_TEXT = (models.CharField, models.TextField)


def fast_clean(field: models.Field[Any, Any], value: Any) -> Any:
    if (
        type(field) in _PLAIN_TEXT
        and type(value) is str
        and value
        and not field.choices
        and not field._validators  # type: ignore[attr-defined]
        and (field.max_length is None or len(value) <= field.max_length)
    ):
        return value
    return field.clean(value, None)


Converter = Callable[[Any], Any]


def _converter(field: models.Field[Any, Any]) -> Converter | None:
    """How a Python value becomes a database parameter; None when it passes unchanged."""
    if isinstance(field, EncryptedTextField):
        keys = crypto.field_keys()
        return lambda v: crypto.encrypt_with(keys, str(v)) if v not in (None, "") else v
    if isinstance(field, models.ForeignKey):
        return None
    if isinstance(field, (models.CharField, models.TextField, models.BooleanField)):
        return None
    if isinstance(field, (models.IntegerField, models.BigIntegerField)):
        return None
    prepare = field.get_db_prep_save
    return lambda v: v if v is None else prepare(v, connection)


Getter = Callable[[dict[str, Any]], Any]


def _getter(field: models.Field[Any, Any], tenant_id: int, now: datetime) -> Getter:
    """How one column's parameter is taken from a row's {attname: value}, decided once per
    column rather than once per cell: the tenant and auto_now moments are constants (adapted
    once), a missing value takes the field's default, and the model field's conversion runs."""
    attname = field.attname
    convert = _converter(field)
    if attname == "tenant_id":
        return lambda _values: tenant_id
    if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
        stamp = now if convert is None else convert(now)
        return lambda _values: stamp
    if field.has_default() and callable(field.default):
        make = field.default
        if convert is None:
            return lambda values: values[attname] if attname in values else make()
        return lambda values: convert(values[attname] if attname in values else make())
    default = field.get_default()
    if convert is None:
        return methodcaller("get", attname, default)
    return lambda values: convert(values.get(attname, default))


def _max_query_params() -> int:
    """Parameters one statement may carry on this connection.

    Django assumes SQLite's old default of 999; the library's own limit is read instead (often
    250,000), so a batch goes in a few statements rather than fifty. Fewer statements also
    mean fewer hand-overs of the GIL to the thread preparing the next batch.
    """
    if connection.vendor == "sqlite":
        connection.ensure_connection()
        raw = connection.connection
        if hasattr(raw, "getlimit"):
            return int(raw.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER))
        return 999
    return int(getattr(connection.features, "max_query_params", None) or 32767)


def ids_where_in(model: type[models.Model], column: str, values: Sequence[Any]) -> list[int]:
    """Ids of the current tenant's `model` rows whose `column` is one of `values`.

    The duplicate probe of an import: most rows of a big file match nothing, so only the
    (tenant, column) index is read. The statement is compiled once by the tenant manager (so
    the tenant filter is the manager's, failing closed without a tenant) for PROBE_VALUES
    stand-in values, then run with each chunk of real values in their places: the ORM would
    otherwise prepare each of the thousands of IN values one by one (half the probe's time).
    Always the same statement, padded with NULL (which matches nothing), because the driver
    caches each distinct statement it prepared and one with a thousand parameters is heavy.
    """
    if not values:
        return []
    size = max(1, min(PROBE_VALUES, _max_query_params() - 1))
    stand_ins = [f"ids_where_in stand-in {i}" for i in range(size)]
    query = model._default_manager.filter(**{f"{column}__in": stand_ins}).order_by()
    query = query.values_list("pk")
    sql, compiled = query.query.sql_with_params()
    at_of = {value: at for at, value in enumerate(compiled) if isinstance(value, str)}
    slots = [at_of[value] for value in stand_ins]  # where each stand-in sits in the params
    params = list(compiled)
    ids: list[int] = []
    with connection.cursor() as cursor:
        for start in range(0, len(values), size):
            chunk = list(values[start : start + size])
            chunk += [None] * (size - len(chunk))
            for at, value in zip(slots, chunk, strict=True):
                params[at] = value
            cursor.execute(sql, params)
            ids.extend(row[0] for row in cursor.fetchall())
    return ids


def statement_bounds(count: int, per_statement: int) -> list[tuple[int, int]]:
    """(start, end) of each INSERT: full statements, then the rest in powers of two.

    So a run prepares a handful of distinct statements, not one per batch: the sqlite3 driver
    keeps the last 128 it prepared, and one for a thousand rows of contacts weighs megabytes;
    a new remainder size for every batch made a long import's memory grow with the file.
    """
    bounds, start = [], 0
    while count - start >= per_statement:
        bounds.append((start, start + per_statement))
        start += per_statement
    size = 1 << max(per_statement.bit_length() - 1, 0)
    while start < count:
        while size > count - start:
            size >>= 1
        bounds.append((start, start + size))
        start += size
    return bounds


def _plain_rowid(model: type[models.Model]) -> bool:
    """An id SQLite numbers itself (Django's auto fields), not one the model supplies."""
    return type(model._meta.pk) in (models.AutoField, models.BigAutoField)


def bulk_insert(
    model: type[models.Model], rows: Sequence[dict[str, Any]], *, tenant_id: int
) -> list[int]:
    """Insert `rows` ({attname: value}) into `model`'s table; returns their new ids in order."""
    if not rows:
        return []
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    getters = [_getter(f, tenant_id, timezone.now()) for f in fields]
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    columns = ", ".join(quote(str(f.column)) for f in fields)
    assert model._meta.pk is not None
    pk = quote(str(model._meta.pk.column))
    per_statement = max(1, min(1000, _max_query_params() // len(fields)))
    # SQLite numbers the rows of one INSERT consecutively from one more than the largest id
    # (ever used, with Django's AUTOINCREMENT) while this transaction holds the write lock, so
    # the new ids follow from the last one. RETURNING would hand every id back through its own
    # sqlite3_step, re-taking the GIL each time: a thousand hand-overs per statement while
    # another thread runs Python.
    rowids_in_order = connection.vendor == "sqlite" and _plain_rowid(model)
    placeholder = "(" + ", ".join(["%s"] * len(fields)) + ")"
    ids: list[int] = []
    with connection.cursor() as cursor:
        for start, end in statement_bounds(len(rows), per_statement):
            chunk = rows[start:end]
            params: list[Any] = []
            for values in chunk:
                params.extend([get(values) for get in getters])
            sql = (
                f"INSERT INTO {table} ({columns}) VALUES "  # noqa: S608  # nosec B608 - names from model meta
                + ", ".join([placeholder] * len(chunk))
            )
            if rowids_in_order:
                cursor.execute(sql, params)
                last = cursor.lastrowid
                ids.extend(range(last - len(chunk) + 1, last + 1))
            else:
                cursor.execute(sql + f" RETURNING {pk}", params)
                ids.extend(row[0] for row in cursor.fetchall())
    return ids
