"""The shape every create / update / delete service shares: validate, save, leave a trace.

Domain services resolve their inputs (ids through tenant-scoped managers, normalised values)
and then call these, inside their own transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.core.errors import PermissionDeniedError
from crm.core.writes import diff, editable_field_names, field_error, snapshot, validate_instance
from crm.events.services import record_written
from crm.tenancy.models import Membership, Visibility

M = TypeVar("M", bound=models.Model)
R = TypeVar("R", bound=models.Model)


def resolve(model: type[R], pk: int | None, field: str) -> R | None:
    """A related row of the current tenant by id, or a field error naming `field`."""
    if pk is None:
        return None
    row = model._default_manager.filter(pk=pk).first()
    if row is None:
        raise field_error(field, _("No such record."))
    return row


def resolve_owner(
    actor: Membership, owner_id: int | None, *, field: str = "owner_id"
) -> Membership:
    """The owner to set: the actor by default; someone else only if the actor sees beyond own."""
    if owner_id is None or owner_id == actor.pk:
        return actor
    owner = resolve(Membership, owner_id, field)
    assert owner is not None
    if not owner.is_active:
        raise field_error(field, _("This member is not active."))
    if actor.visibility == Visibility.OWN:
        raise PermissionDeniedError(_("You can only assign records to yourself."))
    if actor.visibility == Visibility.TEAM and owner.team_id != actor.team_id:
        raise PermissionDeniedError(_("You can only assign records within your team."))
    return owner


def assign(instance: models.Model, values: Mapping[str, Any], allowed: Iterable[str]) -> list[str]:
    """Set the allowed attributes present in `values`; returns the names that were given."""
    allowed_set = set(allowed)
    given = []
    for name, value in values.items():
        if name not in allowed_set:
            raise field_error(name, _("This field cannot be set."))
        setattr(instance, name, value)
        given.append(name)
    return given


def save_new(actor: Membership | None, instance: M, *, payload: dict[str, Any] | None = None) -> M:
    validate_instance(instance, exclude=["tenant"])
    instance.save()
    after = snapshot(instance, editable_field_names(type(instance)))
    record_written(
        actor=actor,
        instance=instance,
        action="created",
        changes={k: [None, v] for k, v in after.items() if v not in (None, "", [], {})},
        payload=payload,
    )
    return instance


def save_changes(
    actor: Membership | None,
    instance: M,
    before: Mapping[str, Any],
    *,
    action: str = "updated",
    payload: dict[str, Any] | None = None,
    derived: Iterable[str] = (),
) -> dict[str, list[Any]]:
    """Validate and save the fields that changed since `before` (a snapshot); audit the diff.

    `derived` names stored fields computed from the changed ones (search keys, blind indexes)
    that are saved with them but kept out of the audit log.
    """
    validate_instance(instance, exclude=["tenant"])
    after = snapshot(instance, before.keys())
    changes = diff(before, after)
    if changes:
        update_fields = [instance._meta.get_field(k).name for k in changes]
        update_fields.extend(derived)
        if any(f.name == "updated_at" for f in instance._meta.concrete_fields):
            update_fields.append("updated_at")
        instance.save(update_fields=update_fields)
        record_written(
            actor=actor, instance=instance, action=action, changes=changes, payload=payload
        )
    return changes


def soft_delete(actor: Membership | None, instance: models.Model) -> None:
    instance.deleted_at = timezone.now()  # type: ignore[attr-defined]
    instance.save(update_fields=["deleted_at", "updated_at"])
    record_written(actor=actor, instance=instance, action="deleted", changes={})


def restore(actor: Membership | None, instance: models.Model) -> None:
    instance.deleted_at = None  # type: ignore[attr-defined]
    instance.save(update_fields=["deleted_at", "updated_at"])
    record_written(actor=actor, instance=instance, action="restored", changes={})


def hard_delete(actor: Membership | None, instance: models.Model) -> None:
    record_written(
        actor=actor,
        instance=instance,
        action="deleted",
        changes=snapshot(instance, editable_field_names(type(instance))),
    )
    instance.delete()
