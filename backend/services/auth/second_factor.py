"""The second factor: TOTP codes (RFC 6238, pyotp) and one-time recovery codes, and their check."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass
from datetime import UTC, datetime

import pyotp
from sqlalchemy import delete, func, or_, select, update

from errors import AppError
from extensions import DbSession
from models import MfaRecoveryCode, User
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


def now() -> datetime:
    """The MFA clock: TOTP steps, recovery-code use, enrolment time (tests hold it still)."""
    return datetime.now(UTC)


def secret_aad(user_id: int) -> str:
    """Associated data: the sealed secret (AES-256-GCM) only opens in this user's row."""
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


# --- TOTP codes ----------------------------------------------------------------------------------


def matching_step(secret: str, otp: str, at: datetime) -> int | None:
    """The time step (of ``at`` and one either side, for clock drift) whose code is ``otp``."""
    totp = pyotp.TOTP(secret)
    current = totp.timecode(at)
    for step in range(current - VALID_WINDOW, current + VALID_WINDOW + 1):
        if hmac.compare_digest(totp.generate_otp(step), otp):
            return step
    return None


def accept_totp(
    *, session: DbSession, user: User, otp: str, box: SecretBox, at: datetime | None = None
) -> bool:
    """Check a TOTP code and claim its step; a replayed (or older) step is refused.

    The last accepted step is stored and a code must be of a later one, claimed with one
    conditional UPDATE so two concurrent logins cannot both use it.
    """
    if not otp.isdigit() or user.mfa_secret_encrypted is None:
        return False
    step = matching_step(_secret(user, box), otp, at or now())
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


# --- recovery codes: 120 random bits each, stored only as HMAC-SHA256 under API_KEY_PEPPER -------


def normalise_recovery_code(code: str) -> str:
    return "".join(code.split()).replace("-", "").upper()


def recovery_code_hash(code: str, pepper: str) -> str:
    message = b"mfa-recovery:" + normalise_recovery_code(code).encode("utf-8")
    return hmac.new(pepper.encode("utf-8"), message, hashlib.sha256).hexdigest()


def new_recovery_code() -> str:
    """120 random bits as 24 base32 characters in groups of four: ``abcd-efgh-...``."""
    raw = base64.b32encode(os.urandom(15)).decode("ascii").lower()
    return "-".join(raw[i : i + 4] for i in range(0, len(raw), 4))


def delete_recovery_codes(session: DbSession, user: User) -> None:
    session.execute(delete(MfaRecoveryCode).where(MfaRecoveryCode.user_id == user.id))


def replace_recovery_codes(*, session: DbSession, user: User, pepper: str) -> list[str]:
    """A new set of recovery codes (returned, to show once); every earlier one stops working."""
    delete_recovery_codes(session, user)
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
        .values(used_at=now())
        .execution_options(synchronize_session=False)
    )
    return spent.rowcount == 1  # type: ignore[attr-defined]


def recovery_codes_left(*, session: DbSession, user: User) -> int:
    unused = select(func.count()).where(
        MfaRecoveryCode.user_id == user.id, MfaRecoveryCode.used_at.is_(None)
    )
    return int(session.scalar(unused) or 0)
