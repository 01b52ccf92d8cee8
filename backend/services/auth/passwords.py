"""Password policy: the common-password list, the breached-password range check, a change."""

from __future__ import annotations

import hashlib
import http.client
import logging
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from errors import AppError
from extensions import DbSession
from models import User
from services.auth.audit import record_own_event
from services.auth.sessions import end_all_sessions
from utils.common_passwords import is_common
from utils.security import hash_password, verify_password

logger = logging.getLogger(__name__)
MAX_RESPONSE_BYTES = 4 * 1024 * 1024  # a real answer is about 40 KB (padded)
USER_AGENT = "mt5-trading-server-password-check"


@dataclass(frozen=True)
class PasswordPolicy:
    """How passwords are hashed and which are refused, beyond the schema's 8 to 128 characters."""

    rounds: int  # bcrypt cost
    breach_check: PwnedPasswords | None = None  # None: PWNED_PASSWORDS_CHECK is off


@dataclass(frozen=True)
class PwnedPasswords:
    """Have I Been Pwned's "range" API (k-anonymity), asked with a short timeout.

    Only the first 5 hex characters of the password's SHA-1 leave the server; the service
    answers every suffix it knows under that prefix (padded with fake zero-count rows,
    `Add-Padding`) and the match is made here. The check fails open: when the service cannot be
    asked, the password is accepted and one warning is logged, naming neither it nor its hash.
    """

    url: str  # ends with "/": the prefix is appended
    timeout_s: float

    def breach_count(self, password: str) -> int | None:
        """How often the password appears in known breaches (0: never); None: not checked."""
        # SHA-1 is the service's protocol, not a password hash of ours.
        digest = hashlib.sha1(password.encode("utf-8"), usedforsecurity=False).hexdigest().upper()
        prefix, suffix = digest[:5], digest[5:]
        request = urllib.request.Request(  # noqa: S310 (the URL scheme is checked in config.py)
            self.url + prefix, headers={"Add-Padding": "true", "User-Agent": USER_AGENT}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:  # noqa: S310
                body = response.read(MAX_RESPONSE_BYTES).decode("ascii", "replace")
        except (OSError, ValueError, http.client.HTTPException) as exc:
            _unavailable(exc)
            return None
        return _count_of(suffix, body)


def _count_of(suffix: str, body: str) -> int:
    for line in body.splitlines():
        found, _, count = line.strip().partition(":")
        if found.upper() == suffix:
            try:
                return max(0, int(count))  # padding rows say 0
            except ValueError:
                return 0
    return 0


def _unavailable(exc: BaseException) -> None:
    reason: Any = getattr(exc, "reason", None) or getattr(exc, "code", None) or ""
    logger.warning(
        "breached-password check unavailable (%s%s); the password was accepted without it",
        type(exc).__name__,
        f": {str(reason)[:100]}" if reason else "",
    )


def refuse_weak_password(password: str, *, breach_check: PwnedPasswords | None) -> None:
    """The local common-password list, then (when configured) Have I Been Pwned's range API."""
    if is_common(password):
        raise AppError(
            "This password is too common; choose another.",
            code="password_too_common",
            status_code=422,
            details={"json": {"password": ["This password is too common."]}},
        )
    if breach_check is not None and (breach_check.breach_count(password) or 0) > 0:
        raise AppError(
            "This password has appeared in a data breach; choose another.",
            code="password_breached",
            status_code=422,
            details={"json": {"password": ["This password is in a known data breach."]}},
        )


def change_password(
    *,
    session: DbSession,
    user: User,
    current_password: str,
    new_password: str,
    password_policy: PasswordPolicy,
    ip: str | None,
) -> None:
    """Needs the current password; every token issued before now stops working."""
    if not verify_password(current_password, user.password_hash):
        record_own_event(session, user, "password_change_failed", ip=ip)
        session.commit()
        raise AppError(
            "The current password is wrong.", code="invalid_credentials", status_code=422
        )
    refuse_weak_password(new_password, breach_check=password_policy.breach_check)
    user.password_hash = hash_password(new_password, password_policy.rounds)
    end_all_sessions(user)
    record_own_event(session, user, "password_changed", ip=ip)
    session.commit()
