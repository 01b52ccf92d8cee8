"""Logging in: the password and the second factor checked, and the lockout failures count toward."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NoReturn

from sqlalchemy import or_, select

from errors import AppError, Locked, Unauthorized
from extensions import DbSession
from models import User
from services.audit_service import record_event
from services.auth.audit import record_own_event
from services.auth.second_factor import (
    INVALID_OTP,
    SecondFactor,
    accept_second_factor,
    recovery_codes_left,
)
from utils.security import burn_password_check, verify_password

INVALID_CREDENTIALS = "Invalid username or password."


@dataclass(frozen=True)
class LockoutPolicy:
    """LOCKOUT_THRESHOLD failures in a row (passwords and codes) lock for LOCKOUT_MINUTES."""

    threshold: int = 5
    minutes: int = 15


def login(
    *,
    session: DbSession,
    identifier: str,
    password: str,
    rounds: int,
    lockout: LockoutPolicy,
    ip: str | None,
    factor: SecondFactor | None = None,
) -> User:
    """Check credentials; 5 failures in a row lock the account for 15 minutes.

    A user with MFA on also needs ``factor``: none is 401 ``mfa_required`` (not a failure: the
    password was right), a wrong or replayed one is 401 ``invalid_otp`` and counts as a failure.
    """
    now = datetime.now(UTC)
    user = _find_user(session, identifier, password, rounds, ip)
    if user.is_locked(now):
        raise_locked(session, user, now, ip)
    if not verify_password(password, user.password_hash):
        record_failure(session, user, now, lockout, ip)
    if not user.is_active:
        _refuse(session, user, ip, reason="inactive")
    method = _second_factor(session, user, now, lockout, ip, factor) if user.mfa_enabled else None
    _record_success(session, user, now, ip, method)
    return user


def _record_success(
    session: DbSession, user: User, now: datetime, ip: str | None, method: str | None
) -> None:
    """The failure count starts again from zero; ``method``: the second factor, if any."""
    user.failed_login_count = 0
    user.locked_until = None
    user.last_login = now
    record_own_event(
        session, user, "login_succeeded", ip=ip, details={"mfa": method} if method else None
    )
    session.commit()


def _find_user(
    session: DbSession, identifier: str, password: str, rounds: int, ip: str | None
) -> User:
    """The user of this username or email; an unknown one costs a bcrypt check all the same."""
    user = session.scalars(
        select(User).where(or_(User.username == identifier, User.email == identifier.lower()))
    ).first()
    if user is None:
        burn_password_check(password, rounds)
        _refuse(session, None, ip, reason="unknown_user")
    return user


def _refuse(session: DbSession, user: User | None, ip: str | None, *, reason: str) -> NoReturn:
    """Audit and answer the one 401 that says nothing of whether the user exists."""
    record_event(
        session=session,
        event="login_failed",
        subject_user_id=user.id if user is not None else None,
        ip=ip,
        details={"reason": reason},
    )
    session.commit()
    raise Unauthorized(INVALID_CREDENTIALS, code="invalid_credentials")


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
    method = accept_factor(
        session,
        user,
        factor,
        now,
        policy,
        ip,
        event="login_failed",
        error=Unauthorized(INVALID_OTP, code="invalid_otp"),
    )
    if method == "recovery_code":
        record_own_event(
            session,
            user,
            "mfa_recovery_code_used",
            ip=ip,
            details={"left": recovery_codes_left(session=session, user=user)},
        )
    return method


def accept_factor(
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
    method = accept_second_factor(session=session, user=user, factor=factor)
    if method is None:
        record_failure(session, user, now, policy, ip, event=event, reason="bad_otp", error=error)
    return method


def record_failure(
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
        _lock(session, user, now, policy, ip)
    session.commit()
    raise error or Unauthorized(INVALID_CREDENTIALS, code="invalid_credentials")


def _lock(
    session: DbSession, user: User, now: datetime, policy: LockoutPolicy, ip: str | None
) -> NoReturn:
    """The threshold is reached: lock for policy.minutes, counting again from zero after."""
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
    raise_locked(session, user, now, ip, audit=False)


def raise_locked(
    session: DbSession, user: User, now: datetime, ip: str | None, audit: bool = True
) -> NoReturn:
    """423 with Retry-After until the lock ends (audited unless the lock was just set)."""
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
