"""Batch loading with explicit ids: rows as tuples, `executemany` per batch, one transaction each.

This is operator bulk load, not a service write: no per-row audit link or outbox event (the loader
writes one audit link per tenant for the whole load). Ids are handed out here (from the table's
current maximum), so children can point at parents without reading anything back; a writer
flushes its parents first so that foreign keys hold at every commit. Values must already be in
stored form (personal data encrypted with `crypto.encrypt`, blind indexes and name keys computed),
except datetimes, which rows carry as POSIX timestamps.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Protocol

from django.core.management.color import no_style
from django.db import connection, models, transaction
from django.db.models import Max

Converter = Callable[[Any], Any]

BATCH_SIZE = 5000
SQLITE_FORMAT = "%Y-%m-%d %H:%M:%S"


class Stream(Protocol):
    def write(self, text: str, /) -> Any: ...

    def flush(self) -> Any: ...


class Progress:
    """Rows/s on stderr while loading: a line every few seconds and one per phase."""

    def __init__(self, stream: Stream | None = None, *, every: float = 5.0) -> None:
        self.stream: Stream = stream if stream is not None else sys.stderr
        self.every = every
        self.counts: dict[str, int] = {}
        self.started = self._last_report = time.perf_counter()

    def section(self, title: str) -> None:
        """Start counting afresh (one section per tenant)."""
        self.counts = {}
        self.started = self._last_report = time.perf_counter()
        self.message(title)

    def add(self, label: str, rows: int) -> None:
        self.counts[label] = self.counts.get(label, 0) + rows
        now = time.perf_counter()
        if now - self._last_report >= self.every:
            self._last_report = now
            elapsed = now - self.started
            self.message(
                f"  … {self.total:,} rows in {elapsed:.0f} s "
                f"({self.total / max(elapsed, 1e-9):,.0f} rows/s)"
            )

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        rows, started = self.total, time.perf_counter()
        yield
        rows, seconds = self.total - rows, time.perf_counter() - started
        self.message(
            f"  {name:<36} {rows:>11,} rows {seconds:7.1f} s "
            f"({rows / max(seconds, 1e-9):>9,.0f} rows/s)"
        )

    def message(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    @property
    def total(self) -> int:
        return sum(self.counts.values())


class Inserter(threading.Thread):
    """Runs the batches' INSERTs in a thread of its own, on its own database connection.

    SQLite works with the GIL released, so generating the next rows (Python) overlaps with
    inserting the previous ones: the load uses both cores. Batches are inserted in the order
    they were queued, one transaction each, so parents still land before their children.
    """

    def __init__(self) -> None:
        super().__init__(name="demo-inserter", daemon=True)
        self.batches: queue.Queue[tuple[str, Sequence[Sequence[Any]]] | None] = queue.Queue(8)
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            if connection.vendor == "sqlite":
                with connection.cursor() as cursor:
                    # This connection only: a bigger page cache keeps the indexes in memory, and
                    # no fsync per checkpoint (a crash mid-load means loading into an empty
                    # database again anyway).
                    cursor.execute("PRAGMA cache_size=-262144")
                    cursor.execute("PRAGMA synchronous=OFF")
            while (batch := self.batches.get()) is not None:
                if self.error is None:
                    sql, params = batch
                    with transaction.atomic(), connection.cursor() as cursor:
                        cursor.executemany(sql, params)
        except BaseException as exc:  # handed to the loading thread
            self.error = exc
            while self.batches.get() is not None:
                pass
        finally:
            connection.close()

    def put(self, sql: str, params: Sequence[Sequence[Any]]) -> None:
        self.check()
        self.batches.put((sql, params))

    def finish(self) -> None:
        self.batches.put(None)
        self.join()
        self.check()

    def check(self) -> None:
        if self.error is not None:
            raise self.error


def _converter(field: models.Field[Any, Any]) -> Converter | None:
    """How a Python value becomes a parameter for this column (None: as it is)."""
    if isinstance(field, models.DateTimeField):
        # Rows carry POSIX timestamps (floats); seconds are precise enough for demo data.
        if connection.vendor == "sqlite":
            # What Django's SQLite backend stores: naive UTC text.
            return lambda v: None if v is None else time.strftime(SQLITE_FORMAT, time.gmtime(v))
        return lambda v: None if v is None else datetime.fromtimestamp(v, tz=UTC)
    if isinstance(field, models.DateField):
        return connection.ops.adapt_datefield_value
    if isinstance(field, models.JSONField):
        return lambda v: field.get_db_prep_save(v, connection)
    return None


class TableWriter:
    """Buffers rows of one table and inserts them in batches, each in its own transaction."""

    def __init__(
        self,
        model: type[models.Model],
        fields: Sequence[str],
        progress: Progress,
        *,
        label: str = "",
        parents: Sequence[TableWriter] = (),
        inserter: Inserter | None = None,
        batch_size: int = BATCH_SIZE,
    ) -> None:
        """`fields` are attribute names (`account_id`), without `id`: each row starts with it.

        Columns not named get their model default in every row.
        """
        meta = model._meta
        self.model = model
        self.label = label or meta.model_name or model.__name__
        self.progress = progress
        self.parents = list(parents)
        self.inserter = inserter
        self.batch_size = batch_size
        self.rows: list[tuple[Any, ...]] = []
        self.written = 0
        columns: list[str] = [str(meta.pk.column) if meta.pk is not None else "id"]
        self._converters: list[tuple[int, Converter]] = []
        for index, name in enumerate(fields, start=1):
            field = meta.get_field(name)
            assert isinstance(field, models.Field)  # a concrete column, not a reverse relation
            columns.append(str(field.column))
            convert = _converter(field)
            if convert is not None:
                self._converters.append((index, convert))
        # Every other column gets its model default (Django sets no defaults in the schema).
        given = {meta.get_field(name).name for name in fields}
        self._defaults: tuple[Any, ...] = ()
        for other in meta.concrete_fields:
            if other.primary_key or other.name in given:
                continue
            columns.append(str(other.column))
            default = other.get_default()
            self._defaults += (other.get_db_prep_save(default, connection),)
        quote = connection.ops.quote_name
        # Identifiers from the model's metadata, quoted; values go as parameters.
        table = quote(meta.db_table)
        names = ", ".join(quote(c) for c in columns)
        marks = ", ".join(["%s"] * len(columns))
        self.sql = f"INSERT INTO {table} ({names}) VALUES ({marks})"  # noqa: S608  # nosec B608
        current = model._base_manager.aggregate(top=Max("pk"))["top"] or 0
        self._next_id = int(current) + 1

    def new_id(self) -> int:
        value = self._next_id
        self._next_id += 1
        return value

    def add(self, row: tuple[Any, ...]) -> None:
        self.rows.append(row + self._defaults if self._defaults else row)
        if len(self.rows) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        for parent in self.parents:
            parent.flush()
        if not self.rows:
            return
        rows = self.rows
        self.rows = []
        if self._converters:
            converted = []
            for row in rows:
                values = list(row)
                for index, convert in self._converters:
                    values[index] = convert(values[index])
                converted.append(values)
            params: Sequence[Sequence[Any]] = converted
        else:
            params = rows
        if self.inserter is not None:
            self.inserter.put(self.sql, params)
        else:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.executemany(self.sql, params)
        self.written += len(rows)
        self.progress.add(self.label, len(rows))

    def reset_sequence(self) -> None:
        """Call once the rows are in (after `Inserter.finish`)."""
        # PostgreSQL's id sequence does not see explicit ids; SQLite's AUTOINCREMENT does.
        statements = connection.ops.sequence_reset_sql(no_style(), [self.model])
        if statements:
            with connection.cursor() as cursor:
                for statement in statements:
                    cursor.execute(statement)
