"""Model fields for personal data: stored as AES-GCM ciphertext, read back as plain text."""

from __future__ import annotations

from typing import Any

from django.db import models

from crm.core import crypto


class EncryptedTextField(models.TextField):
    """Encrypts on the way into the database and decrypts on the way out.

    Lookups on this field cannot work (every ciphertext is different); search by the blind
    index stored beside it instead.
    """

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str | None:
        if value is None or value == "":
            return value
        return crypto.decrypt(value)

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return crypto.encrypt(str(value))
