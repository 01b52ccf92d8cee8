"""The users table: login identity, role, lockout state, API key and second factor."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import Boolean, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from extensions import db
from models.columns import UTCDateTime, utcnow

ROLES = ("user", "admin", "super_admin")
ROLE_RANK = {"user": 0, "admin": 1, "super_admin": 2}
# What an API key may be allowed to do (api/access.py maps every route to one of them).
API_KEY_SCOPES = ("read", "calculate", "trade", "manage")
LOCALES = ("en", "th")


class User(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(50), unique=True)
    email: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    # The seed's api_key column holds only a keyed hash of the key, never the key itself.
    api_key: Mapped[str | None] = mapped_column(String(255), unique=True, default=None)
    api_key_prefix: Mapped[str | None] = mapped_column(String(20), default=None)
    api_key_created_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # Space-separated scopes of the key; NULL (keys made before scopes existed) means all.
    api_key_scopes: Mapped[str | None] = mapped_column(String(100), default=None)
    api_key_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    role: Mapped[str] = mapped_column(String(20), default="user", server_default="user")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_login: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    failed_login_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # Tokens issued before this instant are refused (password change, forced logout).
    tokens_valid_after: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    allow_broadcast: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    # The language of the user's notifications: one of LOCALES.
    locale: Mapped[str] = mapped_column(String(5), default="en", server_default="en")
    # TOTP (RFC 6238): the secret sealed by the SecretBox to this row ("users:<id>:mfa_secret"),
    # pending from setup until confirmed (mfa_enabled_at); the last accepted time step, so a
    # code is never accepted twice.
    mfa_secret_encrypted: Mapped[str | None] = mapped_column(Text, default=None)
    mfa_enabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    mfa_last_step: Mapped[int | None] = mapped_column(Integer, default=None)

    def has_role(self, role: str) -> bool:
        return ROLE_RANK.get(self.role, -1) >= ROLE_RANK[role]

    def is_locked(self, now: datetime) -> bool:
        return self.locked_until is not None and self.locked_until > now

    @property
    def mfa_enabled(self) -> bool:
        return self.mfa_enabled_at is not None

    def mfa_enrolment_pending(self, required_roles: Collection[str]) -> bool:
        """The role is one that must use MFA (MFA_REQUIRED_ROLES) and MFA is not on yet."""
        return self.role in required_roles and not self.mfa_enabled

    @property
    def api_key_scope_list(self) -> list[str] | None:
        """The key's scopes (every scope for a key made before scopes existed); None: no key."""
        if self.api_key is None:
            return None
        if self.api_key_scopes is None:
            return list(API_KEY_SCOPES)
        return [s for s in API_KEY_SCOPES if s in self.api_key_scopes.split()]
