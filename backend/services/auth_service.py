"""Registration, login with lockout, tokens and sessions, API keys, password changes."""

from __future__ import annotations

import math
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from flask_jwt_extended import create_access_token, create_refresh_token
from sqlalchemy import bindparam, exists, or_, select
from sqlalchemy.exc import IntegrityError

from errors import AppError, Conflict, Locked, Unauthorized
from extensions import DbSession
from models import TokenBlocklist, User
from services.audit_service import record_event
from utils.security import (
    api_key_digest,
    burn_password_check,
    hash_password,
    new_api_key,
    verify_password,
)

INVALID_CREDENTIALS = "Invalid username or password."


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class LockoutPolicy:
    threshold: int = 5
    minutes: int = 15


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int


def register_user(
    *, session: DbSession, username: str, email: str, password: str, rounds: int, ip: str | None
) -> User:
    """Create a plain `user` (roles are never taken from a request body)."""
    user = _insert_user(session, username, email, password, "user", rounds)
    record_event(
        session=session, event="user_registered", actor_id=user.id, subject_user_id=user.id, ip=ip
    )
    session.commit()
    return user


def create_user(
    *, session: DbSession, username: str, email: str, password: str, role: str, rounds: int
) -> User:
    """Operator path (CLI): any role, same rules otherwise."""
    user = _insert_user(session, username, email, password, role, rounds)
    record_event(
        session=session, event="user_created", subject_user_id=user.id, details={"role": role}
    )
    session.commit()
    return user


def _insert_user(
    session: DbSession, username: str, email: str, password: str, role: str, rounds: int
) -> User:
    """Add the user (flushed, not committed); a taken username or email is a 409."""
    _refuse_common_password(password)
    user = User(
        username=username,
        email=email.lower(),
        password_hash=hash_password(password, rounds),
        role=role,
    )
    session.add(user)
    try:
        session.flush()
    except IntegrityError as exc:
        session.rollback()
        raise Conflict("That username or email is already registered.", code="user_exists") from exc
    return user


def _refuse_common_password(password: str) -> None:
    from utils.common_passwords import is_common

    if is_common(password):
        raise AppError(
            "This password is too common; choose another.",
            code="password_too_common",
            status_code=422,
            details={"json": {"password": ["This password is too common."]}},
        )


def login(
    *,
    session: DbSession,
    identifier: str,
    password: str,
    rounds: int,
    policy: LockoutPolicy,
    ip: str | None,
) -> User:
    """Check credentials; 5 failures in a row lock the account for 15 minutes."""
    now = _now()
    user = session.scalars(
        select(User).where(or_(User.username == identifier, User.email == identifier.lower()))
    ).first()
    if user is None:
        burn_password_check(password, rounds)
        record_event(
            session=session, event="login_failed", ip=ip, details={"reason": "unknown_user"}
        )
        session.commit()
        raise Unauthorized(INVALID_CREDENTIALS, code="invalid_credentials")
    if user.is_locked(now):
        _raise_locked(session, user, now, ip)
    if not verify_password(password, user.password_hash):
        _record_failure(session, user, now, policy, ip)
    if not user.is_active:
        record_event(
            session=session,
            event="login_failed",
            subject_user_id=user.id,
            ip=ip,
            details={"reason": "inactive"},
        )
        session.commit()
        raise Unauthorized(INVALID_CREDENTIALS, code="invalid_credentials")
    user.failed_login_count = 0
    user.locked_until = None
    user.last_login = now
    record_event(
        session=session, event="login_succeeded", actor_id=user.id, subject_user_id=user.id, ip=ip
    )
    session.commit()
    return user


def _record_failure(
    session: DbSession, user: User, now: datetime, policy: LockoutPolicy, ip: str | None
) -> None:
    user.failed_login_count = (user.failed_login_count or 0) + 1
    record_event(
        session=session,
        event="login_failed",
        subject_user_id=user.id,
        ip=ip,
        details={"reason": "bad_password"},
    )
    if user.failed_login_count >= policy.threshold:
        user.failed_login_count = 0
        user.locked_until = now + timedelta(minutes=policy.minutes)
        record_event(
            session=session,
            event="account_locked",
            subject_user_id=user.id,
            ip=ip,
            details={"minutes": policy.minutes},
        )
        session.commit()
        _raise_locked(session, user, now, ip, audit=False)
    session.commit()
    raise Unauthorized(INVALID_CREDENTIALS, code="invalid_credentials")


def _raise_locked(
    session: DbSession, user: User, now: datetime, ip: str | None, audit: bool = True
) -> None:
    assert user.locked_until is not None
    retry_after = max(1, math.ceil((user.locked_until - now).total_seconds()))
    if audit:
        record_event(session=session, event="login_locked_out", subject_user_id=user.id, ip=ip)
        session.commit()
    raise Locked(
        "Too many failed logins; try again later.",
        details={"retry_after_s": retry_after},
        headers={"Retry-After": str(retry_after)},
    )


def _token_claims(user: User, sid: str) -> dict[str, Any]:
    # "iat" has one-second resolution; "issued_us" lets a password change made in the same
    # second as a login still revoke that login's tokens (see user_for_claims).
    return {"sid": sid, "role": user.role, "issued_us": time.time_ns() // 1000}


def issue_tokens(user: User, *, session_id: str | None = None) -> TokenPair:
    """An access and a refresh token sharing one session id, so logout revokes both."""
    claims = _token_claims(user, session_id or uuid.uuid4().hex)
    access = create_access_token(identity=str(user.id), additional_claims=claims)
    refresh = create_refresh_token(identity=str(user.id), additional_claims=claims)
    from flask import current_app

    expires_in = int(current_app.config["JWT_ACCESS_TOKEN_EXPIRES"].total_seconds())
    return TokenPair(access_token=access, refresh_token=refresh, expires_in=expires_in)


def refresh_access(*, user: User, claims: dict[str, Any]) -> tuple[str, int]:
    from flask import current_app

    token = create_access_token(
        identity=str(user.id), additional_claims=_token_claims(user, claims["sid"])
    )
    return token, int(current_app.config["JWT_ACCESS_TOKEN_EXPIRES"].total_seconds())


# Built once: every authenticated request runs it, and building a select costs more than
# running this one on SQLite.
_TOKEN_USER = select(
    User,
    exists().where(
        or_(TokenBlocklist.jti == bindparam("jti"), TokenBlocklist.jti == bindparam("sid"))
    ),
).where(User.id == bindparam("uid"))


def token_user(*, session: DbSession, claims: dict[str, Any]) -> tuple[User | None, bool]:
    """The token's user and whether the token (or its session) is revoked, in one query.

    Every authenticated request asks both; one round trip instead of two.
    """
    jti, sid = claims.get("jti"), claims.get("sid")
    try:
        user_id = int(claims["sub"])
    except (KeyError, TypeError, ValueError):
        return None, is_revoked(session=session, claims=claims)
    params = {"uid": user_id, "jti": jti or sid, "sid": sid or jti}
    row = session.execute(_TOKEN_USER, params).first()
    if row is None:
        return None, is_revoked(session=session, claims=claims)
    return row[0], bool(row[1])


def is_revoked(*, session: DbSession, claims: dict[str, Any]) -> bool:
    ids = [claims.get("jti"), claims.get("sid")]
    return (
        session.scalar(
            select(TokenBlocklist.id).where(TokenBlocklist.jti.in_([i for i in ids if i]))
        )
        is not None
    )


def logout(
    *,
    session: DbSession,
    user: User,
    claims: dict[str, Any],
    refresh_ttl: timedelta,
    ip: str | None,
) -> None:
    """Revoke the whole login session (access and refresh token) in the persistent blocklist."""
    sid = claims.get("sid") or claims["jti"]
    if session.scalar(select(TokenBlocklist.id).where(TokenBlocklist.jti == sid)) is None:
        session.add(
            TokenBlocklist(
                jti=sid, token_type="session", user_id=user.id, expires_at=_now() + refresh_ttl
            )
        )
    record_event(session=session, event="logout", actor_id=user.id, subject_user_id=user.id, ip=ip)
    session.commit()


def user_for_claims(
    *, session: DbSession, claims: dict[str, Any], loaded: User | None = None
) -> User:
    """The token's user, as the database says now: inactive users and old tokens are refused.

    ``loaded`` is the user read by ``token_user`` earlier in this request, if any.
    """
    user = loaded
    if user is None:
        try:
            user = session.get(User, int(claims["sub"]))
        except (KeyError, TypeError, ValueError):
            user = None
    if user is None or not user.is_active:
        raise Unauthorized("This account is not active.", code="invalid_token")
    if user.tokens_valid_after is not None and _issued_us(claims) < _epoch_us(
        user.tokens_valid_after
    ):
        raise Unauthorized("This token has been revoked.", code="token_revoked")
    return user


def _issued_us(claims: dict[str, Any]) -> int:
    issued = claims.get("issued_us")
    if isinstance(issued, int) and not isinstance(issued, bool):
        return issued
    return int(claims.get("iat", 0)) * 1_000_000


def _epoch_us(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def user_for_api_key(*, session: DbSession, key: str, pepper: str) -> User:
    user = None
    if 0 < len(key) <= 200:
        user = session.scalars(
            select(User).where(User.api_key == api_key_digest(key, pepper))
        ).first()
    if user is None or not user.is_active:
        raise Unauthorized("Invalid API key.", code="invalid_api_key")
    return user


def create_api_key(
    *, session: DbSession, user: User, pepper: str, ip: str | None
) -> tuple[str, User]:
    """Replace the caller's API key; the key itself is returned once and never stored."""
    fresh = new_api_key(pepper)
    user.api_key = fresh.digest
    user.api_key_prefix = fresh.prefix
    user.api_key_created_at = _now()
    record_event(
        session=session,
        event="api_key_created",
        actor_id=user.id,
        subject_user_id=user.id,
        ip=ip,
        details={"prefix": fresh.prefix},
    )
    session.commit()
    return fresh.key, user


def revoke_api_key(*, session: DbSession, user: User, ip: str | None) -> None:
    if user.api_key is None:
        raise AppError("You have no API key.", code="not_found", status_code=404)
    prefix = user.api_key_prefix
    user.api_key = None
    user.api_key_prefix = None
    user.api_key_created_at = None
    record_event(
        session=session,
        event="api_key_revoked",
        actor_id=user.id,
        subject_user_id=user.id,
        ip=ip,
        details={"prefix": prefix},
    )
    session.commit()


def change_password(
    *,
    session: DbSession,
    user: User,
    current_password: str,
    new_password: str,
    rounds: int,
    ip: str | None,
) -> None:
    """Needs the current password; every token issued before now stops working."""
    if not verify_password(current_password, user.password_hash):
        record_event(
            session=session,
            event="password_change_failed",
            actor_id=user.id,
            subject_user_id=user.id,
            ip=ip,
        )
        session.commit()
        raise AppError(
            "The current password is wrong.", code="invalid_credentials", status_code=422
        )
    _refuse_common_password(new_password)
    user.password_hash = hash_password(new_password, rounds)
    user.tokens_valid_after = _now()
    record_event(
        session=session, event="password_changed", actor_id=user.id, subject_user_id=user.id, ip=ip
    )
    session.commit()
