"""Re-encrypting stored personal data under the active field key, so an old key can be retired.

Every encrypted value carries the id of the key that sealed it (crm.core.crypto). After the
operator makes a new key active, new writes use it and old values still decrypt with theirs;
`reencrypt` rewrites the old ones, column by column in batches of rows in id order:

* it reads the stored text with plain SQL (no ORM decryption of the whole row), decrypts and
  seals each value again under the active key, and writes it back only if the row still holds
  the text it read (compare-and-set), so the CRM can keep running: a value a user changes in
  the meantime is already under the active key and is left alone;
* each batch is one transaction: stopping it (Ctrl-C, a crash) loses nothing, and running it
  again continues, since values already under the active key are skipped;
* blind indexes are untouched (their key is separate and never rotates), so every search and
  duplicate check finds the same records before, during and after;
* a value that no configured key opens (its key was removed too early) is counted and left as
  it is, never overwritten.

`key_usage` counts the values under each key id, which tells when an old key is no longer used.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from django.apps import apps
from django.db import connection, models, transaction

from crm.core import crypto
from crm.core.fields import EncryptedTextField

BATCH_ROWS = 2_000
UNREADABLE = "(unreadable)"


@dataclass
class ColumnReport:
    """What one encrypted column holds (`by_key`) and what a run rewrote."""

    label: str
    by_key: Counter[str] = field(default_factory=Counter)
    rewritten: int = 0
    changed_meanwhile: int = 0


def encrypted_columns() -> list[tuple[type[models.Model], str]]:
    """Every (model, column) holding encrypted text, in a stable order."""
    found = []
    for model in apps.get_models():
        for model_field in model._meta.concrete_fields:
            if isinstance(model_field, EncryptedTextField) and model_field.column:
                found.append((model, model_field.column))
    return sorted(found, key=lambda item: (item[0]._meta.label, item[1]))


def _label(model: type[models.Model], column: str) -> str:
    return f"{model._meta.label}.{column}"


def _names(model: type[models.Model], column: str) -> tuple[str, str, str]:
    """The quoted table, primary key and value column names."""
    quote = connection.ops.quote_name
    pk_column = model._meta.pk.column if model._meta.pk else "id"
    return quote(model._meta.db_table), quote(pk_column or "id"), quote(column)


def _key_id(token: str, keys: crypto.FieldKeys) -> str:
    """The id of the key a stored value names, or UNREADABLE if no configured key has it."""
    version, _sep, rest = token.partition(":")
    key_id = rest.partition(":")[0]
    return key_id if version == "v1" and key_id in keys.keys else UNREADABLE


def _batches(model: type[models.Model], column: str) -> Iterator[list[tuple[int, str]]]:
    """(id, stored text) of the rows with a value, BATCH_ROWS at a time in id order."""
    table, pk, value = _names(model, column)
    statement = (
        f"SELECT {pk}, {value} FROM {table} WHERE {pk} > %s AND {value} <> ''"  # noqa: S608  # nosec B608 - names from the models
        f" ORDER BY {pk} LIMIT {BATCH_ROWS}"
    )
    last = 0
    while True:
        with connection.cursor() as cursor:
            cursor.execute(statement, [last])
            rows = cursor.fetchall()
        if not rows:
            return
        yield rows
        last = rows[-1][0]


def key_usage() -> list[ColumnReport]:
    """How many values of each encrypted column each key id seals."""
    keys = crypto.field_keys()
    reports = []
    for model, column in encrypted_columns():
        report = ColumnReport(_label(model, column))
        for rows in _batches(model, column):
            report.by_key.update(_key_id(token, keys) for _pk, token in rows)
        reports.append(report)
    return reports


def reencrypt(progress: Callable[[ColumnReport], None] | None = None) -> list[ColumnReport]:
    """Seal every value not under the active key again under it; `progress` after each batch."""
    keys = crypto.field_keys()
    active = keys.active_key_id
    reports = []
    for model, column in encrypted_columns():
        report = ColumnReport(_label(model, column))
        table, pk, value = _names(model, column)
        update = f"UPDATE {table} SET {value} = %s WHERE {pk} = %s AND {value} = %s"  # noqa: S608  # nosec B608 - names from the models
        for rows in _batches(model, column):
            changes = []
            for row_id, token in rows:
                key_id = _key_id(token, keys)
                report.by_key[key_id] += 1
                if key_id not in (active, UNREADABLE):
                    sealed = crypto.encrypt_with(keys, crypto.decrypt_with(keys, token))
                    changes.append((sealed, row_id, token))
            if changes:
                with transaction.atomic(), connection.cursor() as cursor:
                    cursor.executemany(update, changes)
                    written = cursor.rowcount  # summed over the rows (sqlite3, psycopg >= 3.1)
                report.rewritten += written
                report.changed_meanwhile += len(changes) - written
            if progress is not None:
                progress(report)
        reports.append(report)
    return reports
