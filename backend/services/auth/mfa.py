"""Turning MFA on and off: enrolment, disabling, new recovery codes, a super admin's reset."""

from __future__ import annotations

from datetime import UTC, datetime

import pyotp
from sqlalchemy import select

from errors import AppError, Conflict
from extensions import DbSession
from models import User
from services.audit_service import record_event
from services.auth import second_factor
from services.auth.audit import record_own_event
from services.auth.credentials import LockoutPolicy, accept_factor, raise_locked
from services.auth.second_factor import (
    SecondFactor,
    accept_totp,
    delete_recovery_codes,
    invalid_code,
    replace_recovery_codes,
    secret_aad,
)
from services.auth.sessions import end_all_sessions
from utils.security import SecretBox

# --- enrolment -----------------------------------------------------------------------------------


def begin_mfa_setup(
    *, session: DbSession, user: User, box: SecretBox, issuer: str, ip: str | None
) -> tuple[str, str]:
    """A new pending secret (replacing any earlier pending one): (secret, otpauth:// URI).

    The secret is sealed with the SecretBox and shown only here.
    """
    if user.mfa_enabled:
        raise Conflict(
            "Two-factor authentication is already on; disable it first.",
            code="mfa_already_enabled",
        )
    secret = pyotp.random_base32()  # 32 base32 characters: 160 bits, RFC 4226's recommendation
    user.mfa_secret_encrypted = box.encrypt(secret, secret_aad(user.id))
    user.mfa_last_step = None
    record_own_event(session, user, "mfa_setup_started", ip=ip)
    session.commit()
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name=issuer)
    return secret, uri


def enable_mfa(
    *, session: DbSession, user: User, otp: str, box: SecretBox, pepper: str, ip: str | None
) -> list[str]:
    """Turn MFA on with a code from the pending secret; returns the recovery codes (shown once).

    Every session opened before (with the password alone) ends, the caller's too: the caller
    gets new tokens (api/auth.py), so only the session that proved the code goes on. A wrong
    code is audited and committed before the error.
    """
    _check_pending(user)
    if not accept_totp(session=session, user=user, otp=otp, box=box):
        record_own_event(session, user, "mfa_confirm_failed", ip=ip)
        session.commit()
        raise invalid_code()
    user.mfa_enabled_at = second_factor.now()
    codes = replace_recovery_codes(session=session, user=user, pepper=pepper)
    record_own_event(session, user, "mfa_enabled", ip=ip)
    end_all_sessions(user)
    session.commit()
    return codes


def _check_pending(user: User) -> None:
    if user.mfa_enabled:
        raise Conflict("Two-factor authentication is already on.", code="mfa_already_enabled")
    if user.mfa_secret_encrypted is None:
        raise Conflict(
            "No two-factor setup is pending; start with POST /api/me/mfa/setup.",
            code="mfa_not_pending",
        )


def _turn_off(session: DbSession, user: User) -> None:
    """Forget the secret, the last step and every recovery code; every session ends."""
    user.mfa_secret_encrypted = None
    user.mfa_enabled_at = None
    user.mfa_last_step = None
    delete_recovery_codes(session, user)
    end_all_sessions(user)


# --- changes with a current code -----------------------------------------------------------------


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
    now = datetime.now(UTC)
    if not user.mfa_enabled:
        raise Conflict("Two-factor authentication is not on.", code="mfa_not_enabled")
    if user.is_locked(now):
        raise_locked(session, user, now, ip)
    method = accept_factor(
        session, user, factor, now, policy, ip, event=failed_event, error=invalid_code()
    )
    user.failed_login_count = 0
    return method


def disable_mfa(
    *, session: DbSession, user: User, factor: SecondFactor, lockout: LockoutPolicy, ip: str | None
) -> None:
    """Turn MFA off with a current code or a recovery code (on a fresh login, see api/auth.py).

    Every session of the user ends, the caller's too (api/auth.py hands it new tokens). Wrong
    codes count toward the same lockout as failed logins; while locked this is 423.
    """
    method = _prove_second_factor(
        session, user, factor, lockout, ip, failed_event="mfa_disable_failed"
    )
    _turn_off(session, user)
    record_own_event(session, user, "mfa_disabled", ip=ip, details={"with": method})
    session.commit()


def regenerate_recovery_codes(
    *, session: DbSession, user: User, factor: SecondFactor, lockout: LockoutPolicy, ip: str | None
) -> list[str]:
    """A new set of recovery codes for a current TOTP code; every earlier code stops working.

    Only a code from the app will do (``factor.otp``): a recovery code cannot mint new ones.
    """
    assert factor.recovery_code is None
    _prove_second_factor(
        session, user, factor, lockout, ip, failed_event="mfa_recovery_codes_failed"
    )
    codes = replace_recovery_codes(session=session, user=user, pepper=factor.pepper)
    record_own_event(
        session,
        user,
        "mfa_recovery_codes_regenerated",
        ip=ip,
        details={"count": len(codes)},
    )
    session.commit()
    return codes


# --- without a code: the super admin's reset, the operator's key rotation ------------------------


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
    _turn_off(session, user)
    record_event(
        session=session,
        event="mfa_reset",
        actor_id=actor.id if actor is not None else None,
        subject_user_id=user.id,
        ip=ip,
        details={"via": "api" if actor is not None else "cli"},
    )
    session.commit()


def rotate_mfa_encryption(*, session: DbSession, box: SecretBox) -> int:
    """Re-seal every stored TOTP secret (pending or active) under the current key."""
    rotated = 0
    for user in session.scalars(select(User).where(User.mfa_secret_encrypted.is_not(None))):
        assert user.mfa_secret_encrypted is not None
        if box.needs_rotation(user.mfa_secret_encrypted):
            plain = box.decrypt(user.mfa_secret_encrypted, secret_aad(user.id))
            user.mfa_secret_encrypted = box.encrypt(plain, secret_aad(user.id))
            rotated += 1
    record_event(
        session=session,
        event="encryption_key_rotated",
        details={"rows": rotated, "column": "users.mfa_secret_encrypted"},
    )
    session.commit()
    return rotated
