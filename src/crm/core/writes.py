"""Helpers every service uses: validate a model, snapshot and diff fields for the audit log."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models

from crm.core import crypto
from crm.core.errors import ValidationFailedError

# Fields whose values never go into the audit log in clear (they are personal data).
SECRET_FIELDS = frozenset({"email", "phone", "id_number", "password", "token_hash"})


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, models.Model):
        return value.pk
    return value


def _masked(value: Any) -> str:
    """A keyed fingerprint: shows that a secret changed without revealing or enabling a guess."""
    return "***" + crypto.blind_index("audit", str(value))[:8]


def snapshot(instance: models.Model, fields: Iterable[str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in fields:
        field = instance._meta.get_field(name)
        attname = getattr(field, "attname", name)
        value = getattr(instance, attname)
        values[attname] = _masked(value) if name in SECRET_FIELDS and value else _plain(value)
    return values


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, list[Any]]:
    """{field: [before, after]} for the fields whose value changed."""
    return {k: [before.get(k), v] for k, v in after.items() if before.get(k) != v}


def editable_field_names(model: type[models.Model]) -> list[str]:
    return [
        f.name
        for f in model._meta.concrete_fields
        if f.editable and not f.primary_key and f.name not in {"tenant", "created_at", "updated_at"}
    ]


def validate_instance(instance: models.Model, *, exclude: Iterable[str] = ()) -> None:
    """full_clean() with Django's messages turned into a ValidationFailedError naming each field."""
    try:
        instance.full_clean(exclude=list(exclude), validate_constraints=True)
    except ValidationError as exc:
        raise validation_failed(exc) from exc


def validation_failed(exc: ValidationError) -> ValidationFailedError:
    if hasattr(exc, "error_dict"):
        fields = {
            ("__all__" if name == "__all__" else name): [
                str(m) for m in ValidationError(errs).messages
            ]
            for name, errs in exc.error_dict.items()
        }
    else:
        fields = {"__all__": [str(m) for m in exc.messages]}
    return ValidationFailedError("Some fields are not valid.", fields=fields)


def field_error(field: str, message: str) -> ValidationFailedError:
    return ValidationFailedError(f"{field}: {message}", fields={field: [message]})
