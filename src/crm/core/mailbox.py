"""One mailbox, many spellings: a+tag@x.com, a@x.com and, at Gmail, a.b@gmail.com and
ab@googlemail.com reach the same inbox, so a person written down under one spelling must be found
under the others (duplicate checks, the scan, imports, search, privacy requests).

Each contact and lead stores the blind index of its email as written (`email_index`) and, only
when that email is another spelling of its mailbox, the blind index of the mailbox
(`email_alias_index`, NULL otherwise: its partial index holds the few aliases). Every spelling
of one mailbox is then found by one lookup: `email_index` in (its own index, the mailbox key) or
`email_alias_index` = the mailbox key.
"""

from __future__ import annotations

from crm.core import crypto
from crm.core.normalise import email_canonical


def mailbox_key(email: str) -> str:
    """The blind index of the mailbox an email reaches; empty for an empty or malformed email."""
    canonical = email_canonical(email)
    return crypto.blind_index("email", canonical) if canonical else ""


def stored_email_alias(email: str) -> str | None:
    """What a record keeps in `email_alias_index`: the mailbox key when the (normalised) email
    is another spelling of it, else None."""
    canonical = email_canonical(email)
    if not canonical or canonical == email.strip().lower():
        return None
    return crypto.blind_index("email", canonical)
