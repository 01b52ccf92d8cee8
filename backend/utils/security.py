"""Password hashing, API keys and authenticated encryption of MT5 passwords."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass

import bcrypt
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

API_KEY_PREFIX = "mt5k_"


def _prehash(password: str) -> bytes:
    """SHA-256 then base64 (44 bytes): bcrypt reads only 72 bytes and bcrypt>=5 raises past them.

    Pre-hashing keeps every character of a long (up to 128 characters, 512 UTF-8 bytes)
    password significant instead of truncating it, the scheme passlib calls bcrypt_sha256.
    """
    return base64.b64encode(hashlib.sha256(password.encode("utf-8")).digest())


def hash_password(password: str, rounds: int = 12) -> str:
    return bcrypt.hashpw(_prehash(password), bcrypt.gensalt(rounds=rounds)).decode("ascii")


def verify_password(password: str, password_hash: str) -> bool:
    try:
        return bcrypt.checkpw(_prehash(password), password_hash.encode("ascii"))
    except ValueError:
        return False


_DUMMY_HASHES: dict[int, str] = {}


def prepare_dummy_hash(rounds: int) -> str:
    """The hash unknown-user logins check against; built once (at start-up, see create_app)."""
    dummy = _DUMMY_HASHES.get(rounds)
    if dummy is None:
        dummy = _DUMMY_HASHES.setdefault(rounds, hash_password(secrets.token_hex(8), rounds))
    return dummy


def burn_password_check(password: str, rounds: int) -> None:
    """Spend one bcrypt check so an unknown user takes as long as a wrong password."""
    verify_password(password, prepare_dummy_hash(rounds))


@dataclass(frozen=True)
class NewApiKey:
    key: str  # shown once
    prefix: str  # visible, stored, identifies the key in lists and logs
    digest: str  # stored: HMAC-SHA256 of the key under the server's pepper


def new_api_key(pepper: str) -> NewApiKey:
    """A 256-bit random key with a visible prefix (mt5k_xxxxxxxx...), as GitHub and Stripe do."""
    key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    return NewApiKey(
        key=key, prefix=key[: len(API_KEY_PREFIX) + 8], digest=api_key_digest(key, pepper)
    )


def api_key_digest(key: str, pepper: str) -> str:
    return hmac.new(pepper.encode("utf-8"), key.encode("utf-8"), hashlib.sha256).hexdigest()


class DecryptionFailed(Exception):
    """The ciphertext is not ours, was moved to another row, or its key is gone."""


def key_id(key: bytes) -> str:
    return hashlib.sha256(b"mt5-key-id:" + key).hexdigest()[:8]


class SecretBox:
    """AES-256-GCM with a key ring: encrypt under the current key, decrypt under any known one.

    Stored form: ``v1:<key id>:<urlsafe base64 of nonce || ciphertext+tag>``. The associated
    data binds a ciphertext to one row, so a value copied into another row does not decrypt.
    """

    VERSION = "v1"

    def __init__(self, current: bytes, previous: list[bytes] | tuple[bytes, ...] = ()) -> None:
        self.current_id = key_id(current)
        self._keys = {key_id(k): k for k in (*previous, current)}

    def encrypt(self, plaintext: str, associated_data: str) -> str:
        nonce = os.urandom(12)
        sealed = AESGCM(self._keys[self.current_id]).encrypt(
            nonce, plaintext.encode("utf-8"), associated_data.encode("utf-8")
        )
        blob = base64.urlsafe_b64encode(nonce + sealed).decode("ascii")
        return f"{self.VERSION}:{self.current_id}:{blob}"

    def decrypt(self, token: str, associated_data: str) -> str:
        try:
            version, kid, blob = token.split(":", 2)
            key = self._keys[kid]
            raw = base64.urlsafe_b64decode(blob)
            if version != self.VERSION:
                raise DecryptionFailed("unknown ciphertext version")
            plain = AESGCM(key).decrypt(raw[:12], raw[12:], associated_data.encode("utf-8"))
        except (ValueError, KeyError, InvalidTag) as exc:
            raise DecryptionFailed("cannot decrypt this value") from exc
        return plain.decode("utf-8")

    def needs_rotation(self, token: str) -> bool:
        return not token.startswith(f"{self.VERSION}:{self.current_id}:")


def generate_encryption_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode("ascii")
