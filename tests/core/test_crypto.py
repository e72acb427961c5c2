from __future__ import annotations

import base64

import pytest
from cryptography.exceptions import InvalidTag

from crm.core.crypto import (
    DecryptionError,
    FieldKeys,
    blind_index_with,
    decrypt_with,
    encrypt_with,
    generate_key_material,
    load_field_keys,
    parse_key_material,
)


def keys() -> FieldKeys:
    return parse_key_material(generate_key_material())


def test_round_trip_and_no_plaintext_in_ciphertext() -> None:
    k = keys()
    token = encrypt_with(k, "zhang.wei@example.com")
    assert "zhang" not in token and "example" not in token
    assert token.startswith("v1:k1:")
    assert decrypt_with(k, token) == "zhang.wei@example.com"


def test_same_value_encrypts_differently_but_indexes_equally() -> None:
    k = keys()
    assert encrypt_with(k, "+8613800138000") != encrypt_with(k, "+8613800138000")
    assert blind_index_with(k, "phone", "+8613800138000") == blind_index_with(
        k, "phone", "+8613800138000"
    )
    assert blind_index_with(k, "phone", "x") != blind_index_with(k, "email", "x")


def test_rotation_old_rows_still_decrypt_new_rows_use_new_key() -> None:
    material = generate_key_material()
    old = parse_key_material(material)
    token_old = encrypt_with(old, "old secret")
    material["keys"]["k2"] = base64.b64encode(b"\x01" * 32).decode()  # type: ignore[index]
    material["active"] = "k2"
    rotated = parse_key_material(material)
    token_new = encrypt_with(rotated, "new secret")
    assert token_new.startswith("v1:k2:")
    assert decrypt_with(rotated, token_old) == "old secret"
    assert decrypt_with(rotated, token_new) == "new secret"


def test_tampered_ciphertext_is_rejected() -> None:
    k = keys()
    token = encrypt_with(k, "secret")
    prefix, payload = token.rsplit(":", 1)
    raw = bytearray(base64.b64decode(payload))
    raw[-1] ^= 1
    with pytest.raises(InvalidTag):
        decrypt_with(k, f"{prefix}:{base64.b64encode(bytes(raw)).decode()}")
    with pytest.raises(DecryptionError):
        decrypt_with(k, "v1:unknown:AAAA")


def test_key_file_is_created_once_with_private_permissions(tmp_path) -> None:
    path = tmp_path / "keys.json"
    first = load_field_keys(None, path)
    second = load_field_keys(None, path)
    assert first == second
    assert path.stat().st_mode & 0o777 == 0o600


def test_blind_index_is_the_keyed_hmac_stored_rows_were_indexed_with() -> None:
    """Rows written by earlier versions must still be found: HMAC-SHA256 of "kind:value"."""
    import hashlib
    import hmac

    keys = parse_key_material(generate_key_material())
    message = b"phone:+8613800138000"
    expected = hmac.new(keys.index_key, message, hashlib.sha256).hexdigest()[:32]
    assert blind_index_with(keys, "phone", "+8613800138000") == expected
    assert blind_index_with(keys, "email", "+8613800138000") != expected


def test_nonces_never_repeat_across_draws_threads_and_a_forked_child() -> None:
    import os
    import threading

    keys = FieldKeys("k1", {"k1": bytes(32)}, bytes(32))

    def nonce(token: str) -> bytes:
        return base64.b64decode(token.split(":", 2)[2])[:12]

    seen = [nonce(encrypt_with(keys, "x")) for _ in range(3_000)]  # > one draw
    in_thread: list[bytes] = []
    worker = threading.Thread(
        target=lambda: in_thread.extend(nonce(encrypt_with(keys, "x")) for _ in range(50))
    )
    worker.start()
    worker.join()
    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:  # the child draws from the pool its parent was using when it forked
        os.write(writer, b"".join(nonce(encrypt_with(keys, "x")) for _ in range(50)))
        os._exit(0)
    os.waitpid(child, 0)
    from_child = os.read(reader, 50 * 12)
    os.close(reader)
    os.close(writer)
    parent_next = [nonce(encrypt_with(keys, "x")) for _ in range(50)]
    child_nonces = [from_child[i : i + 12] for i in range(0, len(from_child), 12)]
    everything = seen + in_thread + child_nonces + parent_next
    assert len(child_nonces) == 50
    assert len(set(everything)) == len(everything)
