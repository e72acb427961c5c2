"""Field encryption (AES-GCM) and keyed blind indexes for personal data.

Ciphertext is text: ``v1:<key id>:<base64(nonce || ciphertext+tag)>``. The key id inside lets
keys rotate: new writes use the active key, old rows still decrypt with their own key.
The blind index is an HMAC-SHA256 of the *normalised* value under a separate key, so equal
values can be found and compared without decrypting anything.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_VERSION = "v1"
_NONCE_BYTES = 12
_NONCES_PER_DRAW = 1024


class DecryptionError(ValueError):
    pass


@dataclass(frozen=True)
class FieldKeys:
    active_key_id: str
    keys: dict[str, bytes]
    index_key: bytes


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def generate_key_material() -> dict[str, object]:
    return {
        "active": "k1",
        "keys": {"k1": _b64(AESGCM.generate_key(bit_length=256))},
        "index_key": _b64(secrets.token_bytes(32)),
    }


def parse_key_material(raw: dict[str, object]) -> FieldKeys:
    keys_raw = raw["keys"]
    if not isinstance(keys_raw, dict) or not keys_raw:
        raise ValueError("field keys: 'keys' must be a non-empty object")
    keys = {str(kid): base64.b64decode(str(val)) for kid, val in keys_raw.items()}
    active = str(raw["active"])
    if active not in keys:
        raise ValueError(f"field keys: active key {active!r} is not among the keys")
    if any(len(k) != 32 for k in keys.values()):
        raise ValueError("field keys: every key must be 32 bytes (AES-256)")
    return FieldKeys(active, keys, base64.b64decode(str(raw["index_key"])))


def load_field_keys(env_value: str | None, key_file: Path) -> FieldKeys:
    """Keys from the environment (JSON) or a key file, which is created on first use."""
    if env_value:
        return parse_key_material(json.loads(env_value))
    if not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        # Written whole to a private file, then linked into place: several processes starting
        # at once never read a half-written file, and the first link wins for all of them.
        tmp = key_file.with_name(f".{key_file.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(generate_key_material(), handle)
        try:
            os.link(tmp, key_file)
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
    return parse_key_material(json.loads(key_file.read_text()))


@lru_cache(maxsize=1)
def field_keys() -> FieldKeys:
    from django.conf import settings

    return load_field_keys(os.environ.get("CRM_FIELD_KEYS"), Path(settings.FIELD_KEYS_FILE))


@lru_cache(maxsize=32)
def _cipher(key: bytes) -> AESGCM:
    """One AES-GCM object per key (it holds no per-message state): building one per value cost
    a few microseconds on every encrypted field read or written."""
    return AESGCM(key)


class _NoncePool(threading.local):
    """Random nonces drawn from the OS in blocks: one getrandom call per 1,024 values.

    A nonce per call cost a system call (about 5 µs) on every encrypted value; a bulk import
    encrypts two or three per row. The bytes are the same CSPRNG's, so nonces stay as unique
    as one draw each. A pool belongs to one thread, and a forked child starts with an empty
    one, so two processes or threads never hand out the same bytes.
    """

    def __init__(self) -> None:
        self.block = b""
        self.offset = 0

    def take(self) -> bytes:
        if self.offset >= len(self.block):
            self.block = os.urandom(_NONCE_BYTES * _NONCES_PER_DRAW)
            self.offset = 0
        start = self.offset
        self.offset = start + _NONCE_BYTES
        return self.block[start : self.offset]

    def forget(self) -> None:
        self.block = b""
        self.offset = 0


_nonces = _NoncePool()
os.register_at_fork(after_in_child=_nonces.forget)


def encrypt_with(keys: FieldKeys, plaintext: str) -> str:
    key_id = keys.active_key_id
    nonce = _nonces.take()
    sealed = _cipher(keys.keys[key_id]).encrypt(nonce, plaintext.encode("utf-8"), key_id.encode())
    return f"{_VERSION}:{key_id}:{_b64(nonce + sealed)}"


def decrypt_with(keys: FieldKeys, token: str) -> str:
    try:
        version, key_id, payload = token.split(":", 2)
    except ValueError as exc:
        raise DecryptionError("not an encrypted value") from exc
    if version != _VERSION or key_id not in keys.keys:
        raise DecryptionError(f"unknown key id {key_id!r}")
    blob = base64.b64decode(payload)
    nonce, sealed = blob[:_NONCE_BYTES], blob[_NONCE_BYTES:]
    return _cipher(keys.keys[key_id]).decrypt(nonce, sealed, key_id.encode()).decode("utf-8")


def blind_index_with(keys: FieldKeys, kind: str, normalised: str) -> str:
    """HMAC of the normalised value, separated by kind so an email never equals a phone."""
    message = f"{kind}:{normalised}".encode()
    return hmac.digest(keys.index_key, message, hashlib.sha256).hex()[:32]


def encrypt(plaintext: str) -> str:
    return encrypt_with(field_keys(), plaintext)


def decrypt(token: str) -> str:
    return decrypt_with(field_keys(), token)


def blind_index(kind: str, normalised: str) -> str:
    return blind_index_with(field_keys(), kind, normalised)
