"""TOTP second factor (RFC 6238, pyotp): enrolment, codes, recovery codes, key rotation.

The secret is sealed with the SecretBox (AES-256-GCM, associated data = the user row) and is
shown once, at setup. A code is accepted for the current 30-second step and one step either
side (clock drift), never twice: the last accepted step is stored and a code must be of a
later step, claimed with one conditional UPDATE so two concurrent logins cannot both use it.
Recovery codes are 120-bit random strings, stored only as HMAC-SHA256 under API_KEY_PEPPER,
each usable once. Lockout for wrong codes is auth_service's (it owns the failure counter).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass
from datetime import UTC, datetime

import pyotp
from sqlalchemy import delete, func, or_, select, update

from errors import AppError, Conflict
from extensions import DbSession
from models import MfaRecoveryCode, User
from services.audit_service import record_event
from utils.security import DecryptionFailed, SecretBox

RECOVERY_CODES = 10
VALID_WINDOW = 1  # steps either side of now
INVALID_OTP = "The authentication code is wrong, expired or already used."


@dataclass(frozen=True)
class SecondFactor:
    """What a login or an MFA change brings besides the password, and how to check it."""

    otp: str | None
    recovery_code: str | None
    box: SecretBox
    pepper: str

    @property
    def given(self) -> bool:
        return self.otp is not None or self.recovery_code is not None


def _now() -> datetime:
    return datetime.now(UTC)


def secret_aad(user_id: int) -> str:
    """Associated data: the sealed secret only opens in this user's row."""
    return f"users:{user_id}:mfa_secret"


def _secret(user: User, box: SecretBox) -> str:
    assert user.mfa_secret_encrypted is not None
    try:
        return box.decrypt(user.mfa_secret_encrypted, secret_aad(user.id))
    except DecryptionFailed as exc:
        raise AppError(
            "Two-factor authentication is unavailable; the server cannot read its secrets.",
            code="mfa_unavailable",
            status_code=500,
        ) from exc


def invalid_code() -> AppError:
    """A wrong code where the caller is already logged in (422; at login it is a 401)."""
    return AppError(INVALID_OTP, code="invalid_otp", status_code=422)


# --- enrolment -----------------------------------------------------------------------------------


def begin_setup(
    *, session: DbSession, user: User, box: SecretBox, issuer: str, ip: str | None
) -> tuple[str, str]:
    """A new pending secret (replacing any earlier pending one): (secret, otpauth:// URI)."""
    if user.mfa_enabled:
        raise Conflict(
            "Two-factor authentication is already on; disable it first.",
            code="mfa_already_enabled",
        )
    secret = pyotp.random_base32()  # 32 base32 characters: 160 bits, RFC 4226's recommendation
    user.mfa_secret_encrypted = box.encrypt(secret, secret_aad(user.id))
    user.mfa_last_step = None
    record_event(
        session=session, event="mfa_setup_started", actor_id=user.id, subject_user_id=user.id, ip=ip
    )
    session.commit()
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name=issuer)
    return secret, uri


def confirm_setup(
    *, session: DbSession, user: User, otp: str, box: SecretBox, pepper: str, ip: str | None
) -> list[str]:
    """Turn MFA on with a code from the new secret; returns the recovery codes (shown once).

    A wrong code is audited and committed before the error; on success the caller commits
    (auth_service.enable_mfa, which also ends the user's other sessions in that transaction).
    """
    if user.mfa_enabled:
        raise Conflict("Two-factor authentication is already on.", code="mfa_already_enabled")
    if user.mfa_secret_encrypted is None:
        raise Conflict(
            "No two-factor setup is pending; start with POST /api/me/mfa/setup.",
            code="mfa_not_pending",
        )
    if not accept_totp(session=session, user=user, otp=otp, box=box):
        record_event(
            session=session,
            event="mfa_confirm_failed",
            actor_id=user.id,
            subject_user_id=user.id,
            ip=ip,
        )
        session.commit()
        raise invalid_code()
    user.mfa_enabled_at = _now()
    codes = replace_recovery_codes(session=session, user=user, pepper=pepper)
    record_event(
        session=session, event="mfa_enabled", actor_id=user.id, subject_user_id=user.id, ip=ip
    )
    return codes


def turn_off(*, session: DbSession, user: User) -> None:
    """Forget the secret, the last step and every recovery code (the caller commits)."""
    user.mfa_secret_encrypted = None
    user.mfa_enabled_at = None
    user.mfa_last_step = None
    _delete_recovery_codes(session, user)


# --- codes ---------------------------------------------------------------------------------------


def matching_step(secret: str, otp: str, now: datetime) -> int | None:
    """The time step (of now and one either side) whose code is ``otp``, or None."""
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    for step in range(current - VALID_WINDOW, current + VALID_WINDOW + 1):
        if hmac.compare_digest(totp.generate_otp(step), otp):
            return step
    return None


def accept_totp(
    *, session: DbSession, user: User, otp: str, box: SecretBox, now: datetime | None = None
) -> bool:
    """Check a TOTP code and claim its step; a replayed (or older) step is refused."""
    if not otp.isdigit() or user.mfa_secret_encrypted is None:
        return False
    step = matching_step(_secret(user, box), otp, now or _now())
    if step is None:
        return False
    claimed = session.execute(
        update(User)
        .where(
            User.id == user.id,
            or_(User.mfa_last_step.is_(None), User.mfa_last_step < step),
        )
        .values(mfa_last_step=step)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return False
    user.mfa_last_step = step
    return True


def normalise_recovery_code(code: str) -> str:
    return "".join(code.split()).replace("-", "").upper()


def recovery_code_hash(code: str, pepper: str) -> str:
    message = b"mfa-recovery:" + normalise_recovery_code(code).encode("utf-8")
    return hmac.new(pepper.encode("utf-8"), message, hashlib.sha256).hexdigest()


def new_recovery_code() -> str:
    """120 random bits as 24 base32 characters in groups of four: ``abcd-efgh-...``."""
    raw = base64.b32encode(os.urandom(15)).decode("ascii").lower()
    return "-".join(raw[i : i + 4] for i in range(0, len(raw), 4))


def _delete_recovery_codes(session: DbSession, user: User) -> None:
    session.execute(delete(MfaRecoveryCode).where(MfaRecoveryCode.user_id == user.id))


def replace_recovery_codes(*, session: DbSession, user: User, pepper: str) -> list[str]:
    """A new set of recovery codes (returned, to show once); every earlier one stops working."""
    _delete_recovery_codes(session, user)
    codes = [new_recovery_code() for _ in range(RECOVERY_CODES)]
    session.add_all(
        MfaRecoveryCode(user_id=user.id, code_hash=recovery_code_hash(code, pepper))
        for code in codes
    )
    return codes


def use_recovery_code(*, session: DbSession, user: User, code: str, pepper: str) -> bool:
    """Spend one unused recovery code of this user (atomically); False when it is not one."""
    if not normalise_recovery_code(code):
        return False
    spent = session.execute(
        update(MfaRecoveryCode)
        .where(
            MfaRecoveryCode.user_id == user.id,
            MfaRecoveryCode.code_hash == recovery_code_hash(code, pepper),
            MfaRecoveryCode.used_at.is_(None),
        )
        .values(used_at=_now())
        .execution_options(synchronize_session=False)
    )
    return spent.rowcount == 1  # type: ignore[attr-defined]


def recovery_codes_left(*, session: DbSession, user: User) -> int:
    unused = select(func.count()).where(
        MfaRecoveryCode.user_id == user.id, MfaRecoveryCode.used_at.is_(None)
    )
    return int(session.scalar(unused) or 0)


def accept_second_factor(*, session: DbSession, user: User, factor: SecondFactor) -> str | None:
    """The method accepted ("otp" or "recovery_code", now spent), or None when it is wrong."""
    if factor.otp is not None:
        accepted = accept_totp(session=session, user=user, otp=factor.otp, box=factor.box)
        return "otp" if accepted else None
    if factor.recovery_code is not None and use_recovery_code(
        session=session, user=user, code=factor.recovery_code, pepper=factor.pepper
    ):
        return "recovery_code"
    return None


# --- key rotation --------------------------------------------------------------------------------


def rotate_encryption(*, session: DbSession, box: SecretBox) -> int:
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
