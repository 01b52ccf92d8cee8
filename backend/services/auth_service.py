"""Registration, login with lockout and MFA, tokens and sessions, API keys, password changes."""

from __future__ import annotations

import math
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

from flask import current_app, has_app_context
from flask_jwt_extended import create_access_token, create_refresh_token
from sqlalchemy import bindparam, delete, exists, or_, select
from sqlalchemy.exc import IntegrityError

from errors import AppError, Conflict, Locked, Unauthorized
from extensions import DbSession
from models import API_KEY_SCOPES, TokenBlocklist, UsedRefreshToken, User
from services import mfa_service, pwned
from services.audit_service import record_event
from services.mfa_service import SecondFactor
from utils.security import (
    SecretBox,
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
    refuse_weak_password(password)
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


def refuse_weak_password(password: str) -> None:
    """The local common-password list, then (when configured) Have I Been Pwned's range API."""
    from utils.common_passwords import is_common

    if is_common(password):
        raise AppError(
            "This password is too common; choose another.",
            code="password_too_common",
            status_code=422,
            details={"json": {"password": ["This password is too common."]}},
        )
    check = pwned.from_config(current_app.config) if has_app_context() else None
    if check is not None and (check.breach_count(password) or 0) > 0:
        raise AppError(
            "This password has appeared in a data breach; choose another.",
            code="password_breached",
            status_code=422,
            details={"json": {"password": ["This password is in a known data breach."]}},
        )


def login(
    *,
    session: DbSession,
    identifier: str,
    password: str,
    rounds: int,
    policy: LockoutPolicy,
    ip: str | None,
    factor: SecondFactor | None = None,
) -> User:
    """Check credentials; 5 failures in a row lock the account for 15 minutes.

    A user with MFA on also needs ``factor``: none is 401 ``mfa_required`` (not a failure: the
    password was right), a wrong or replayed one is 401 ``invalid_otp`` and counts as a failure.
    """
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
    method = _second_factor(session, user, now, policy, ip, factor) if user.mfa_enabled else None
    user.failed_login_count = 0
    user.locked_until = None
    user.last_login = now
    record_event(
        session=session,
        event="login_succeeded",
        actor_id=user.id,
        subject_user_id=user.id,
        ip=ip,
        details={"mfa": method} if method else None,
    )
    session.commit()
    return user


def _second_factor(
    session: DbSession,
    user: User,
    now: datetime,
    policy: LockoutPolicy,
    ip: str | None,
    factor: SecondFactor | None,
) -> str:
    """The accepted method ("otp" / "recovery_code"), or raise mfa_required / invalid_otp."""
    if factor is None or not factor.given:
        record_event(session=session, event="login_mfa_required", subject_user_id=user.id, ip=ip)
        session.commit()
        raise Unauthorized(
            "This account uses two-factor authentication: send `otp` (or a `recovery_code`).",
            code="mfa_required",
        )
    method = _accept_factor(
        session,
        user,
        factor,
        now,
        policy,
        ip,
        event="login_failed",
        error=Unauthorized(mfa_service.INVALID_OTP, code="invalid_otp"),
    )
    if method == "recovery_code":
        record_event(
            session=session,
            event="mfa_recovery_code_used",
            actor_id=user.id,
            subject_user_id=user.id,
            ip=ip,
            details={"left": mfa_service.recovery_codes_left(session=session, user=user)},
        )
    return method


def _accept_factor(
    session: DbSession,
    user: User,
    factor: SecondFactor,
    now: datetime,
    policy: LockoutPolicy,
    ip: str | None,
    *,
    event: str,
    error: AppError,
) -> str:
    """The method accepted; a wrong code counts as a failure (toward the lockout) and raises."""
    method = mfa_service.accept_second_factor(session=session, user=user, factor=factor)
    if method is None:
        _record_failure(session, user, now, policy, ip, event=event, reason="bad_otp", error=error)
    return method


def _record_failure(
    session: DbSession,
    user: User,
    now: datetime,
    policy: LockoutPolicy,
    ip: str | None,
    *,
    event: str = "login_failed",
    reason: str = "bad_password",
    error: AppError | None = None,
) -> NoReturn:
    """Count one failure (a wrong password or code), lock at the threshold, and raise."""
    user.failed_login_count = (user.failed_login_count or 0) + 1
    record_event(
        session=session,
        event=event,
        subject_user_id=user.id,
        ip=ip,
        details={"reason": reason},
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
    raise error or Unauthorized(INVALID_CREDENTIALS, code="invalid_credentials")


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


def issue_tokens(
    user: User,
    *,
    session_id: str | None = None,
    fresh: bool = True,
    session_end: datetime | None = None,
) -> TokenPair:
    """An access and a refresh token sharing one session id, so logout revokes both.

    ``fresh``: the caller just proved the password (login, password change), so the access
    token may do sensitive things for JWT_FRESH_MINUTES. ``session_end``: a rotation keeps the
    session's absolute end; neither token outlives it.
    """
    config = current_app.config
    claims = _token_claims(user, session_id or uuid.uuid4().hex)
    access_ttl: timedelta = config["JWT_ACCESS_TOKEN_EXPIRES"]
    refresh_ttl: timedelta = config["JWT_REFRESH_TOKEN_EXPIRES"]
    if session_end is not None:
        refresh_ttl = session_end - _now()
        access_ttl = min(access_ttl, refresh_ttl)
    access = create_access_token(
        identity=str(user.id),
        additional_claims=claims,
        fresh=config["JWT_FRESH_EXPIRES"] if fresh else False,
        expires_delta=access_ttl,
    )
    refresh = create_refresh_token(
        identity=str(user.id), additional_claims=claims, expires_delta=refresh_ttl
    )
    expires_in = max(0, int(access_ttl.total_seconds()))
    return TokenPair(access_token=access, refresh_token=refresh, expires_in=expires_in)


def is_fresh(claims: dict[str, Any]) -> bool:
    """Flask-JWT-Extended's "fresh" claim: True/False, or a timestamp until which it is fresh."""
    fresh = claims.get("fresh", False)
    if isinstance(fresh, bool):
        return fresh
    return isinstance(fresh, int | float) and time.time() <= fresh


def rotate_refresh_token(
    *, session: DbSession, user: User, claims: dict[str, Any], ip: str | None
) -> TokenPair:
    """Exchange a refresh token for a new pair (same session, same absolute end, not fresh).

    The presented token is retired; presenting it again means two parties hold it, so the whole
    login session is revoked (every token with its ``sid``) and the answer is ``token_reused``.
    """
    jti = str(claims["jti"])
    sid = str(claims.get("sid") or jti)
    session_end = datetime.fromtimestamp(int(claims["exp"]), UTC)
    # Rows of expired tokens guard nothing (an expired token is refused before it gets here).
    session.execute(
        delete(UsedRefreshToken).where(
            UsedRefreshToken.user_id == user.id, UsedRefreshToken.expires_at < _now()
        )
    )
    session.add(UsedRefreshToken(jti=jti, sid=sid, user_id=user.id, expires_at=session_end))
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        _revoke_session(session, user, sid, session_end)
        record_event(
            session=session,
            event="refresh_token_reused",
            subject_user_id=user.id,
            ip=ip,
            details={"action": "session_revoked"},
        )
        session.commit()
        raise Unauthorized(
            "This refresh token was already used, so the session has been ended; log in again.",
            code="token_reused",
        ) from None
    pair = issue_tokens(user, session_id=sid, fresh=False, session_end=session_end)
    session.commit()
    return pair


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
    _revoke_session(session, user, claims.get("sid") or claims["jti"], _now() + refresh_ttl)
    record_event(session=session, event="logout", actor_id=user.id, subject_user_id=user.id, ip=ip)
    session.commit()


def _revoke_session(session: DbSession, user: User, sid: str, until: datetime) -> None:
    """Block every token of this login session (added to the caller's transaction)."""
    if session.scalar(select(TokenBlocklist.id).where(TokenBlocklist.jti == sid)) is None:
        session.add(
            TokenBlocklist(jti=sid, token_type="session", user_id=user.id, expires_at=until)
        )


def end_all_sessions(user: User) -> None:
    """Every token of the user issued before now stops working, in every login session.

    ``users.tokens_valid_after``, checked on every request (see user_for_claims); the caller
    commits and hands its own caller new tokens if it should stay logged in. API keys are not
    sessions and are left alone.
    """
    user.tokens_valid_after = _now()


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
    if user.api_key_expires_at is not None and user.api_key_expires_at <= _now():
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
    requested = set(API_KEY_SCOPES if scopes is None else scopes)
    chosen = [s for s in API_KEY_SCOPES if s in requested]
    if not chosen:
        raise AppError(
            "Give at least one scope.",
            code="validation_error",
            status_code=422,
            details={"json": {"scopes": ["Give at least one scope."]}},
        )
    fresh = new_api_key(pepper)
    now = _now()
    user.api_key = fresh.digest
    user.api_key_prefix = fresh.prefix
    user.api_key_created_at = now
    user.api_key_scopes = " ".join(chosen)
    user.api_key_expires_at = now + timedelta(days=expires_in_days) if expires_in_days else None
    record_event(
        session=session,
        event="api_key_created",
        actor_id=user.id,
        subject_user_id=user.id,
        ip=ip,
        details={
            "prefix": fresh.prefix,
            "scopes": chosen,
            "expires_at": user.api_key_expires_at.isoformat() if user.api_key_expires_at else None,
        },
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
    user.api_key_scopes = None
    user.api_key_expires_at = None
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
    refuse_weak_password(new_password)
    user.password_hash = hash_password(new_password, rounds)
    end_all_sessions(user)
    record_event(
        session=session, event="password_changed", actor_id=user.id, subject_user_id=user.id, ip=ip
    )
    session.commit()


def enable_mfa(
    *, session: DbSession, user: User, otp: str, box: SecretBox, pepper: str, ip: str | None
) -> list[str]:
    """Confirm the pending TOTP setup; returns the recovery codes (shown once).

    Every session opened before (with the password alone) ends, the caller's too: the caller
    gets new tokens (api/auth.py), so only the session that proved the code goes on.
    """
    codes = mfa_service.confirm_setup(
        session=session, user=user, otp=otp, box=box, pepper=pepper, ip=ip
    )
    end_all_sessions(user)
    session.commit()
    return codes


def _prove_second_factor(
    session: DbSession,
    user: User,
    factor: SecondFactor,
    policy: LockoutPolicy,
    ip: str | None,
    *,
    failed_event: str,
) -> str:
    """For a change to MFA itself: MFA must be on and the code right (the method accepted).

    Wrong codes count toward the same lockout as failed logins; while locked this is 423.
    """
    now = _now()
    if not user.mfa_enabled:
        raise Conflict("Two-factor authentication is not on.", code="mfa_not_enabled")
    if user.is_locked(now):
        _raise_locked(session, user, now, ip)
    method = _accept_factor(
        session, user, factor, now, policy, ip, event=failed_event, error=mfa_service.invalid_code()
    )
    user.failed_login_count = 0
    return method


def disable_mfa(
    *, session: DbSession, user: User, factor: SecondFactor, policy: LockoutPolicy, ip: str | None
) -> None:
    """Turn MFA off with a current code or a recovery code (on a fresh login, see api/auth.py).

    Every session of the user ends, the caller's too (api/auth.py hands it new tokens). Wrong
    codes count toward the same lockout as failed logins; while locked this is 423.
    """
    method = _prove_second_factor(
        session, user, factor, policy, ip, failed_event="mfa_disable_failed"
    )
    mfa_service.turn_off(session=session, user=user)
    end_all_sessions(user)
    record_event(
        session=session,
        event="mfa_disabled",
        actor_id=user.id,
        subject_user_id=user.id,
        ip=ip,
        details={"with": method},
    )
    session.commit()


def regenerate_recovery_codes(
    *, session: DbSession, user: User, factor: SecondFactor, policy: LockoutPolicy, ip: str | None
) -> list[str]:
    """A new set of recovery codes for a current TOTP code; every earlier code stops working.

    Only a code from the app will do (``factor.otp``): a recovery code cannot mint new ones.
    """
    assert factor.recovery_code is None
    _prove_second_factor(
        session, user, factor, policy, ip, failed_event="mfa_recovery_codes_failed"
    )
    codes = mfa_service.replace_recovery_codes(session=session, user=user, pepper=factor.pepper)
    record_event(
        session=session,
        event="mfa_recovery_codes_regenerated",
        actor_id=user.id,
        subject_user_id=user.id,
        ip=ip,
        details={"count": len(codes)},
    )
    session.commit()
    return codes


def reset_mfa(*, session: DbSession, user: User, actor: User | None, ip: str | None) -> None:
    """Clear another user's MFA (lost device): secret, recovery codes, and every session.

    ``actor``: the super admin doing it (DELETE /api/users/<id>/mfa), or None for the operator
    (``flask reset-mfa``). Nobody resets their own through here: that is POST /api/me/mfa/disable,
    which asks for a code. The user then logs in with the password alone; if their role is in
    MFA_REQUIRED_ROLES they must enrol again before doing anything else.
    """
    if actor is not None and actor.id == user.id:
        raise AppError(
            "You cannot reset your own two-factor authentication here; use "
            "POST /api/me/mfa/disable with a code or a recovery code, or ask another super admin.",
            code="cannot_modify_self",
            status_code=409,
        )
    if not user.mfa_enabled:
        raise Conflict(
            "Two-factor authentication is not on for this user; nothing to reset.",
            code="mfa_not_enabled",
        )
    mfa_service.turn_off(session=session, user=user)
    end_all_sessions(user)
    record_event(
        session=session,
        event="mfa_reset",
        actor_id=actor.id if actor is not None else None,
        subject_user_id=user.id,
        ip=ip,
        details={"via": "api" if actor is not None else "cli"},
    )
    session.commit()
