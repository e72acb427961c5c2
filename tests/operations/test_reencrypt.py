"""Key rotation end to end: `crm reencrypt` seals old values under the new key, so the old key
can be removed and every record still reads and is still found."""

from __future__ import annotations

import io
from dataclasses import replace
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from crm.core import crypto
from crm.customers.models import Contact
from crm.customers.selectors import contact_list
from crm.customers.services import contact_create
from crm.integrations.merge import contact_merge
from crm.integrations.models import MergeRecord
from crm.operations import reencrypt as reencrypt_module
from crm.sales.models import Lead
from crm.sales.services import lead_create

NEW_KEY = b"\x07" * 32


def stored(model: Any, column: str) -> list[str]:
    """The text in the database, as a backup would hold it."""
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE {column} <> '' ORDER BY id")
        return [row[0] for row in cursor.fetchall()]


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("reencrypt", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def old_keys() -> crypto.FieldKeys:
    return crypto.field_keys()


@pytest.fixture
def records(world: Any, old_keys: crypto.FieldKeys) -> dict[str, Any]:
    admin = world.admin
    ann = contact_create(
        actor=admin,
        values={"name": "Ann", "email": "ann@example.com", "phone": "13800138000"},
    )
    twin = contact_create(
        actor=admin, values={"name": "Ann Lee", "email": "ann.lee@example.com", "id_number": "X1"}
    )
    merge = contact_merge(actor=admin, survivor=ann, merged=twin)
    lead = lead_create(actor=admin, values={"name": "李四", "email": "li@example.cn"})
    return {"admin": admin, "ann": ann, "lead": lead, "merge": merge}


def rotate(monkeypatch: pytest.MonkeyPatch, keys: crypto.FieldKeys) -> crypto.FieldKeys:
    rotated = replace(keys, active_key_id="k2", keys={**keys.keys, "k2": NEW_KEY})
    monkeypatch.setattr(crypto, "field_keys", lambda: rotated)
    return rotated


def test_rotation_rewrites_every_old_value_and_the_old_key_can_go(
    records: dict[str, Any], old_keys: crypto.FieldKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    ann, lead, merge = records["ann"], records["lead"], records["merge"]
    ann = Contact.objects.get(pk=ann.pk)  # as the merge left it
    before = {
        "ann": (ann.email, ann.phone, ann.email_index),
        "lead": Lead.objects.get(pk=lead.pk).email,
        "merge": MergeRecord.objects.get(pk=merge.pk).survivor_before,
    }
    old_key = old_keys.active_key_id
    assert all(v.startswith(f"v1:{old_key}:") for v in stored(Contact, "email"))
    rotate(monkeypatch, old_keys)

    check = run("--check")
    assert f"customers.Contact.email: {old_key} 2" in check
    assert all(v.startswith(f"v1:{old_key}:") for v in stored(Contact, "email"))  # unchanged

    out = run()
    assert "customers.Contact.email: 2 rewritten" in out
    assert "customers.Contact.email: k2 2" in out
    assert "sales.Lead.email: k2 1" in out
    assert f"No value uses {old_key} any more" in out
    for model, column in reencrypt_module.encrypted_columns():
        assert all(v.startswith("v1:k2:") for v in stored(model, column)), (model, column)
    assert stored(MergeRecord, "survivor_before")  # the merge's snapshot was rewritten too

    # the old key removed: everything reads, and is found by its unchanged blind index
    monkeypatch.setattr(
        crypto, "field_keys", lambda: replace(old_keys, active_key_id="k2", keys={"k2": NEW_KEY})
    )
    again = Contact.objects.get(pk=ann.pk)
    assert (again.email, again.phone, again.email_index) == before["ann"]
    assert Lead.objects.get(pk=lead.pk).email == before["lead"]
    assert MergeRecord.objects.get(pk=merge.pk).survivor_before == before["merge"]
    found = contact_list(actor=records["admin"], search=before["ann"][0])
    assert list(found.values_list("pk", flat=True)) == [ann.pk]
    assert "0 rewritten" in run() and "No value uses" not in run("--check")


def test_a_value_no_key_opens_is_reported_and_left_alone(
    records: dict[str, Any], old_keys: crypto.FieldKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    lost_key = replace(old_keys, active_key_id="k9", keys={"k9": b"\x09" * 32})
    orphan = crypto.encrypt_with(lost_key, "orphan@example.com")
    with connection.cursor() as cursor:  # as a restored backup could hold it
        cursor.execute(
            "UPDATE sales_lead SET phone = %s WHERE id = %s", [orphan, records["lead"].pk]
        )
    rotate(monkeypatch, old_keys)
    with pytest.raises(CommandError, match="1 value"):
        run()
    assert orphan in stored(Lead, "phone")
    assert all(v.startswith("v1:k2:") for v in stored(Contact, "email"))


def test_a_value_changed_while_it_runs_keeps_the_change(
    records: dict[str, Any], old_keys: crypto.FieldKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CRM keeps serving during a rotation: a user's edit between the read and the write
    of a batch wins, and the run says so."""
    rotate(monkeypatch, old_keys)
    lead = records["lead"]
    real_decrypt = crypto.decrypt_with
    edited = []

    def decrypt_during_an_edit(keys: crypto.FieldKeys, token: str) -> str:
        if not edited and token == stored(Lead, "email")[0]:
            Lead.objects.filter(pk=lead.pk).update(email="new@example.cn")
            edited.append(token)
        return real_decrypt(keys, token)

    monkeypatch.setattr(crypto, "decrypt_with", decrypt_during_an_edit)
    reports = {r.label: r for r in reencrypt_module.reencrypt()}
    assert edited
    assert reports["sales.Lead.email"].changed_meanwhile == 1
    assert reports["sales.Lead.email"].rewritten == 0
    assert Lead.objects.get(pk=lead.pk).email == "new@example.cn"
    assert reports["customers.Contact.email"].rewritten == 2
