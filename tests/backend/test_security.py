"""Password hashing, API key digests and the AES-256-GCM SecretBox, without HTTP."""

from __future__ import annotations

import base64
import os

import pytest

from utils.security import (
    API_KEY_PREFIX,
    DecryptionFailed,
    SecretBox,
    api_key_digest,
    hash_password,
    key_id,
    new_api_key,
    verify_password,
)

KEY_A = os.urandom(32)
KEY_B = os.urandom(32)
AAD = "mt5_accounts:1:password"


def test_verify_password_right_password_is_true():
    assert verify_password("correct horse", hash_password("correct horse", 4))


def test_verify_password_wrong_password_is_false():
    assert not verify_password("correct horsf", hash_password("correct horse", 4))


def test_verify_password_long_passwords_differing_after_72_bytes_are_distinct():
    stem = "ก" * 30  # 90 UTF-8 bytes
    stored = hash_password(stem + "a", 4)

    assert not verify_password(stem + "b", stored)
    assert verify_password(stem + "a", stored)


def test_hash_password_uses_requested_cost():
    assert hash_password("correct horse", 12 - 8).startswith("$2b$04$")


def test_verify_password_corrupt_hash_is_false():
    assert not verify_password("correct horse", "not-a-bcrypt-hash")


def test_new_api_key_has_prefix_and_128_bits_or_more():
    fresh = new_api_key("pepper")

    assert fresh.key.startswith(API_KEY_PREFIX)
    assert len(base64.urlsafe_b64decode(fresh.key[len(API_KEY_PREFIX) :] + "=")) >= 16
    assert fresh.key.startswith(fresh.prefix)
    assert fresh.digest == api_key_digest(fresh.key, "pepper")


def test_api_key_digest_depends_on_pepper():
    assert api_key_digest("mt5k_abc", "pepper-1") != api_key_digest("mt5k_abc", "pepper-2")


def test_secret_box_round_trip_returns_plaintext():
    box = SecretBox(KEY_A)

    assert box.decrypt(box.encrypt("s3cret", AAD), AAD) == "s3cret"


def test_secret_box_ciphertext_is_randomised_and_tagged_with_key_id():
    box = SecretBox(KEY_A)

    first, second = box.encrypt("s3cret", AAD), box.encrypt("s3cret", AAD)

    assert first != second
    assert first.startswith(f"v1:{key_id(KEY_A)}:") and "s3cret" not in first


def test_secret_box_other_associated_data_fails():
    box = SecretBox(KEY_A)

    with pytest.raises(DecryptionFailed):
        box.decrypt(box.encrypt("s3cret", AAD), "mt5_accounts:2:password")


def test_secret_box_flipped_byte_fails():
    box = SecretBox(KEY_A)
    version, kid, blob = box.encrypt("s3cret", AAD).split(":")
    raw = bytearray(base64.urlsafe_b64decode(blob))
    raw[-1] ^= 1

    with pytest.raises(DecryptionFailed):
        box.decrypt(f"{version}:{kid}:{base64.urlsafe_b64encode(bytes(raw)).decode()}", AAD)


@pytest.mark.parametrize("stored", ["", "garbage", "v1:deadbeef:AAAA", "v9:x:y"])
def test_secret_box_malformed_value_fails(stored):
    with pytest.raises(DecryptionFailed):
        SecretBox(KEY_A).decrypt(stored, AAD)


def test_secret_box_unknown_key_fails():
    sealed = SecretBox(KEY_A).encrypt("s3cret", AAD)

    with pytest.raises(DecryptionFailed):
        SecretBox(KEY_B).decrypt(sealed, AAD)


def test_secret_box_previous_key_still_decrypts():
    sealed = SecretBox(KEY_A).encrypt("s3cret", AAD)
    ring = SecretBox(KEY_B, [KEY_A])

    assert ring.decrypt(sealed, AAD) == "s3cret"
    assert ring.needs_rotation(sealed)
    assert not ring.needs_rotation(ring.encrypt("s3cret", AAD))


def test_secret_box_short_ciphertext_fails():
    blob = base64.urlsafe_b64encode(b"\0" * 5).decode()

    with pytest.raises(DecryptionFailed):
        SecretBox(KEY_A).decrypt(f"v1:{key_id(KEY_A)}:{blob}", AAD)
