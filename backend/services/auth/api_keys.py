"""API keys: one per user, shown once, stored as a keyed hash, with scopes and an expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from errors import AppError, Unauthorized
from extensions import DbSession
from models import API_KEY_SCOPES, User
from services.auth.audit import record_own_event
from utils.security import api_key_digest, new_api_key


def user_for_api_key(*, session: DbSession, key: str, pepper: str) -> User:
    user = None
    if 0 < len(key) <= 200:
        user = session.scalars(
            select(User).where(User.api_key == api_key_digest(key, pepper))
        ).first()
    if user is None or not user.is_active:
        raise Unauthorized("Invalid API key.", code="invalid_api_key")
    if user.api_key_expires_at is not None and user.api_key_expires_at <= datetime.now(UTC):
        raise Unauthorized("This API key has expired; create a new one.", code="api_key_expired")
    return user


def api_key_scopes(user: User) -> frozenset[str]:
    return frozenset(user.api_key_scope_list or ())


def create_api_key(
    *,
    session: DbSession,
    user: User,
    pepper: str,
    ip: str | None,
    scopes: list[str] | None = None,
    expires_in_days: int | None = None,
) -> tuple[str, User]:
    """Replace the caller's API key; the key itself is returned once and never stored.

    No ``scopes``: every scope (what a key could do before scopes existed). No
    ``expires_in_days``: the key lives until it is replaced or revoked.
    """
    chosen = _chosen_scopes(scopes)
    fresh = new_api_key(pepper)
    now = datetime.now(UTC)
    user.api_key = fresh.digest
    user.api_key_prefix = fresh.prefix
    user.api_key_created_at = now
    user.api_key_scopes = " ".join(chosen)
    user.api_key_expires_at = now + timedelta(days=expires_in_days) if expires_in_days else None
    record_own_event(
        session,
        user,
        "api_key_created",
        ip=ip,
        details={
            "prefix": fresh.prefix,
            "scopes": chosen,
            "expires_at": user.api_key_expires_at.isoformat() if user.api_key_expires_at else None,
        },
    )
    session.commit()
    return fresh.key, user


def _chosen_scopes(scopes: list[str] | None) -> list[str]:
    """The requested scopes in API_KEY_SCOPES order (all when none are named); none is a 422."""
    requested = set(API_KEY_SCOPES if scopes is None else scopes)
    chosen = [s for s in API_KEY_SCOPES if s in requested]
    if not chosen:
        raise AppError(
            "Give at least one scope.",
            code="validation_error",
            status_code=422,
            details={"json": {"scopes": ["Give at least one scope."]}},
        )
    return chosen


def revoke_api_key(*, session: DbSession, user: User, ip: str | None) -> None:
    if user.api_key is None:
        raise AppError("You have no API key.", code="not_found", status_code=404)
    prefix = user.api_key_prefix
    user.api_key = None
    user.api_key_prefix = None
    user.api_key_created_at = None
    user.api_key_scopes = None
    user.api_key_expires_at = None
    record_own_event(session, user, "api_key_revoked", ip=ip, details={"prefix": prefix})
    session.commit()
