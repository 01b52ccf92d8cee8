"""Login sessions: the token pair, refresh rotation with reuse detection, revocation, logout."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

from flask_jwt_extended import create_access_token, create_refresh_token
from sqlalchemy import bindparam, delete, exists, or_, select
from sqlalchemy.exc import IntegrityError

from errors import Unauthorized
from extensions import DbSession
from models import TokenBlocklist, UsedRefreshToken, User
from services.audit_service import record_event
from services.auth.audit import record_own_event


@dataclass(frozen=True)
class TokenLifetimes:
    """JWT_ACCESS_MINUTES, JWT_REFRESH_DAYS (a session's absolute end), JWT_FRESH_MINUTES."""

    access: timedelta
    refresh: timedelta
    fresh: timedelta


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int


def _token_claims(user: User, sid: str) -> dict[str, Any]:
    # "iat" has one-second resolution; "issued_us" lets a password change made in the same
    # second as a login still revoke that login's tokens (see user_for_claims).
    return {"sid": sid, "role": user.role, "issued_us": time.time_ns() // 1000}


def issue_tokens(
    user: User,
    *,
    lifetimes: TokenLifetimes,
    session_id: str | None = None,
    fresh: bool = True,
    session_end: datetime | None = None,
) -> TokenPair:
    """An access and a refresh token sharing one session id, so logout revokes both.

    ``fresh``: the caller just proved the password (login, password change), so the access
    token may do sensitive things for JWT_FRESH_MINUTES. ``session_end``: a rotation keeps the
    session's absolute end; neither token outlives it.
    """
    claims = _token_claims(user, session_id or uuid.uuid4().hex)
    access_ttl, refresh_ttl = lifetimes.access, lifetimes.refresh
    if session_end is not None:
        refresh_ttl = session_end - datetime.now(UTC)
        access_ttl = min(access_ttl, refresh_ttl)
    access = create_access_token(
        identity=str(user.id),
        additional_claims=claims,
        fresh=lifetimes.fresh if fresh else False,
        expires_delta=access_ttl,
    )
    refresh = create_refresh_token(
        identity=str(user.id), additional_claims=claims, expires_delta=refresh_ttl
    )
    expires_in = max(0, int(access_ttl.total_seconds()))
    return TokenPair(access_token=access, refresh_token=refresh, expires_in=expires_in)


def session_csrf_token(sid: str, *, key: str) -> str:
    """The dashboard's CSRF token for one login session: HMAC-SHA256 of its id under ``key``.

    Bound to the session, so a token from another session (planted next to a stolen cookie)
    does not match; the same through every refresh of the session, so the page reads it once.
    """
    digest = hmac.new(key.encode(), b"dashboard-csrf:" + sid.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def is_fresh(claims: dict[str, Any]) -> bool:
    """Flask-JWT-Extended's "fresh" claim: True/False, or a timestamp until which it is fresh."""
    fresh = claims.get("fresh", False)
    if isinstance(fresh, bool):
        return fresh
    return isinstance(fresh, int | float) and time.time() <= fresh


def rotate_refresh_token(
    *,
    session: DbSession,
    user: User,
    claims: dict[str, Any],
    lifetimes: TokenLifetimes,
    ip: str | None,
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
            UsedRefreshToken.user_id == user.id, UsedRefreshToken.expires_at < datetime.now(UTC)
        )
    )
    session.add(UsedRefreshToken(jti=jti, sid=sid, user_id=user.id, expires_at=session_end))
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        _end_reused_session(session, user, sid, session_end, ip)
    pair = issue_tokens(
        user, lifetimes=lifetimes, session_id=sid, fresh=False, session_end=session_end
    )
    session.commit()
    return pair


def _end_reused_session(
    session: DbSession, user: User, sid: str, session_end: datetime, ip: str | None
) -> NoReturn:
    """A retired refresh token came back: revoke its whole session, audit it, and refuse."""
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
    lifetimes: TokenLifetimes,
    ip: str | None,
) -> None:
    """Revoke the whole login session (access and refresh token) in the persistent blocklist."""
    until = datetime.now(UTC) + lifetimes.refresh
    _revoke_session(session, user, claims.get("sid") or claims["jti"], until)
    record_own_event(session, user, "logout", ip=ip)
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
    user.tokens_valid_after = datetime.now(UTC)


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
